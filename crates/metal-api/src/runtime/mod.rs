//! The machinery that runs beside the requests, owned by the shared state: batching workers
//! that serve concurrent allocations in one transaction ([`batch`], [`ipbatch`],
//! [`netbatch`]), the wake-ups of waiting streams ([`wait`]) and the background jobs the server
//! runs on a timer ([`jobs`]).
//!
//! [`crate::state`] depends on this module and not on the app layer. The network batcher and
//! the jobs serve their work with app flows (`app::network`'s allocation, `app::allocate::free`).

pub mod batch;
pub mod ipbatch;
pub mod jobs;
pub mod netbatch;
pub mod wait;
