//! nomad-sim: a simulator of Nomad's HTTP API.

pub mod canonical;
pub mod diff;
pub mod jobspec;
