//! The `drover` command line as a person uses it: help, version, completions, man pages,
//! configuration validation, and the demo of the README.

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
    for flag in ["--version", "-V"] {
        let v = drover(&[flag]);
        assert!(v.status.success());
        let line = stdout(&v);
        let commit = line
            .trim()
            .strip_prefix(&format!("drover {} (commit ", env!("CARGO_PKG_VERSION")))
            .and_then(|rest| rest.strip_suffix(')'))
            .map(|rest| rest.split(", ").next().unwrap_or(rest))
            .unwrap_or_else(|| panic!("drover VERSION (commit ...): {line:?}"));
        assert!(commit == "unknown" || is_commit(commit), "{line:?}");
        if let (None, Some(head)) = (option_env!("DROVER_BUILD_COMMIT"), git_head()) {
            assert!(commit.starts_with(&head), "{line:?} names HEAD {head}");
        }
    }
    let help = stdout(&drover(&["--help"]));
    for command in subcommands() {
        assert!(
            help.contains(&format!("  {command} ")),
            "--help lists {command}:\n{help}"
        );
    }
}

/// A short commit as `build.rs` records it: 12 hex digits, `-dirty` when the tree had changes.
fn is_commit(commit: &str) -> bool {
    let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
    hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit())
}

/// HEAD of the checkout the tests run in, when they run in one.
fn git_head() -> Option<String> {
    let o = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    o.status.success().then(|| stdout(&o).trim().to_owned())
}

/// Every subcommand, from the command-line definitions themselves.
fn subcommands() -> Vec<String> {
    use clap::CommandFactory;
    drover::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect()
}

#[test]
fn completions_for_each_shell_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let o = drover(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for command in subcommands() {
            assert!(script.contains(&command), "{shell} completes {command}");
        }
        assert!(
            script.contains("allow-mass-prune"),
            "{shell} completes flags"
        );
    }
    let unknown = drover(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
}

#[test]
fn man_pages_for_drover_and_every_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("man1");
    let o = drover(&["man", "--dir", out.to_str().expect("utf-8 path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut pages: Vec<String> = std::fs::read_dir(&out)
        .expect("the directory was created")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = subcommands()
        .iter()
        .map(|c| format!("drover-{c}.1"))
        .chain(["drover.1".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    let sync = std::fs::read_to_string(out.join("drover-sync.1")).expect("sync's page");
    assert!(sync.contains(".TH drover-sync 1"), "roff: {sync}");
    assert!(sync.contains("\\-\\-once"), "{sync}");
    let main = std::fs::read_to_string(out.join("drover.1")).expect("drover's page");
    assert!(
        main.contains("drover\\-sync(1)"),
        "drover(1) points at the others: {main}"
    );
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
