//! One test per cap on what drover reads from outside, each checking the documented default,
//! that the key changes it, and the error an input over it gets: job file size
//! (`max_file_size`), files per source (`max_files`), webhook body (`max_webhook_body`), Nomad
//! response body (`max_response_bytes`), concurrent webhook deliveries
//! (`max_concurrent_requests`) and the blocking-query wait (`blocking_wait`).

mod common;
mod git;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use drover::config::{Config, Env};
use drover::nomad::{Client, Error, Query};
use drover::render::{self, Settings, Variables};
use drover::source::{FileError, Mirror, SourceError};
use drover::validate::WorkTree;
use git::repo::Repo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const JOBS: &str = "paths = [\"jobs/*.nomad.hcl\"]\n";

/// `text` and, last, a source (a config needs one) that the tests do not look at.
fn parse(text: &str) -> Result<Config, String> {
    let env = Env::default().with("NOMAD_ADDR", "http://127.0.0.1:4646");
    let text = format!("{text}\n[[source]]\nname = \"last\"\nurl = \"/srv/last\"\n");
    Config::parse(&text, Path::new("/etc/drover/drover.toml"), &env).map_err(|e| e.to_string())
}

#[test]
fn job_file_size() {
    let source = "[[source]]\nname = \"s\"\nurl = \"/srv/jobs\"\nbranch = \"main\"\n";
    let config = parse(source).expect("defaults");
    assert_eq!(config.sources[0].limits.max_file_size, 1024 * 1024);

    let repo = Repo::new();
    repo.write("jobs/small.nomad.hcl", "job \"small\" {}\n")
        .write(
            "jobs/big.nomad.hcl",
            &format!("job \"big\" {{\n#{}\n}}\n", "x".repeat(200)),
        );
    repo.commit("two jobs");
    let state = tempfile::tempdir().expect("tempdir");
    let source = git::source(&repo.file_url(), &format!("{JOBS}max_file_size = 100\n"));
    assert_eq!(source.limits.max_file_size, 100);
    let mirror = Mirror::open(&source, state.path()).expect("open");
    let fetched = mirror.fetch(&AtomicBool::new(false)).expect("fetch");
    let snapshot = mirror.snapshot(fetched.commit).expect("snapshot");
    assert_eq!(snapshot.files.len(), 1, "only the small file is a job");
    assert!(
        matches!(&snapshot.refused[..], [FileError::TooLarge { path, limit: 100, .. }] if path == "jobs/big.nomad.hcl"),
        "{:?}",
        snapshot.refused
    );

    // A work tree (`drover validate`) applies the same cap, and rendering names it.
    let tree = WorkTree::new(repo.path(), 100);
    let err = render::prepare(
        &tree,
        "jobs/big.nomad.hcl",
        &Settings::default(),
        &Variables::default(),
    )
    .expect_err("too large");
    assert!(
        err[0].to_string().contains("over the limit of 100 bytes"),
        "{}",
        err[0]
    );
    let zero = parse("[[source]]\nname = \"s\"\nurl = \"/srv/jobs\"\nmax_file_size = 0\n")
        .expect_err("zero");
    assert!(zero.contains("max_file_size"), "{zero}");
}

