//! metal-core, the agent on every leaf switch. Built so far: the phone-home listener
//! ([`phonehome`]). Switch registration and configuration rendering are not built yet.

pub mod phonehome;
