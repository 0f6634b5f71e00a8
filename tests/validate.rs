//! `drover validate` as a CI pipeline runs it: every error of every file in
//! `path:LINE:COL: error: message` form with the path as given, JSON on request, the exit code,
//! `file()` confined to the Git work tree holding each file, the config's policy, and `--nomad`.

use std::path::Path;
use std::process::{Command, Output};

use nomad_sim::Sim;

fn drover(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env_remove("NOMAD_ADDR")
        .env_remove("DROVER_CONFIG")
        .current_dir(dir)
        .output()
        .expect("run drover")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_error_of_every_fixture_is_reported() {
    let o = drover(
        manifest(),
        &[
            "validate",
            "tests/fixtures/render/bad",
            "tests/fixtures/render/jobs",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let expected = [
        "tests/fixtures/render/bad/dup-a.nomad.hcl: error: job \"twin\" in namespace \"default\" is also declared by tests/fixtures/render/bad/dup-b.nomad.hcl; both are blocked",
        "tests/fixtures/render/bad/escape.nomad.hcl:7:23: error: file(\"../../../../../../../../etc/passwd\"): ../../../../../../../../etc/passwd: leads outside the repository",
        "tests/fixtures/render/bad/hcl1.nomad:8:9: error: syntax error: ",
        "tests/fixtures/render/bad/no-job.nomad.hcl: error: no job block",
        "tests/fixtures/render/bad/two-jobs.nomad.hcl:9:1: error: 2 job blocks (lines 1, 9)",
        "tests/fixtures/render/jobs/batch/backup.nomad.hcl:2:1: error: Unset variable \"schedule\"",
    ];
    for line in expected {
        assert!(
            err.lines().any(|l| l.starts_with(line)),
            "missing {line:?} in:\n{err}"
        );
    }
    assert!(
        text(&o.stdout).contains("11 job file(s) checked: 7 error(s) in 7 file(s)"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn var_files_and_vars_set_variables_and_a_missing_one_is_named() {
    let ok = drover(
        manifest(),
        &[
            "validate",
            "--var-file",
            "tests/fixtures/render/vars/prod.hcl",
            "tests/fixtures/render/jobs",
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let ok = drover(
        manifest(),
        &[
            "validate",
            "--var",
            "schedule=@daily",
            "tests/fixtures/render/jobs",
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let o = drover(
        manifest(),
        &[
            "validate",
            "--var-file",
            "nope.hcl",
            "tests/fixtures/render/jobs",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("nope.hcl: error: var file: nope.hcl: no such file"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn json_output_goes_to_stdout() {
    let o = drover(
        manifest(),
        &[
            "validate",
            "--format",
            "json",
            "tests/fixtures/render/bad/two-jobs.nomad.hcl",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json on stdout");
    assert_eq!(doc["files"], 1);
    assert_eq!(doc["errors"], 1);
    let d = &doc["diagnostics"][0];
    assert_eq!(d["path"], "tests/fixtures/render/bad/two-jobs.nomad.hcl");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(9), Some(1))
    );
    assert_eq!(d["severity"], "error");
}

/// A jobs repository in a temporary Git work tree: `file()` reaches files of the repository
/// from a subdirectory, and nothing outside it.
#[test]
fn file_is_confined_to_the_work_tree_holding_the_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("jobs/web/files")).expect("mkdir");
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&repo)
        .status()
        .expect("git");
    assert!(git.success());
    std::fs::write(dir.path().join("secret.txt"), "outside").expect("write");
    std::fs::write(repo.join("jobs/web/files/app.conf"), "port = 80\n").expect("write");
    let job = |data: &str| {
        format!(
            "job \"web\" {{\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"exec\"\n      template {{\n        destination = \"local/x\"\n        data = {data}\n      }}\n    }}\n  }}\n}}\n"
        )
    };
    std::fs::write(
        repo.join("jobs/web/web.nomad.hcl"),
        job("file(\"files/app.conf\")"),
    )
    .expect("write");
    std::fs::write(
        repo.join("jobs/out.nomad.hcl"),
        job("file(\"../../secret.txt\")"),
    )
    .expect("write");
    let o = drover(&repo, &["validate", "jobs/web/web.nomad.hcl"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = drover(dir.path(), &["validate", "repo/jobs/out.nomad.hcl"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("repo/jobs/out.nomad.hcl:7:16: error: file(\"../../secret.txt\"): ../../secret.txt: leads outside the repository"),
        "{err}"
    );
}

#[test]
fn the_config_policy_is_checked_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("drover.toml");
    std::fs::write(
        &config,
        "[[source]]\nname = \"a\"\nurl = \".\"\n[policy]\nforbidden_drivers = [\"raw_exec\"]\nrequired_meta = [\"owner\"]\n",
    )
    .expect("write");
    let o = drover(
        manifest(),
        &[
            "validate",
            "--config",
            config.to_str().expect("utf-8"),
            "tests/fixtures/render/bad/raw-exec.nomad.hcl",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    for line in [
        "tests/fixtures/render/bad/raw-exec.nomad.hcl: error: policy forbidden_drivers: job \"raw\", group \"g\", task \"t\": driver \"raw_exec\" is forbidden",
        "tests/fixtures/render/bad/raw-exec.nomad.hcl: error: policy required_meta: job \"raw\": the job must set meta \"owner\"",
    ] {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
    // A config named explicitly must exist, even with paths.
    let o = drover(
        manifest(),
        &[
            "validate",
            "--config",
            "/nonexistent/drover.toml",
            "jobs-example",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn nomad_adds_the_server_side_parse() {
    let sim = Sim::builder().start().await.expect("sim");
    let url = sim.url();
    let run = move |args: Vec<&'static str>| {
        Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(args)
            .env("NOMAD_ADDR", &url)
            .env_remove("DROVER_CONFIG")
            .current_dir(manifest())
            .output()
            .expect("run drover")
    };
    let o = tokio::task::spawn_blocking({
        let run = run.clone();
        move || {
            run(vec![
                "validate",
                "--nomad",
                "tests/fixtures/render/bad/unknown-arg.nomad.hcl",
            ])
        }
    })
    .await
    .expect("join");
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("tests/fixtures/render/bad/unknown-arg.nomad.hcl:9:7: error: Unsupported block type; Blocks of type \"resorces\" are not expected here."),
        "{err}"
    );
    let o = tokio::task::spawn_blocking(move || {
        run(vec![
            "validate",
            "--nomad",
            "--var-file",
            "tests/fixtures/render/vars/prod.hcl",
            "tests/fixtures/render/jobs",
            "jobs-example/jobs/prod/api.nomad.hcl",
            "jobs-example/jobs/prod/cleanup.nomad.hcl",
        ])
    })
    .await
    .expect("join");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("5 job file(s) checked: 0 error(s)"),
        "{}",
        text(&o.stdout)
    );
}

/// `--config` without paths: each source's files at the current commit of its branch, with the
/// source's var files and policy; uncommitted edits are not what Nomad would get.
#[test]
fn config_mode_checks_each_source_at_its_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("jobs");
    std::fs::create_dir_all(repo.join("prod")).expect("mkdir");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&repo)
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    let fixtures = manifest().join("tests/fixtures/render");
    let copy = |from: &str, to: &str| {
        std::fs::copy(fixtures.join(from), repo.join(to)).expect("copy");
    };
    copy("jobs/batch/backup.nomad.hcl", "prod/backup.nomad.hcl");
    copy("bad/raw-exec.nomad.hcl", "prod/raw.nomad.hcl");
    copy("vars/prod.hcl", "prod.vars.hcl");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "jobs"]);
    std::fs::write(repo.join("prod/backup.nomad.hcl"), "not committed {").expect("write");
    let config = dir.path().join("drover.toml");
    std::fs::write(
        &config,
        "[[source]]\nname = \"prod\"\nurl = \"jobs\"\nvar_files = [\"prod.vars.hcl\"]\n[source.policy]\nforbidden_drivers = [\"raw_exec\"]\n",
    )
    .expect("write");
    let o = drover(dir.path(), &["validate", "--config", "drover.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert_eq!(
        err.trim(),
        "prod/raw.nomad.hcl: error: policy forbidden_drivers: job \"raw\", group \"g\", task \"t\": driver \"raw_exec\" is forbidden"
    );
    assert!(
        text(&o.stdout).contains("2 job file(s) checked: 1 error(s) in 1 file(s)"),
        "{}",
        text(&o.stdout)
    );
}

/// `--nomad` on a job that uses one of the fifty variables given and has one error: the error
/// is the file's first line and Nomad's 49 warnings one line (each with `--verbose`); in JSON
/// every warning has `"severity": "warning"` and only the error counts.
#[tokio::test(flavor = "multi_thread")]
async fn nomads_warnings_follow_the_error_folded_and_never_count() {
    let sim = Sim::builder().start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let vars: String = (1..=50).map(|i| format!("v{i:02} = \"{i}\"\n")).collect();
    std::fs::write(dir.path().join("all.hcl"), vars).expect("write");
    let job = "variable \"v07\" {}\n\njob \"web\" {\n  meta {\n    tier = var.v07\n  }\n  group \"app\" {\n    bogus = 1\n    task \"app\" {\n      driver = \"docker\"\n      config {\n        image = \"nginx:1\"\n      }\n    }\n  }\n}\n";
    std::fs::write(dir.path().join("web.nomad.hcl"), job).expect("write");
    let (url, cwd) = (sim.url(), dir.path().to_owned());
    let run = move |extra: &'static [&'static str]| {
        let mut args = vec!["validate", "--nomad", "--var-file", "all.hcl"];
        args.extend(extra);
        args.push("web.nomad.hcl");
        Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(args)
            .env("NOMAD_ADDR", &url)
            .env_remove("DROVER_CONFIG")
            .current_dir(&cwd)
            .output()
            .expect("run drover")
    };
    let runs = tokio::task::spawn_blocking(move || {
        [&[][..], &["--verbose"], &["--format", "json"]].map(run)
    })
    .await
    .expect("join");
    let [folded, verbose, json] = runs;

    assert_eq!(folded.status.code(), Some(1));
    let err = text(&folded.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "web.nomad.hcl:8:5: error: Unsupported argument; An argument named \"bogus\" is not expected here.",
            "web.nomad.hcl: warning: 49 variables of the source are not declared by this job (v01, v02, v03, v04, v05 and 44 more)",
        ],
        "{err}"
    );
    assert!(
        text(&folded.stdout)
            .contains("1 job file(s) checked: 1 error(s) in 1 file(s), 49 warning(s)"),
        "{}",
        text(&folded.stdout)
    );

    let err = text(&verbose.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 50, "{err}");
    assert!(lines[0].contains(": error: Unsupported argument"), "{err}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("web.nomad.hcl: warning: Undefined variable; A \"v")),
        "{err}"
    );

    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json on stdout");
    assert_eq!(
        (doc["errors"].as_u64(), doc["warnings"].as_u64()),
        (Some(1), Some(49))
    );
    let diagnostics = doc["diagnostics"].as_array().expect("diagnostics");
    let warnings = diagnostics.iter().filter(|d| d["severity"] == "warning");
    assert_eq!(warnings.count(), 49);
    let error = &diagnostics[0];
    assert_eq!(
        (&error["severity"], &error["line"]),
        (&"error".into(), &8.into()),
        "errors first"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_var_string_for_a_list_variable_is_read_as_nomad_reads_it() {
    let sim = Sim::builder().start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let job = "variable \"dcs\" {\n  type = list(string)\n}\njob \"web\" {\n  datacenters = var.dcs\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      config {\n        image = \"nginx\"\n      }\n    }\n  }\n}\n";
    std::fs::write(dir.path().join("web.nomad.hcl"), job).expect("write");
    let (url, cwd) = (sim.url(), dir.path().to_owned());
    let run = move |var: &'static str| {
        Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["validate", "--nomad", "--var", var, "web.nomad.hcl"])
            .env("NOMAD_ADDR", &url)
            .env_remove("DROVER_CONFIG")
            .current_dir(&cwd)
            .output()
            .expect("run drover")
    };
    let (ok, bad) = tokio::task::spawn_blocking(move || {
        (run(r#"dcs=["dc1", "dc2"]"#), run(r#"dcs=["s3cr3t""#))
    })
    .await
    .expect("join");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(
        err.starts_with("web.nomad.hcl:1:1: error: variable \"dcs\" is declared `list(string)`"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "the value leaked: {err}");
}

/// `--config` checks each source's cluster objects too, offline: every kind's file with the
/// line and column of its problem, a variable too large for Nomad with its size, and one in
/// another namespace than the source's.
#[test]
fn config_mode_checks_every_kind_of_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [
        ("cluster/ns/team.hcl", "name = \"bad name!\"\n".to_owned()),
        (
            "cluster/pools/default.hcl",
            "node_pool \"default\" {\n}\n".to_owned(),
        ),
        (
            "cluster/acl/ops.policy.hcl",
            "name = \"ops\"\nrules = <<EOT\nnamespace \"x\" {\n  policy = \nEOT\n".to_owned(),
        ),
        (
            "cluster/acl/ops.role.hcl",
            "name = \"ops\"\npolicies = []\n".to_owned(),
        ),
        (
            "cluster/vars/big.hcl",
            format!(
                "path = \"nomad/jobs/web\"\nitems {{\n  blob = \"{}\"\n}}\n",
                "x".repeat(66 * 1024)
            ),
        ),
        (
            "cluster/vars/ok.hcl",
            "path = \"nomad/jobs/api\"\nitems {\n  a = \"b\"\n}\n".to_owned(),
        ),
        (
            "cluster/vars/prod.hcl",
            "path = \"nomad/jobs/db\"\nnamespace = \"prod\"\nitems {\n  a = \"b\"\n}\n".to_owned(),
        ),
    ];
    for (path, text) in &files {
        let path = dir.path().join("repo").join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    std::fs::write(
        dir.path().join("drover.toml"),
        "[[source]]\nname = \"c\"\nurl = \"repo\"\nnamespace = \"staging\"\nnamespaces = [\"cluster/ns/*.hcl\"]\n\
         node_pools = [\"cluster/pools/*.hcl\"]\nacl_policies = [\"cluster/acl/*.policy.hcl\"]\n\
         acl_roles = [\"cluster/acl/*.role.hcl\"]\nnomad_variables = [\"cluster/vars/*.hcl\"]\n",
    )
    .expect("config");
    let o = drover(dir.path(), &["validate", "--config", "drover.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr).lines().collect::<Vec<_>>(),
        [
            "cluster/acl/ops.policy.hcl:4:12: error: the rules: syntax error: invalid expression; expected `\"`, `[`, `{`, `-`, `!`, `(`, `_`, `<`, letter or digit",
            "cluster/acl/ops.role.hcl:2:12: error: `policies` is empty: a role grants at least one policy",
            "cluster/ns/team.hcl:1:1: error: invalid namespace name \"bad name!\": Nomad takes 1 to 128 ASCII letters, digits and dashes",
            "cluster/pools/default.hcl:1:11: error: `default` is Nomad's built-in node pool; drover cannot manage it",
            "cluster/vars/big.hcl:2:1: error: variable \"nomad/jobs/web\": its items are 67588 bytes (keys and values), over Nomad's limit of 65536 bytes (64 KiB)",
            "cluster/vars/prod.hcl:2:1: error: variable \"nomad/jobs/db\" is in namespace \"prod\", but this source's namespace is \"staging\" (its `namespace` setting): leave the file's namespace out, or move the file to the source of \"prod\"",
        ]
    );
}

/// The files that run drover in Nomad pass drover's own checks: the job (with its two
/// variables set, as the README's `nomad job run -var` sets them) and its ACL policy, in the
/// policy file format drover applies.
#[test]
fn the_deploy_files_pass_drovers_own_checks() {
    let deploy = manifest().join("deploy/nomad");
    let o = drover(
        &deploy,
        &[
            "validate",
            "drover.nomad.hcl",
            "--var",
            "drover_url=https://example.com/drover.tar.gz",
            "--var",
            "drover_checksum=sha256:00",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("drover.toml"),
        format!(
            "[[source]]\nname = \"d\"\nurl = \"{}\"\npaths = [\"none/*.nomad.hcl\"]\nacl_policies = [\"*.policy.hcl\"]\n",
            deploy.display()
        ),
    )
    .expect("config");
    let o = drover(dir.path(), &["validate", "--config", "drover.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "");
}
