//! Git paths and globs: a source's `paths`/`exclude` globs compiled and matched against paths
//! with `..`, `//`, backslashes and unicode, and [`join`], which confines `file()` paths.

use drover::source::{FileError, Selection, join};
use proptest::prelude::*;

use super::{runner, timed};

fn glob() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("**"),
            Just("*"),
            Just("?"),
            Just("/"),
            Just("//"),
            Just(".."),
            Just("["),
            Just("]"),
            Just("[!a-z]"),
            Just("{a,b}"),
            Just("{"),
            Just("}"),
            Just("\\"),
            Just(".nomad.hcl"),
            Just("jobs"),
            Just("é"),
            Just("\u{0}"),
        ],
        0..10,
    )
    .prop_map(|parts| parts.concat())
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just(".."),
            Just("."),
            Just(""),
            Just("jobs"),
            Just("a.nomad.hcl"),
            Just("\\"),
            Just("é\u{202e}"),
            Just("\u{0}"),
            Just("a*b"),
            Just("[x]"),
        ],
        0..8,
    )
    .prop_map(|parts| parts.join("/"))
}

#[test]
fn globs_never_panic() {
    let strategy = (
        prop::collection::vec(glob(), 0..4),
        prop::collection::vec(glob(), 0..3),
        prop::collection::vec(path(), 0..8),
    );
    runner(512)
        .run(&strategy, |(paths, exclude, candidates)| {
            timed("globs", || {
                if let Ok(selection) = Selection::new(&paths, &exclude, &[]) {
                    for p in &candidates {
                        let _ = selection.matches(p);
                    }
                }
            });
            Ok(())
        })
        .unwrap();
}

#[test]
fn joined_paths_stay_inside_the_repository() {
    runner(1024)
        .run(&(path(), path()), |(base, relative)| {
            match timed("join", || join(&base, &relative)) {
                Ok(joined) => {
                    prop_assert!(!joined.starts_with('/'), "{joined}");
                    prop_assert!(
                        joined.split('/').all(|p| !matches!(p, "" | "." | ".."))
                            || joined.is_empty(),
                        "{joined}"
                    );
                    prop_assert!(
                        !relative.contains(['\0', '\\']),
                        "{relative}: only the job file's directory, a Git path, may hold NUL or a backslash"
                    );
                }
                Err(e) => prop_assert!(matches!(e, FileError::Escapes { .. }), "{e}"),
            }
            Ok(())
        })
        .unwrap();
}
