//! Helpers shared by drover's integration tests. Each test binary uses some of them.
#![allow(dead_code)]

pub mod browser;
pub mod daemon;
pub mod local;
pub mod pki;
pub mod serve;
pub mod sim;
pub mod sops;
