//! Secrets in Git, end to end: SOPS files made by the real `sops` with keys from the real
//! `age-keygen`, in a real Git repository, decrypted by drover and written to the simulator as
//! Nomad variables — once, with check-and-set, again only when a value changes — and never
//! shown anywhere else: not in the logs, `/status`, `/metrics`, the web pages, the state file or
//! `drover diff`.

mod common;
mod git;

use std::collections::BTreeMap;
use std::time::Duration;

use common::daemon::{Daemon, until};
use common::sops::Dir;
use drover::nomad::{Client, Query};
use drover::sync::{Options, PassReport, Status};
use git::world::World;

const FIRST: &str = "first-secret-8d3f1a";
const SECOND: &str = "second-secret-51c9e0";

fn plaintext(password: &str) -> String {
    format!(
        "# The API's database credentials.\npath_unencrypted: nomad/jobs/api\n\
         namespace_unencrypted: default\nitems:\n  db_password: {password}\n  db_user: api\n"
    )
}

fn job() -> &'static str {
    "job \"api\" {\n  datacenters = [\"dc1\"]\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      config {\n        image = \"api:1\"\n      }\n    }\n  }\n}\n"
}

/// A world whose source reads `secrets/*.sops.yaml` with the key `key.txt` of `dir`.
async fn world(dir: &Dir) -> World {
    let key = dir.path("key.txt");
    World::new(&format!(
        "encrypted_variables = [\"secrets/*.sops.yaml\"]\nage_identity_file = \"{}\"\n",
        key.display()
    ))
    .await
}

/// A world whose repository holds the API job and its secret (`FIRST`), for `recipient`.
async fn with_secret(dir: &Dir, recipient: &str) -> World {
    let w = world(dir).await;
    w.repo
        .write(
            "secrets/api.sops.yaml",
            &dir.encrypt("api.sops.yaml", &plaintext(FIRST), &[recipient]),
        )
        .write("jobs/api.nomad.hcl", job());
    w.repo.commit("the API and its secret");
    w
}

fn secret_status(report: &PassReport) -> (Status, String) {
    let found = report
        .objects
        .iter()
        .find(|o| o.object == "variable default/nomad/jobs/api")
        .unwrap_or_else(|| panic!("no report for the variable: {report:#?}"));
    (found.status, found.detail.clone())
}

/// How the pass reported the SOPS file itself (when it did not become a variable).
fn file_status(report: &PassReport) -> (Status, String) {
    let found = report
        .objects
        .iter()
        .find(|o| o.path == "secrets/api.sops.yaml");
    let found = found.unwrap_or_else(|| panic!("no report for the file: {report:#?}"));
    (found.status, found.detail.clone())
}

async fn items(w: &World) -> Option<BTreeMap<String, String>> {
    let client = Client::new(&w.config().sources[0].cluster).expect("client");
    let read = client.variable("nomad/jobs/api", &Query::now()).await;
    read.ok().and_then(|v| v.value.items)
}

