//! Tests that keep the two annotated configurations in step with the schema:
//! `jobs-example/drover.toml` loads as the demo setup, and `packaging/deb/drover.toml` (the
//! Debian package's `/etc/drover/drover.toml`) is that example made into a fresh installation's
//! file. Both show every key the schema accepts, with the real defaults.

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

fn conffile_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/deb/drover.toml")
}

fn conffile_text() -> String {
    std::fs::read_to_string(conffile_path()).unwrap_or_else(|e| panic!("reading the conffile: {e}"))
}

/// Both annotated files, by name.
fn annotated() -> [(&'static str, String); 2] {
    [
        ("jobs-example/drover.toml", example_text()),
        ("packaging/deb/drover.toml", conffile_text()),
    ]
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

/// `text` with every `# key = value` and `# [table]` line uncommented.
fn uncommented(text: &str) -> String {
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
    text.lines().map(uncomment).collect::<Vec<_>>().join("\n")
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
fn annotated_files_show_every_key_of_the_schema() {
    for (name, text) in annotated() {
        shows_every_key_of_the_schema(name, &uncommented(&text));
    }
}

fn shows_every_key_of_the_schema(name: &str, text: &str) {
    // Deserializing catches a misspelled or renamed key, and a value of the wrong type.
    toml::from_str::<RawConfig>(text).unwrap_or_else(|e| panic!("uncommented {name}: {e}"));
    let doc: toml::Table = toml::from_str(text).expect("uncommented file is TOML");
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
        assert_eq!(shown, schema, "keys of [{table}] in {name}");
    }
    assert!(
        keys(east).contains("address"),
        "{name} shows a [clusters.NAME] table"
    );
}

#[test]
fn annotated_files_show_the_real_defaults() {
    for (name, text) in annotated() {
        let raw: RawConfig =
            toml::from_str(&uncommented(&text)).unwrap_or_else(|e| panic!("{name}: {e}"));
        shows_the_real_defaults(&raw);
    }
}

fn shows_the_real_defaults(raw: &RawConfig) {
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

/// What the conffile says in place of the example's first line.
const CONFFILE_INTRO: &str = "\
# /etc/drover/drover.toml: the configuration of drover.service, and the reference of every key.
#
# drover starts once this file names a Git repository of job files to follow: uncomment the
# [[source]] line below with at least its `name` and `url`, and the keys your repository needs.
# Check the file, then enable and start the service (the package does neither):
#   sudo env CREDENTIALS_DIRECTORY=/etc/credstore drover validate
#   sudo systemctl enable --now drover
# The unit passes /etc/credstore/nomad-token, git-token and webhook-secret to drover as the
# credentials of those names (token_credential, password_credential, webhook_secret_credential
# below); create the ones you need, readable by root alone.
";

/// The example's words that only fit the demo, and what the conffile says instead. Each one
/// must occur once in the example, so that rewording the example there fails a test instead of
/// slipping into the package.
const CONFFILE_EDITS: &[(&str, &str)] = &[
    (
        "# drover.toml: the configuration of the bundled demo, and the reference of every key.\n",
        CONFFILE_INTRO,
    ),
    (
        "\
# One table per repository of job files, or per part of one. Here: the two environments of
# this directory's layout (jobs/staging/ and jobs/prod/, each with a var file under vars/ and
# a namespace of its own), both from `.`, the directory of this file. The first table shows
# every key a source takes; the second only what differs.
",
        "\
# One table per repository of job files, or per part of one (an environment's directory). At
# least one is required; the keys below show every key a source takes.
",
    ),
    (
        "url = \".\"\n",
        "url = \"https://git.example.com/ops/jobs.git\"\n",
    ),
];

/// `jobs-example/drover.toml` made into the file a fresh installation starts from: the demo's
/// words replaced, its second source left out, and every setting commented out, `[[source]]`
/// included (any source written here would be a placeholder that cannot be fetched). The other
/// table headers stay, so that a key uncommented under one lands in its table.
fn conffile_from_example(example: &str) -> String {
    let mut sources = 0;
    let blocks: Vec<&str> = example
        .split("\n\n")
        .filter(|block| {
            if block.lines().any(|l| l == "[[source]]") {
                sources += 1;
            }
            sources < 2 || !block.lines().any(|l| l == "[[source]]")
        })
        .collect();
    let mut text = blocks.join("\n\n");
    for (from, to) in CONFFILE_EDITS {
        assert_eq!(
            text.matches(from).count(),
            1,
            "once in the example: {from:?}"
        );
        text = text.replacen(from, to, 1);
    }
    let is_setting = |line: &str| {
        line == "[[source]]" || !(line.is_empty() || line.starts_with('#') || line.starts_with('['))
    };
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if is_setting(line) {
                format!("# {line}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    lines.join("\n") + "\n"
}

#[test]
fn conffile_is_the_example_made_for_an_installation() {
    let expected = conffile_from_example(&example_text());
    // For whoever changed the example: rewrite the conffile from it, then review the diff.
    if std::env::var_os("DROVER_WRITE_CONFFILE").is_some() {
        std::fs::write(conffile_path(), &expected).expect("write the conffile");
    }
    assert!(
        conffile_text() == expected,
        "packaging/deb/drover.toml is out of step with jobs-example/drover.toml; \
         rewrite it with `DROVER_WRITE_CONFFILE=1 cargo test conffile` and review the diff"
    );
}

#[test]
fn conffile_loads_once_a_source_is_uncommented() {
    let err = Config::load_with(&conffile_path(), &Env::default()).expect_err("no source yet");
    assert!(err.to_string().contains("no [[source]]"), "{err}");
    let mut text = conffile_text();
    for line in ["[[source]]\n", "name = ", "url = "] {
        text = text.replacen(&format!("# {line}"), line, 1);
    }
    let config = Config::parse(&text, &conffile_path(), &Env::default())
        .unwrap_or_else(|e| panic!("the conffile with a source: {e}"));
    assert_eq!(config.sources.len(), 1);
    assert_eq!(config.state.dir, Path::new("/var/lib/drover"));
}
