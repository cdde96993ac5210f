//! metal-lab: a virtual data centre on one Linux host (`up`, `status`, `env`, `down`), and the
//! machine simulator (`sim`). See the README's "metal-lab" section and [`plan`] for the layout.

pub mod artifacts;
pub mod cycle;
pub mod down;
pub mod exec;
pub mod fabric;
pub mod forward;
pub mod images;
pub mod lab;
pub mod machine;
pub mod net;
pub mod plan;
pub mod procs;
pub mod routed;
pub mod seed;
pub mod sim;
pub mod ssh;
pub mod status;