#[tokio::test]
async fn a_secret_is_written_once_and_again_only_when_its_value_changes() {
    let dir = Dir::new();
    let recipient = dir.key("key.txt");
    let w = world(&dir).await;
    let sealed = dir.encrypt("api.sops.yaml", &plaintext(FIRST), &[&recipient]);
    w.repo
        .write("secrets/api.sops.yaml", &sealed)
        .write("jobs/api.nomad.hcl", job());
    w.repo.commit("the API and its secret");
    let first = w.pass(Options::default()).await;
    assert!(first.converged(), "{first:#?}");
    assert_eq!(secret_status(&first), (Status::Synced, "created".into()));
    let expected = BTreeMap::from([
        ("db_password".to_owned(), FIRST.to_owned()),
        ("db_user".to_owned(), "api".to_owned()),
    ]);
    assert_eq!(items(&w).await, Some(expected));
    let index = w
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == "/v1/var/nomad/jobs/api")
        .count();
    assert_eq!(index, 1, "one write");

    w.calls();
    let again = w.pass(Options::default()).await;
    assert_eq!(secret_status(&again).0, Status::Unchanged);
    assert_eq!(
        w.calls(),
        Vec::<String>::new(),
        "an unchanged secret costs nothing"
    );

    // Encrypted again with the same values: new ciphertext, the same secret, no call.
    let resealed = dir.encrypt("api.sops.yaml", &plaintext(FIRST), &[&recipient]);
    assert_ne!(resealed, sealed);
    w.repo.write("secrets/api.sops.yaml", &resealed);
    w.repo.commit("re-encrypted, same values");
    let same = w.pass(Options::default()).await;
    assert_eq!(secret_status(&same).0, Status::Unchanged);
    assert_eq!(w.calls(), Vec::<String>::new());

    // Rotated: written once, with check-and-set on the index it was read at.
    let client = Client::new(&w.config().sources[0].cluster).expect("client");
    let before = client
        .variable("nomad/jobs/api", &Query::now())
        .await
        .expect("variable")
        .value
        .modify_index;
    w.calls();
    let rotated = dir.encrypt("api.sops.yaml", &plaintext(SECOND), &[&recipient]);
    w.repo.write("secrets/api.sops.yaml", &rotated);
    w.repo.commit("rotate the password");
    let rotation = w.pass(Options::default()).await;
    assert_eq!(
        secret_status(&rotation),
        (Status::Synced, "updated: Items.db_password".into())
    );
    let writes: Vec<_> = w
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path == "/v1/var/nomad/jobs/api")
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(
        writes[0].query.contains(&format!("cas={before}")),
        "{:?}",
        writes[0].query
    );
    let now = items(&w).await.expect("variable");
    assert_eq!(now["db_password"], SECOND);
}

