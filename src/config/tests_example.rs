//! Tests that keep `jobs-example/drover.toml` in step with the schema: it loads as the demo
//! setup, shows every key the schema accepts, and shows the real defaults.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::schema::{DEFAULT_BRANCH, RawCluster, RawConfig, RawHa, RawServer, RawSource, RawSync};
use super::*;

const MINIMAL: &str = "[[source]]\nname = \"a\"\nurl = \"https://git.example.com/a.git\"\n";

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs-example/drover.toml")
}

fn example_text() -> String {
    std::fs::read_to_string(example_path()).unwrap_or_else(|e| panic!("reading the example: {e}"))
}

#[test]
fn example_parses_as_the_demo_setup() {
    let config =
        Config::load_with(&example_path(), &Env::default()).unwrap_or_else(|e| panic!("{e}"));
    let nomad = config.cluster(DEFAULT_CLUSTER).expect("default cluster");
    assert_eq!(nomad.address.as_str(), "http://127.0.0.1:4646/");
    let dir = std::path::absolute(example_path())
        .ok()
        .and_then(|p| p.parent().map(Path::to_owned));
    let [staging, prod] = config.sources.as_slice() else {
        panic!("two sources expected")
    };
    for (source, env) in [(staging, "staging"), (prod, "prod")] {
        assert_eq!(source.name, env);
        assert_eq!(source.paths, [format!("jobs/{env}/**/*.nomad.hcl")]);
        assert_eq!(source.namespace.as_deref(), Some(env));
        assert_eq!(source.var_files, [format!("vars/{env}.hcl")]);
        assert_eq!(Some(source.url.clone()), dir.clone().map(RepoUrl::Local));
    }
}

/// The example with every `# key = value` and `# [table]` line uncommented.
fn uncommented_example() -> String {
    let uncomment = |line: &str| {
        let Some(rest) = line.strip_prefix("# ") else {
            return line.to_owned();
        };
        let key = rest.split_once(" = ").map(|(k, _)| k);
        let is_key = key.is_some_and(|k| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        });
        let is_header = rest.starts_with('[') && rest.ends_with(']');
        if is_key || is_header {
            rest.to_owned()
        } else {
            line.to_owned()
        }
    };
    example_text()
        .lines()
        .map(uncomment)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The keys serde accepts in a table, read from its unknown-field error, so that the list
/// comes from the schema itself and cannot drift from it.
fn schema_keys(header: &str) -> BTreeSet<String> {
    let err = toml::from_str::<RawConfig>(&format!("{header}\nzz_probe = 1\n"))
        .expect_err("probe key is unknown");
    let (_, expected) = err
        .message()
        .split_once("expected")
        .expect("an unknown-field message");
    let keys: BTreeSet<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(!keys.is_empty(), "no keys in {:?}", err.message());
    keys
}

