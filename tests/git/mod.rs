//! Real Git for the source tests: repositories made with the `git` CLI, and the three ways
//! the tests serve them (`file://`, `git daemon`, smart HTTPS through `git http-backend`), plus
//! a real `sshd` where one is installed. Each server listens on a loopback port it picks and
//! stops when dropped.
#![allow(dead_code)]

pub mod daemon;
pub mod https;
pub mod repo;
pub mod sshd;
pub mod world;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use drover::config::{Config, Env, Source};

/// A `[[source]]` named `t` with `url` and extra TOML lines, resolved as drover would.
pub fn source(url: &str, extra: &str) -> Source {
    let text = format!("[[source]]\nname = \"t\"\nurl = \"{url}\"\n{extra}");
    let config = Config::parse(
        &text,
        Path::new("/nonexistent/drover.toml"),
        &Env::default(),
    )
    .unwrap_or_else(|e| panic!("test config: {e}"));
    config.sources.into_iter().next().expect("one source")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(
            Instant::now() < deadline,
            "server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