#[tokio::test]
async fn a_file_that_does_not_decrypt_writes_nothing_and_the_rest_goes_on() {
    let dir = Dir::new();
    let recipient = dir.key("key.txt");
    let stranger = dir.key("stranger.txt");
    let w = with_secret(&dir, &recipient).await;
    assert!(w.pass(Options::default()).await.converged());

    // For another recipient only: the error names the recipient; the old value stays.
    let foreign = dir.encrypt("api.sops.yaml", &plaintext(SECOND), &[&stranger]);
    w.repo.write("secrets/api.sops.yaml", &foreign);
    w.repo.commit("encrypted for someone else");
    let (status, detail) = file_status(&w.pass(Options::default()).await);
    assert_eq!(status, Status::Blocked);
    assert!(detail.contains(&stranger), "{detail}");
    assert!(!detail.contains(SECOND), "{detail}");
    assert_eq!(items(&w).await.expect("kept")["db_password"], FIRST);

    // Edited by hand after encryption: the MAC fails; nothing is written.
    let sealed = dir.encrypt("api.sops.yaml", &plaintext(SECOND), &[&recipient]);
    let edited = sealed.replace(
        "namespace_unencrypted: default",
        "namespace_unencrypted: other",
    );
    assert_ne!(edited, sealed);
    w.repo.write("secrets/api.sops.yaml", &edited);
    w.repo.commit("edited by hand");
    let report = w.pass(Options::default()).await;
    let (status, detail) = file_status(&report);
    assert_eq!(status, Status::Blocked, "{detail}");
    assert!(detail.contains("MAC mismatch"), "{detail}");
    assert_eq!(items(&w).await.expect("kept")["db_password"], FIRST);
    let job = report.jobs.iter().find(|j| j.path == "jobs/api.nomad.hcl");
    assert_eq!(job.expect("the job").status, Status::Unchanged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_is_in_no_log_status_metrics_state_or_diff() {
    let dir = Dir::new();
    let recipient = dir.key("key.txt");
    let w = with_secret(&dir, &recipient).await;
    let config = std::fs::read_to_string(w.config_file()).expect("config");
    // The daemon keeps its own state; the source's and Nomad's settings are the world's.
    let config = config
        .lines()
        .filter(|l| !l.starts_with("dir = "))
        .filter(|l| *l != "[state]")
        .collect::<Vec<_>>()
        .join("\n")
        + "\npoll = \"1s\"\n";
    let daemon = Daemon::start_with_env(&config, &[("DROVER_LOG".to_owned(), "trace".into())]);
    until(
        "the secret reached Nomad",
        Duration::from_secs(60),
        async || items(&w).await.filter(|i| i["db_password"] == FIRST),
    )
    .await;
    let rotated = dir.encrypt("api.sops.yaml", &plaintext(SECOND), &[&recipient]);
    w.repo.write("secrets/api.sops.yaml", &rotated);
    w.repo.commit("rotate");
    until(
        "the rotation reached Nomad",
        Duration::from_secs(60),
        async || items(&w).await.filter(|i| i["db_password"] == SECOND),
    )
    .await;
    let mut outputs = vec![
        ("the log".to_owned(), daemon.log()),
        ("the state file".to_owned(), daemon.state().to_string()),
    ];
    for path in [
        "/status",
        "/metrics",
        "/status/jobs/default/api",
        "/",
        "/ui/sources/apps",
        "/ui/jobs/default/api",
    ] {
        let (code, body) = daemon.get(path).await.expect("an answer");
        assert_eq!(code, 200, "{path}: {body}");
        outputs.push((path.to_owned(), body));
    }
    // The pass's own state file and `drover diff` (text and JSON) after a rotation it has not
    // applied.
    let third = dir.encrypt(
        "api.sops.yaml",
        &plaintext("third-secret-0aa7"),
        &[&recipient],
    );
    w.repo.write("secrets/api.sops.yaml", &third);
    w.repo.commit("rotate again");
    let (code, text) = w.drover(&["diff"]).await;
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("  ~ Items.db_password: (secret changed)"),
        "{text}"
    );
    let (_, json) = w.drover(&["diff", "--format", "json"]).await;
    let (_, once) = w.drover(&["sync", "--once", "--verbose"]).await;
    outputs.push(("drover diff".into(), text));
    outputs.push(("drover diff --format json".into(), json));
    outputs.push(("drover sync --once".into(), once));
    let state = std::fs::read_to_string(w.state_dir.path().join("state.json")).expect("state");
    outputs.push(("sync's state file".into(), state));
    for (what, text) in &outputs {
        for secret in [FIRST, SECOND, "third-secret-0aa7"] {
            assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
        }
    }
}

/// `drover validate --config` checks a SOPS file offline without the key, and with
/// `--age-identity` decrypts it and checks its MAC, naming the file.
#[test]
fn validate_checks_sops_files_offline_and_decrypts_them_given_the_identity() {
    let dir = Dir::new();
    let recipient = dir.key("key.txt");
    let repo = dir.path("repo");
    std::fs::create_dir_all(repo.join("secrets")).expect("mkdir");
    let sealed = dir.encrypt("api.sops.yaml", &plaintext(FIRST), &[&recipient]);
    let edited = sealed.replace(
        "namespace_unencrypted: default",
        "namespace_unencrypted: other",
    );
    std::fs::write(repo.join("secrets/api.sops.yaml"), edited).expect("write");
    let config = dir.path("drover.toml");
    std::fs::write(
        &config,
        format!(
            "[[source]]\nname = \"s\"\nurl = \"repo\"\nencrypted_variables = [\"secrets/*.sops.yaml\"]\nage_identity_file = \"{}\"\n",
            dir.path("key.txt").display()
        ),
    )
    .expect("config");
    let validate = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["validate", "--config", "drover.toml"])
            .args(extra)
            .current_dir(dir.path(""))
            .env_remove("NOMAD_ADDR")
            .output()
            .expect("drover runs");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    // Offline, the structure is sound: only the MAC can tell the edit.
    let (code, err) = validate(&[]);
    assert_eq!(code, Some(0), "{err}");
    let key = dir.path("key.txt");
    let (code, err) = validate(&["--age-identity", key.to_str().expect("utf-8")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with("secrets/api.sops.yaml: error: MAC mismatch"),
        "{err}"
    );
    assert!(!err.contains(FIRST), "{err}");
}
