//! `[source.verify]`: the modes, the key files read at load, and their errors.

use std::path::Path;

use super::tests::{ErrorCase, check_errors};
use super::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";

fn source(tag: bool, verify: &str) -> String {
    let follow = if tag { "tag = \"v1\"\n" } else { "" };
    format!(
        "[[source]]\nname = \"prod\"\nurl = \"https://git.example.com/a.git\"\n{follow}[source.verify]\n{verify}"
    )
}

#[test]
fn key_files_are_read_relative_to_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("signers"),
        format!("alice@example.com {KEY}\n"),
    )
    .expect("write");
    let text = source(
        false,
        "mode = \"head\"\nallowed_signers_file = \"signers\"\n",
    );
    let config = Config::parse(&text, &dir.path().join("drover.toml"), &Env::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let verify = config.sources[0].verify.as_ref().expect("verify");
    assert_eq!(verify.mode, VerifyMode::Head);
}

#[test]
fn a_key_file_that_does_not_parse_names_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signers = dir.path().join("signers");
    std::fs::write(
        &signers,
        format!("# ops\na@example.com {KEY}\nb@example.com cert-authority {KEY}\n"),
    )
    .expect("write");
    std::fs::write(dir.path().join("keys.asc"), "no keys here\n").expect("write");
    for (verify, wanted) in [
        (
            "allowed_signers_file = \"signers\"",
            format!("{}:3: `cert-authority`", signers.display()),
        ),
        (
            "openpgp_keys_file = \"keys.asc\"",
            format!(
                "{}:1: no `-----BEGIN",
                dir.path().join("keys.asc").display()
            ),
        ),
        (
            "allowed_signers_file = \"missing\"",
            format!("{}:0: cannot read", dir.path().join("missing").display()),
        ),
    ] {
        let text = source(false, &format!("mode = \"head\"\n{verify}\n"));
        let err = Config::parse(&text, &dir.path().join("drover.toml"), &Env::default())
            .expect_err(verify)
            .to_string();
        assert!(err.starts_with(&wanted), "{err}");
    }
    assert!(Path::new(&signers).exists());
}

#[test]
fn errors() {
    let cases: &[ErrorCase] = &[
        (
            "no keys",
            source(false, "mode = \"head\"\n"),
            4,
            &["`source[0].verify`", "names no keys"],
        ),
        (
            "tag mode without a tag",
            source(false, "mode = \"tag\"\nallowed_signers_file = \"s\"\n"),
            5,
            &["`source[0].verify.mode`", "set `tag`"],
        ),
        (
            "unknown mode",
            source(true, "mode = \"all\"\nallowed_signers_file = \"s\"\n"),
            6,
            &["unknown variant `all`"],
        ),
    ];
    check_errors(cases);
}
