//! The machinery that runs beside the requests, owned by the shared state: batching workers
//! that serve concurrent allocations in one transaction ([`batch`], [`ipbatch`],
//! [`netbatch`]), allocation candidates counted per rack and kept for a moment
//! ([`candidates`]), the wake-ups of waiting streams ([`wait`]) and the background jobs the server
//! runs on a timer ([`jobs`]), and the forwarding of the audit trail to Splunk
//! ([`auditforward`]).
//!
//! [`crate::state`] depends on this module and not on the app layer; the batchers know only
//! domain types and the serving function their caller gives (`app::netgroup` serves tenant
//! networks). The jobs are the one part that calls app flows (`app::allocate::free`): the
//! server starts them, the state does not hold them.

pub mod auditforward;
pub mod batch;
pub mod candidates;
pub mod ipbatch;
pub mod jobs;
pub mod netbatch;
pub mod wait;
