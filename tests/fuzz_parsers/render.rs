//! The job file's local check and `file()` inlining ([`render::prepare`]), and var files
//! ([`render::load_variables`]), on generated HCL, its mutations and raw bytes.

use std::collections::BTreeMap;

use drover::render::{self, Given, Settings};
use drover::source::{FileError, RepoFiles};
use proptest::prelude::*;

use super::{corpus, runner, timed};

/// A repository of a few files, some of them unreadable in each way a real one can be.
struct Repo(BTreeMap<String, Vec<u8>>);

impl RepoFiles for Repo {
    fn read(&self, path: &str) -> Result<Vec<u8>, FileError> {
        let path = path.to_owned();
        match path.as_str() {
            "jobs/big.conf" => Err(FileError::TooLarge {
                path,
                size: 1 << 30,
                limit: 1 << 20,
            }),
            "jobs/link" => Err(FileError::Symlink { path }),
            _ => self
                .0
                .get(&path)
                .cloned()
                .ok_or(FileError::Missing { path }),
        }
    }
}

fn repo(job: &[u8], vars: &[u8]) -> Repo {
    Repo(BTreeMap::from([
        ("jobs/job.nomad.hcl".to_owned(), job.to_vec()),
        (
            "jobs/files/a.conf".to_owned(),
            b"x = \"${y}\" %{ if }\n".to_vec(),
        ),
        ("jobs/bin.dat".to_owned(), vec![0xff, 0xfe, 0, 1]),
        ("vars.hcl".to_owned(), vars.to_vec()),
    ]))
}

/// Local check, inlining and variables of `job` with `vars` as the var file.
fn prepare(job: &[u8], vars: &[u8]) {
    let files = repo(job, vars);
    let settings = Settings {
        source: "fuzz".into(),
        var_files: vec!["vars.hcl".into()],
        // A string is written by the type the job declares for it: both ways get fuzzed.
        variables: BTreeMap::from([
            ("inline".to_owned(), Given::Text("${x}\"\\".to_owned())),
            (
                "typed".to_owned(),
                Given::Hcl("[1, {\"a\" = true}]".to_owned()),
            ),
        ]),
        ..Settings::default()
    };
    timed("prepare", || {
        let variables = render::load_variables(&files, &settings).unwrap_or_default();
        let result = render::prepare(&files, "jobs/job.nomad.hcl", &settings, &variables);
        if let Err(errors) = result {
            assert!(!errors.is_empty(), "an error without a message");
            for e in errors {
                assert!(e.to_string().starts_with('j') || e.to_string().starts_with('v'));
            }
        }
    });
}

fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("job".to_owned()),
        Just("group".to_owned()),
        Just("task".to_owned()),
        Just("id".to_owned()),
        Just("namespace".to_owned()),
        Just("variable".to_owned()),
        "[a-z_][a-z0-9_-]{0,8}",
    ]
}

/// Odd `file()` arguments: escapes, absolute paths, `//`, NUL, unicode, backslashes.
fn file_path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("files/a.conf".to_owned()),
        Just("../../etc/passwd".to_owned()),
        Just("/etc/passwd".to_owned()),
        Just("bin.dat".to_owned()),
        Just("big.conf".to_owned()),
        Just("link".to_owned()),
        Just("files//./a.conf".to_owned()),
        Just("..\\\\x".to_owned()),
        Just("\\u0000".to_owned()),
        "[a-z./é\u{202e} ]{0,12}",
    ]
}

/// Text that may sit between double quotes: escapes, interpolations and directives.
fn string_body() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9 ]{0,6}",
            Just("\\\"".to_owned()),
            Just("\\n".to_owned()),
            Just("\\u00e9".to_owned()),
            Just("$${".to_owned()),
            Just("${var.x}".to_owned()),
            Just("${NOMAD_ALLOC_DIR}".to_owned()),
            Just("%{ if true }x%{ endif }".to_owned()),
            Just("${".to_owned()),
            Just("\\".to_owned()),
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1e400".to_owned()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        Just("var.x".to_owned()),
        string_body().prop_map(|s| format!("\"{s}\"")),
        string_body().prop_map(|s| format!("<<-EOT\n{s}\n  EOT\n")),
        string_body().prop_map(|s| format!("<<EOT\n{s}\nEOT\n")),
        (prop_oneof!["file", "filebase64", "fileexists"], file_path())
            .prop_map(|(f, p)| format!("{f}(\"{p}\")")),
        Just("file(var.p)".to_owned()),
        Just("file(\n\"files/a.conf\"\n)".to_owned()),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((ident(), inner.clone()), 0..4).prop_map(|v| {
                let items: Vec<String> = v.into_iter().map(|(k, e)| format!("{k} = {e}")).collect();
                format!("{{ {} }}", items.join(", "))
            }),
            inner.clone().prop_map(|e| format!("({e})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} + {b}")),
            inner.clone().prop_map(|e| format!("\"${{{e}}}\"")),
            inner.prop_map(|e| format!("upper({e})")),
        ]
    })
}

fn body() -> impl Strategy<Value = String> {
    let attribute = (ident(), expression()).prop_map(|(k, e)| format!("{k} = {e}\n"));
    attribute.prop_recursive(4, 32, 6, |inner| {
        (
            ident(),
            prop::option::of(string_body()),
            prop::collection::vec(inner, 0..6),
        )
            .prop_map(|(name, label, items)| {
                let label = label.map(|l| format!(" \"{l}\"")).unwrap_or_default();
                format!("{name}{label} {{\n{}}}\n", items.concat())
            })
    })
}

/// A job file: usually one `job` block around generated content, sometimes not.
fn job_file() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(body(), 0..4),
        prop::option::weighted(0.8, string_body()),
    )
        .prop_map(|(items, label)| match label {
            Some(label) => format!("job \"{label}\" {{\n{}}}\n", items.concat()),
            None => items.concat(),
        })
}

/// `text` cut at a point, or with bytes inserted: what a half-edited file looks like.
fn mutated(text: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    (
        text,
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<u8>(), 0..4),
        0..3u8,
    )
        .prop_map(|(text, at, noise, how)| {
            let mut bytes = text.into_bytes();
            let at = at.index(bytes.len() + 1);
            match how {
                0 => bytes.truncate(at),
                1 => drop(bytes.splice(at..at, noise)),
                _ => {}
            }
            bytes
        })
}

#[test]
fn job_files_never_panic() {
    let strategy = prop_oneof![
        4 => mutated(job_file()),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ];
    runner(384)
        .run(&strategy, |job| {
            prepare(&job, b"x = 1\n");
            Ok(())
        })
        .unwrap();
}

#[test]
fn var_files_never_panic() {
    let vars = prop_oneof![
        3 => mutated(prop::collection::vec(body(), 0..4).prop_map(|v| v.concat())),
        1 => prop::collection::vec(any::<u8>(), 0..128),
    ];
    runner(256)
        .run(&vars, |vars| {
            prepare(b"job \"a\" {\n  x = var.x\n}\n", &vars);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_hcl_corpus_replays() {
    for (path, bytes) in corpus("hcl") {
        eprintln!("{}", path.display());
        prepare(&bytes, b"x = 1\n");
        prepare(b"job \"a\" {}\n", &bytes);
    }
}