#[test]
fn files_per_source() {
    let config = parse("[[source]]\nname = \"s\"\nurl = \"/srv/jobs\"\n").expect("defaults");
    assert_eq!(config.sources[0].limits.max_files, 10_000);

    let repo = Repo::new();
    for i in 0..4 {
        repo.write(
            &format!("jobs/j{i}.nomad.hcl"),
            &format!("job \"j{i}\" {{}}\n"),
        );
    }
    repo.commit("four jobs");
    let state = tempfile::tempdir().expect("tempdir");
    let source = git::source(&repo.file_url(), &format!("{JOBS}max_files = 3\n"));
    let mirror = Mirror::open(&source, state.path()).expect("open");
    let fetched = mirror.fetch(&AtomicBool::new(false)).expect("fetch");
    let err = mirror.snapshot(fetched.commit).expect_err("too many");
    assert!(
        matches!(
            err,
            SourceError::TooManyFiles {
                matched: 4,
                limit: 3
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("more than max_files = 3"), "{err}");
}

/// Sends `head` and `body` on a raw connection and returns the status code of the answer.
async fn raw_request(url: &str, head: &str, body: &[u8]) -> (u16, Duration) {
    let addr = url.trim_start_matches("http://");
    let started = Instant::now();
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    conn.write_all(head.as_bytes()).await.expect("head");
    // The server may answer and close before the body is sent: that is the point.
    let _ = conn.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, started.elapsed())
}

#[tokio::test]
async fn webhook_body() {
    let defaults = parse("").expect("defaults");
    assert_eq!(defaults.server.max_webhook_body, 1024 * 1024);

    let server = common::serve::start("max_webhook_body = 2048").await;
    // Declares 1 GiB: refused from the header alone, nothing of it is read.
    let head = "POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1073741824\r\n\r\n";
    let (status, took) = raw_request(&server.url, head, b"{\"ref\":").await;
    assert_eq!(status, 413);
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Declares nothing (chunked) and sends more than the limit: refused once it passes it.
    let head = "POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    let chunk = format!("1000\r\n{}\r\n0\r\n\r\n", "x".repeat(0x1000));
    let (status, _) = raw_request(&server.url, head, chunk.as_bytes()).await;
    assert_eq!(status, 413);
    let (status, text) = server.post("/webhook", &[], &vec![b' '; 4096]).await;
    assert_eq!(status, 413);
    assert!(text.contains("max_webhook_body (2048 bytes)"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn concurrent_webhook_requests() {
    let defaults = parse("").expect("defaults");
    assert_eq!(defaults.server.max_concurrent_requests, 16);
    let zero = parse("[server]\nmax_concurrent_requests = 0\n").expect_err("zero");
    assert!(zero.contains("max_concurrent_requests"), "{zero}");

    let server = common::serve::start("max_concurrent_requests = 1").await;
    // The first delivery holds the only slot while its body trickles in.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    let head = "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
    slow.write_all(head.as_bytes()).await.expect("head");
    let mut refused = 0;
    for _ in 0..50 {
        let (status, text) = server.post("/webhook", &[], b"{}").await;
        if status == 503 {
            assert!(text.contains("max_concurrent_requests"), "{text}");
            refused += 1;
            break;
        }
        // The slow delivery may not have reached the handler yet.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        refused, 1,
        "a second delivery is refused while the first holds the slot"
    );
    let (status, _) = server.get("/healthz").await;
    assert_ne!(status, 503, "health stays outside the cap");
    drop(slow);
    // Once the slot is free again, deliveries are read (and here refused for their signature).
    let mut status = 0;
    for _ in 0..50 {
        status = server.post("/webhook", &[], b"{}").await.0;
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 401);
    server.stop().await;
}

/// A server that answers every request with 200 and a JSON string of `size` bytes.
async fn big_answers(size: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request).await;
            let body = format!("\"{}\"", "x".repeat(size - 2));
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n");
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn nomad_response_body() {
    let defaults = parse("").expect("defaults");
    let cluster = defaults.cluster("default").expect("default cluster");
    assert_eq!(cluster.max_response_bytes, 16 * 1024 * 1024);
    let config = parse("[nomad]\nmax_response_bytes = 65536\n").expect("set");
    assert_eq!(
        config
            .cluster("default")
            .expect("cluster")
            .max_response_bytes,
        65536
    );
    let small = parse("[nomad]\nmax_response_bytes = 10\n").expect_err("too small");
    assert!(small.contains("max_response_bytes"), "{small}");

    let url = big_answers(100 * 1024).await;
    let mut cluster = common::sim::cluster(&url);
    cluster.max_response_bytes = 64 * 1024;
    let client = Client::new(&cluster).expect("client");
    let err = client.agent_self().await.expect_err("too large");
    assert!(
        matches!(&err, Error::Decode { detail, .. } if detail.contains("max_response_bytes (65536 bytes)")),
        "{err}"
    );
    cluster.max_response_bytes = 200 * 1024;
    let err = Client::new(&cluster)
        .expect("client")
        .agent_self()
        .await
        .expect_err("not an agent");
    assert!(!err.to_string().contains("max_response_bytes"), "{err}");
}

#[test]
fn blocking_query_wait() {
    let defaults = parse("").expect("defaults");
    let cluster = defaults.cluster("default").expect("default cluster");
    assert_eq!(cluster.blocking_wait, Duration::from_secs(30));
    let config = parse("[nomad]\nblocking_wait = \"2m\"\n").expect("set");
    let cluster = config.cluster("default").expect("cluster");
    assert_eq!(cluster.blocking_wait, Duration::from_secs(120));
    assert_eq!(
        Client::new(cluster).expect("client").blocking_wait(),
        Duration::from_secs(120)
    );
    for wrong in ["0s", "6m"] {
        let err = parse(&format!("[nomad]\nblocking_wait = \"{wrong}\"\n")).expect_err(wrong);
        assert!(err.contains("blocking_wait"), "{err}");
    }
    // Nomad's own cap holds for any wait a caller asks for.
    assert_eq!(
        Query::blocking(1, Duration::from_secs(3600)).wait(),
        drover::nomad::MAX_WAIT
    );
}
