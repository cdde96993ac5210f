//! metal-core, the agent on every leaf switch. Built so far: switch registration
//! ([`register`]) and the phone-home listener ([`phonehome`]); rendering and applying the switch
//! configuration (interfaces, FRR) is not built yet.

pub mod phonehome;
pub mod register;
