//! The `drover` command line as a person uses it: help, version, the commands this version
//! cannot run yet, configuration validation, and the demo of the README.

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
        assert_eq!(o.status.code(), Some(2), "drover {command:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("/nonexistent/drover.toml"), "{}", stderr(&o));
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

#[test]
fn demo_syncs_the_example_jobs_into_the_simulator() {
    let o = drover(&["demo"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for job in [
        "staging/web",
        "prod/web",
        "prod/api",
        "prod/migrate",
        "prod/cleanup",
    ] {
        assert!(out.contains(job), "demo reports {job}:\n{out}");
    }
    assert!(
        out.contains("successful"),
        "deployments are followed to the end:\n{out}"
    );
    assert!(
        out.contains("second pass: 7 unchanged"),
        "a second pass submits nothing:\n{out}"
    );
}
