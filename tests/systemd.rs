//! drover under systemd: the unit file passes `systemd-analyze verify` and agrees with drover's
//! defaults, and the logs suit journald (no timestamps of their own, a priority prefix) when
//! stderr is the journal stream.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/drover.service");
/// Where the unit expects the binary; the test swaps in the one cargo built.
const INSTALLED: &str = "/usr/local/bin/drover";

fn unit_text() -> String {
    std::fs::read_to_string(UNIT).unwrap_or_else(|e| panic!("{UNIT}: {e}"))
}

/// The unit's `Key=value` lines, every value of a repeated key in order.
fn unit_keys() -> BTreeMap<String, Vec<String>> {
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in unit_text().lines() {
        if let Some((key, value)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            keys.entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
    }
    keys
}

fn one(keys: &BTreeMap<String, Vec<String>>, key: &str) -> String {
    match keys.get(key).map(Vec::as_slice) {
        Some([value]) => value.clone(),
        other => panic!("{key}= once in the unit, found {other:?}"),
    }
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("notice: systemd-analyze not installed; the unit file was not verified");
        return;
    }
    let text = unit_text();
    assert!(text.contains(&format!("ExecStart={INSTALLED} ")), "{text}");
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = dir.path().join("drover.service");
    let built = env!("CARGO_BIN_EXE_drover");
    std::fs::write(&unit, text.replace(INSTALLED, built)).expect("write the unit");
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("run systemd-analyze");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // verify exits 0 on an unknown key or a bad value (it only warns, naming the file), so
    // every line about this unit counts; lines about other units on the host do not.
    let ours: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("drover.service") || l.contains(built))
        .collect();
    assert!(
        o.status.success() && ours.is_empty(),
        "systemd-analyze verify:\n{output}"
    );
}

#[test]
fn unit_agrees_with_drovers_defaults() {
    let keys = unit_keys();
    let config = drover::config::Config::parse(
        "[[source]]\nname = \"a\"\nurl = \"https://git.example.com/a.git\"\n",
        Path::new("drover.toml"),
        &drover::config::Env::default(),
    )
    .expect("a minimal config");
    assert_eq!(one(&keys, "Type"), "notify");
    assert_eq!(
        one(&keys, "ExecStart"),
        format!("{INSTALLED} run --config /etc/drover/drover.toml")
    );
    let duration = |key: &str| -> Duration {
        humantime::parse_duration(&one(&keys, key)).unwrap_or_else(|e| panic!("{key}: {e}"))
    };
    assert!(
        duration("TimeoutStopSec") > config.sync.shutdown_timeout,
        "systemd must not kill drover before its own shutdown deadline"
    );
    assert!(duration("WatchdogSec") >= Duration::from_secs(60));
    assert_eq!(
        config.state.dir,
        Path::new("/var/lib").join(one(&keys, "StateDirectory"))
    );
    let credentials: Vec<&str> = keys["LoadCredential"]
        .iter()
        .filter_map(|c| c.split(':').next())
        .collect();
    assert_eq!(
        credentials,
        [
            drover::config::DEFAULT_TOKEN_CREDENTIAL,
            "git-token",
            "webhook-secret"
        ]
    );
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "true"),
        ("PrivateTmp", "true"),
        ("NoNewPrivileges", "true"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("Restart", "on-failure"),
        ("DynamicUser", "yes"),
        ("ConfigurationDirectory", "drover"),
    ] {
        assert_eq!(one(&keys, key), value, "{key}=");
    }
    assert_eq!(keys["SystemCallFilter"][0], "@system-service");
}

/// Runs `drover validate` on a good job file with `env`, stderr into a file (whose device
/// and inode `JOURNAL_STREAM` may name); returns what it logged.
fn logs(args: &[&str], env: &[(&str, &str)], journal: bool) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = dir.path().join("web.nomad.hcl");
    std::fs::write(
        &job,
        "job \"web\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n    }\n  }\n}\n",
    )
    .expect("write job");
    let log = dir.path().join("stderr");
    let stderr = std::fs::File::create(&log).expect("stderr file");
    let meta = stderr.metadata().expect("fstat");
    let stream = if journal {
        format!("{}:{}", meta.dev(), meta.ino())
    } else {
        // Inherited from a parent whose stderr was the journal: not this stream.
        format!("{}:{}", meta.dev(), meta.ino() + 1)
    };
    let o = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .arg("validate")
        .arg(&job)
        .env_remove("DROVER_LOG")
        .env_remove("RUST_LOG")
        .env_remove("DROVER_CONFIG")
        .env("JOURNAL_STREAM", stream)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()
        .expect("run drover");
    assert!(
        o.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    std::fs::read_to_string(&log).expect("read stderr")
}

const BAD_FILTER: &str = "drover=loudest";

#[test]
fn journald_gets_priorities_and_no_timestamps() {
    let journal = logs(&[], &[("RUST_LOG", BAD_FILTER)], true);
    let line = journal.lines().next().expect("the filter warning");
    assert!(line.starts_with("<4> WARN"), "{journal:?}");
    assert!(
        line.contains("RUST_LOG") && !line.contains('\x1b'),
        "{journal:?}"
    );

    let plain = logs(&[], &[("RUST_LOG", BAD_FILTER)], false);
    let line = plain.lines().next().expect("the filter warning");
    assert!(!line.starts_with('<'), "{plain:?}");
    assert!(
        line.starts_with(|c: char| c.is_ascii_digit()),
        "a timestamp first: {plain:?}"
    );
}

#[test]
fn log_filters_and_json() {
    // DROVER_LOG wins over RUST_LOG, so a valid DROVER_LOG hides the bad RUST_LOG.
    let quiet = logs(
        &[],
        &[("DROVER_LOG", "info"), ("RUST_LOG", BAD_FILTER)],
        true,
    );
    assert_eq!(quiet, "");
    let named = logs(&[], &[("DROVER_LOG", BAD_FILTER)], true);
    assert!(named.contains("var=\"DROVER_LOG\""), "{named:?}");

    let json = logs(&["--log-format", "json"], &[("RUST_LOG", BAD_FILTER)], true);
    let event: serde_json::Value =
        serde_json::from_str(json.lines().next().expect("a line")).expect("JSON");
    assert_eq!(event["level"], "WARN", "{json}");
    assert_eq!(event["fields"]["var"], "RUST_LOG", "{json}");
    assert!(
        event["timestamp"].is_string(),
        "shippers want the time: {json}"
    );
}
