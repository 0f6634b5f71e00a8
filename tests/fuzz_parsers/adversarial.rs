//! Inputs built to hurt, as regular tests: nesting 10,000 deep, a 10 MiB attribute, invalid
//! UTF-8, and bodies far beyond any limit.

use std::time::{Duration, Instant};

use drover::config::{Config, Env};
use drover::render::{self, Settings, Variables};
use drover::source::{FileError, RepoFiles};

struct One(Vec<u8>);

impl RepoFiles for One {
    fn read(&self, path: &str) -> Result<Vec<u8>, FileError> {
        match path {
            "job.nomad.hcl" => Ok(self.0.clone()),
            _ => Err(FileError::Missing { path: path.into() }),
        }
    }
}

/// Prepares `job` on a thread with the 2 MiB stack of a tokio worker (where the daemon renders),
/// within `limit`; returns the error texts.
fn prepare(job: Vec<u8>, limit: Duration) -> Result<(), Vec<String>> {
    let started = Instant::now();
    let result = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let files = One(job);
            render::prepare(
                &files,
                "job.nomad.hcl",
                &Settings::default(),
                &Variables::default(),
            )
            .map(|_| ())
            .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>())
        })
        .expect("thread")
        .join()
        .expect("no panic");
    let took = started.elapsed();
    assert!(took < limit, "took {took:?}");
    result
}

const DEPTH: usize = 10_000;

#[test]
fn deeply_nested_blocks_are_refused() {
    let job = format!(
        "job \"a\" {{\n{}{}}}\n",
        "g {\n".repeat(DEPTH),
        "}\n".repeat(DEPTH)
    );
    let err = prepare(job.into_bytes(), Duration::from_secs(5)).expect_err("too deep");
    assert!(err[0].contains("nest"), "{err:?}");
}

#[test]
fn deeply_nested_expressions_are_refused() {
    let shapes = [("[", "]"), ("(", ")"), ("{a = ", "}"), ("\"${", "}\"")];
    for (open, close) in shapes {
        let job = format!(
            "job \"a\" {{\n  x = {}1{}\n}}\n",
            open.repeat(DEPTH),
            close.repeat(DEPTH)
        );
        let err = prepare(job.into_bytes(), Duration::from_secs(5)).expect_err(open);
        assert!(err[0].contains("nest"), "{open}: {err:?}");
    }
}

#[test]
fn a_ten_mib_attribute_is_read_in_bounded_time() {
    let job = format!("job \"a\" {{\n  x = \"{}\"\n}}\n", "a".repeat(10 << 20));
    prepare(job.into_bytes(), Duration::from_secs(30)).expect("a long string is valid");
}

#[test]
fn invalid_utf8_anywhere_is_an_error_with_a_position() {
    for at in [0, 5, 11] {
        let mut job = b"job \"a\" {\n  x = 1\n}\n".to_vec();
        job.insert(at, 0xff);
        let err = prepare(job, Duration::from_secs(1)).expect_err("not UTF-8");
        assert!(err[0].contains("UTF-8"), "{err:?}");
    }
}

#[test]
fn deeply_nested_toml_is_an_error() {
    let text = format!(
        "[nomad]\naddress = {}1{}\n",
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    );
    let started = Instant::now();
    let result = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            Config::parse(
                &text,
                std::path::Path::new("/x/drover.toml"),
                &Env::default(),
            )
            .is_err()
        })
        .expect("thread")
        .join()
        .expect("no panic");
    assert!(result);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn deeply_nested_nomad_json_is_an_error() {
    let body = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    assert!(serde_json::from_str::<drover::nomad::JobVersions>(&body).is_err());
    let wrapped = format!(
        "{{\"Versions\":[{}{}]}}",
        "{\"a\":".repeat(DEPTH),
        "}".repeat(DEPTH)
    );
    assert!(serde_json::from_str::<drover::nomad::JobVersions>(&wrapped).is_err());
}