#[test]
fn example_shows_every_key_of_the_schema() {
    let text = uncommented_example();
    // Deserializing catches a misspelled or renamed key, and a value of the wrong type.
    toml::from_str::<RawConfig>(&text).unwrap_or_else(|e| panic!("uncommented example: {e}"));
    let doc: toml::Table = toml::from_str(&text).expect("uncommented example is TOML");
    let keys = |v: Option<&toml::Value>| -> BTreeSet<String> {
        v.and_then(toml::Value::as_table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    };
    let source = doc.get("source").and_then(|s| s.get(0));
    let east = doc.get("clusters").and_then(|c| c.get("east"));
    let notify = doc.get("notify").and_then(|n| n.get(0));
    let forge = source.and_then(|s| s.get("commit_status"));
    let verify = source.and_then(|s| s.get("verify"));
    let tables = [
        ("", doc.keys().cloned().collect(), schema_keys("")),
        ("nomad", keys(doc.get("nomad")), schema_keys("[nomad]")),
        ("source", keys(source), schema_keys("[[source]]")),
        ("server", keys(doc.get("server")), schema_keys("[server]")),
        ("state", keys(doc.get("state")), schema_keys("[state]")),
        ("sync", keys(doc.get("sync")), schema_keys("[sync]")),
        ("ha", keys(doc.get("ha")), schema_keys("[ha]")),
        ("policy", keys(doc.get("policy")), schema_keys("[policy]")),
        (
            "notify",
            keys(notify),
            schema_keys("[[notify]]\nname = \"n\"\nkind = \"slack\""),
        ),
        (
            "source.verify",
            keys(verify),
            schema_keys("[[source]]\nname = \"s\"\nurl = \"u\"\n[source.verify]\nmode = \"head\""),
        ),
        (
            "source.commit_status",
            keys(forge),
            schema_keys(
                "[[source]]\nname = \"s\"\nurl = \"u\"\n[source.commit_status]\nprovider = \"github\"\nrepository = \"o/r\"",
            ),
        ),
    ];
    for (table, shown, schema) in tables {
        assert_eq!(
            shown, schema,
            "keys of [{table}] in jobs-example/drover.toml"
        );
    }
    assert!(
        keys(east).contains("address"),
        "the example shows a [clusters.NAME] table"
    );
}

#[test]
fn example_shows_the_real_defaults() {
    let raw: RawConfig = toml::from_str(&uncommented_example()).unwrap_or_else(|e| panic!("{e}"));
    let (nomad, default) = (&raw.nomad, RawCluster::default());
    let timing = |c: &RawCluster| {
        (
            c.request_timeout,
            c.connect_timeout,
            c.max_retries,
            c.retry_min_delay,
            c.retry_max_delay,
        )
    };
    assert_eq!(timing(nomad), timing(&default));
    assert_eq!(nomad.skip_verify, Some(false));
    let sync = |s: &RawSync| (s.max_parallel, s.drift_interval, s.shutdown_timeout);
    assert_eq!(sync(&raw.sync), sync(&RawSync::default()));
    let ha = |h: &RawHa| (h.enabled, h.lock_path.clone(), h.ttl, h.cluster.clone());
    assert_eq!(ha(&raw.ha), ha(&RawHa::default()));
    assert_eq!(raw.state.dir, Path::new("/var/lib/drover"));
    assert_eq!(
        raw.server.listen,
        "127.0.0.1:9315".parse::<SocketAddr>().expect("addr")
    );
    let server = |s: &RawServer| (s.max_webhook_body, s.request_timeout);
    assert_eq!(server(&raw.server), server(&RawServer::default()));

    let minimal: RawConfig = toml::from_str(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    let knobs = |s: &RawSource| {
        let flags = (s.prune, s.self_heal, s.auto_promote, s.rollback_on_failure);
        let lists = (s.cluster.clone(), s.exclude.clone());
        (
            s.poll,
            s.max_prune_fraction,
            s.preserve_counts,
            flags,
            lists,
        )
    };
    assert_eq!(knobs(&raw.sources[0]), knobs(&minimal.sources[0]));
    let git = |s: &RawSource| {
        let limits = (s.max_file_size, s.max_files, s.fetch_timeout, s.max_packs);
        (s.insecure_skip_host_key_check, limits)
    };
    assert_eq!(git(&raw.sources[0]), git(&minimal.sources[0]));
    assert_eq!(raw.sources[0].branch.as_deref(), Some(DEFAULT_BRANCH));
    // Every policy key shows its default (nothing imposed), except max_count's example limit.
    let p = &raw.policy;
    let lists = [
        &p.forbidden_drivers,
        &p.allowed_registries,
        &p.required_meta,
        &p.allowed_namespaces,
        &p.required_resources,
    ];
    assert!(lists.iter().all(|l| l.as_ref().is_some_and(Vec::is_empty)));
    assert_eq!(p.max_count, Some(10));
    let source = &raw.sources[0];
    let policy = source
        .policy
        .as_ref()
        .and_then(|p| p.forbidden_drivers.clone());
    assert_eq!(policy, Some(vec!["raw_exec".to_owned(), "exec".to_owned()]));
}
