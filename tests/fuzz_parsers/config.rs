//! `Config::parse` on generated TOML: drover's own tables and keys with values of every TOML
//! type (and of the wrong one), unknown keys, mutations and raw bytes.

use std::path::Path;

use drover::config::{Config, Env};
use proptest::prelude::*;

use super::{corpus, runner, timed};

const TABLES: [&str; 10] = [
    "[nomad]",
    "[clusters.east]",
    "[[source]]",
    "[source.policy]",
    "[server]",
    "[state]",
    "[sync]",
    "[policy]",
    "[ha]",
    "[unknown]",
];

const KEYS: [&str; 40] = [
    "address",
    "token_file",
    "token_credential",
    "region",
    "namespace",
    "ca_file",
    "skip_verify",
    "request_timeout",
    "connect_timeout",
    "max_retries",
    "retry_min_delay",
    "retry_max_delay",
    "name",
    "url",
    "branch",
    "tag",
    "commit",
    "paths",
    "exclude",
    "cluster",
    "var_files",
    "variables",
    "poll",
    "prune",
    "self_heal",
    "preserve_counts",
    "auto_promote",
    "max_file_size",
    "max_files",
    "fetch_timeout",
    "max_packs",
    "listen",
    "webhook_secret_file",
    "max_webhook_body",
    "dir",
    "max_parallel",
    "drift_interval",
    "forbidden_drivers",
    "required_resources",
    "max_prune_fraction",
];

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        Just("inf".to_owned()),
        Just("nan".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        prop_oneof![
            Just("30s"),
            Just("0s"),
            Just("99999999999999999h"),
            Just("https://127.0.0.1:4646"),
            Just("git@host:a/b.git"),
            Just("file:///tmp/x"),
            Just("127.0.0.1:0"),
            Just("jobs/**/*.hcl"),
            Just("[a-"),
            Just("../.."),
            Just("scaled"),
            Just("default"),
        ]
        .prop_map(|s| format!("\"{s}\"")),
        "[ -~é]{0,16}".prop_map(|s| format!("{s:?}")),
        "[ -~]{0,16}".prop_map(|s| format!("'''{s}'''")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..4).prop_map(|v| {
                let items: Vec<String> = v.into_iter().map(|(k, e)| format!("{k} = {e}")).collect();
                format!("{{ {} }}", items.join(", "))
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        1 => prop::sample::select(&TABLES[..]).prop_map(|t| format!("{t}\n")),
        4 => (prop::sample::select(&KEYS[..]), value()).prop_map(|(k, v)| format!("{k} = {v}\n")),
        1 => "[a-z.\"]{1,8} = [0-9]{1,3}\n",
    ];
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.concat())
}

fn parse(text: &str) {
    let env = Env::default().with("NOMAD_ADDR", "http://127.0.0.1:4646");
    timed("Config::parse", || {
        let _ = Config::parse(text, Path::new("/nonexistent/drover.toml"), &env);
    });
}

#[test]
fn configs_never_panic() {
    let strategy = prop_oneof![
        4 => document(),
        1 => (document(), any::<prop::sample::Index>()).prop_map(|(d, at)| {
            let mut cut = at.index(d.len() + 1);
            while !d.is_char_boundary(cut) {
                cut -= 1;
            }
            d[..cut].to_owned()
        }),
        1 => "\\PC{0,200}",
    ];
    runner(384)
        .run(&strategy, |text| {
            parse(&text);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_toml_corpus_replays() {
    for (path, bytes) in corpus("toml") {
        eprintln!("{}", path.display());
        parse(&String::from_utf8_lossy(&bytes));
    }
}
