//! The standalone `nomad-sim` binary, as the README runs it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn standalone_binary_serves_the_api() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nomad-sim"))
        .args(["--listen", "127.0.0.1:0", "--time-scale", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start nomad-sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let url = line
        .trim()
        .strip_prefix("nomad-sim listening on ")
        .expect("listening line")
        .to_owned();
    let api = common::Api::new(url);
    let leader = api.get("/v1/status/leader").await;
    child.kill().expect("kill");
    child.wait().expect("reap");
    assert_eq!(
        (leader.status, leader.body.as_str()),
        (200, "\"127.0.0.1:4647\"")
    );
}
