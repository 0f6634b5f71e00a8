//! The `drover` command line as a person uses it: help, version, the commands this version
//! cannot run yet, configuration validation, and the demo of the README.

mod common;

use std::process::{Command, Output};

fn drover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env_remove("NOMAD_ADDR")
        .env_remove("DROVER_CONFIG")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run drover")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_and_help() {
    let v = drover(&["--version"]);
    assert!(v.status.success());
    assert_eq!(
        stdout(&v).trim(),
        format!("drover {}", env!("CARGO_PKG_VERSION"))
    );
    let help = stdout(&drover(&["--help"]));
    for command in ["run", "sync", "diff", "validate", "status", "demo"] {
        assert!(
            help.contains(&format!("  {command} ")),
            "--help lists {command}:\n{help}"
        );
    }
}

#[test]
fn a_configuration_that_does_not_load_is_exit_code_2() {
    for command in [&["run"][..], &["sync", "--once"], &["diff"]] {
        let mut args = command.to_vec();
        args.extend(["--config", "/nonexistent/drover.toml"]);
        let o = drover(&args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "drover {command:?}: {}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains("/nonexistent/drover.toml"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn validate_accepts_the_example_and_rejects_a_bad_file() {
    let ok = drover(&["validate", "--config", "jobs-example/drover.toml"]);
    assert!(ok.status.success(), "{}", stderr(&ok));

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("drover.toml");
    std::fs::write(
        &bad,
        "[nomad]\naddress = \"http://127.0.0.1:4646\"\ntoken = \"s3cr3t-value\"\n",
    )
    .expect("write");
    let o = drover(&["validate", "--config", bad.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("drover.toml:3"),
        "the error names file and line: {err}"
    );
    assert!(
        !err.contains("s3cr3t-value"),
        "an inline secret is never echoed: {err}"
    );
}

/// The README's first command: the demo starts, syncs every example job into the built-in
/// simulator, answers `/status`, and stops cleanly on SIGTERM.
#[test]
fn demo_syncs_the_example_jobs_and_serves_status() {
    let port = common::local::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("NOMAD_ADDR")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("demo starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut synced = Vec::new();
    while std::time::Instant::now() < deadline && synced.len() < 7 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let Some(doc) = common::local::get_json(&format!("http://127.0.0.1:{port}/status")) else {
            continue;
        };
        synced = doc["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["jobs"].as_array().cloned().unwrap_or_default())
            .filter(|j| j["state"] == "synced")
            .map(|j| {
                format!(
                    "{}/{}",
                    j["namespace"].as_str().unwrap_or(""),
                    j["id"].as_str().unwrap_or("")
                )
            })
            .collect();
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("demo exits");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    synced.sort();
    assert_eq!(
        synced,
        [
            "prod/api",
            "prod/cleanup",
            "prod/migrate",
            "prod/web",
            "staging/api",
            "staging/migrate",
            "staging/web"
        ],
        "{out}"
    );
    assert!(
        out.contains(&format!("http://127.0.0.1:{port}/status")),
        "the demo says where to look: {out}"
    );
    assert_eq!(status.code(), Some(0), "a clean stop");
}
