//! Small pieces shared by several deployables that belong to none of them.
//!
//! Each had grown a copy per crate, and the copies had drifted apart:
//!
//! - [`duration`]: the one duration grammar of every command line (`90`, `250ms`, `30m`,
//!   `1h30m`, `2d`), used by metal-bmc, pixie and metalctl;
//! - [`hmac`]: the signature of metal-stack's HMAC authentication, computed by the clients and
//!   checked by metal-api with the same code;
//! - [`fs`]: writing a file only its owner may read (keys, passwords, configurations with
//!   credentials), atomically;
//! - [`tool`]: checking a rendered file with the tool that will read it (metal-core,
//!   os-installer).
//!
//! Why a crate of its own: the users are metal-api, metal-client, metalctl, pixie, metal-bmc,
//! metal-hammer and metal-lab, and no crate they all depend on may hold these. `metal-domain`
//! is pure (no I/O, so no file writing) and pixie does not depend on it; `metal-client` is not
//! a dependency of metal-api or pixie. This crate depends on nothing of the workspace and does
//! no I/O but in [`fs`] and [`tool`].

pub mod duration;
pub mod fs;
pub mod hmac;
pub mod multipart;
pub mod tool;
