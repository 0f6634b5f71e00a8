//! Tests of the Git access keys of `[[source]]`: defaults, where secrets come from, and the
//! keys that do not fit a URL's transport.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const CONFIG_PATH: &str = "/etc/drover/drover.toml";

fn source(extra: &str, url: &str, env: &Env) -> Result<Source, ConfigError> {
    let text = format!("[[source]]\nname = \"a\"\nurl = \"{url}\"\n{extra}");
    let config = Config::parse(&text, Path::new(CONFIG_PATH), env)?;
    Ok(config.sources.into_iter().next().expect("one source"))
}

fn ok(extra: &str, url: &str) -> Source {
    source(extra, url, &Env::default()).unwrap_or_else(|e| panic!("should parse: {e}"))
}

#[test]
fn defaults_leave_access_open_and_limits_set() {
    let s = ok("", "https://git.example.com/a.git");
    let access = &s.access;
    assert!(access.username.is_none() && access.password.is_none() && access.ca_file.is_none());
    assert!(access.ssh_key_file.is_none() && access.known_hosts_file.is_none());
    assert!(!access.insecure_skip_host_key_check);
    let expected = SourceLimits {
        max_file_size: 1024 * 1024,
        max_files: 10_000,
        fetch_timeout: Duration::from_secs(120),
        max_packs: 16,
    };
    assert_eq!(s.limits, expected);
}

#[test]
fn https_password_from_a_file_or_a_credential() {
    let s = ok(
        "username = \"bot\"\npassword_file = \"token\"\nca_file = \"ca.pem\"\n",
        "https://git.example.com/a.git",
    );
    let password = s.access.password.expect("password");
    assert_eq!(password.origin(), "/etc/drover/token");
    assert_eq!(s.access.ca_file, Some(PathBuf::from("/etc/drover/ca.pem")));
    assert_eq!(s.access.username.as_deref(), Some("bot"));

    let env = Env::default().with("CREDENTIALS_DIRECTORY", "/run/credentials/drover.service");
    let s = source(
        "password_credential = \"git\"\n",
        "https://git.example.com/a.git",
        &env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let origin = s.access.password.map(|p| p.origin());
    assert_eq!(
        origin.as_deref(),
        Some("/run/credentials/drover.service/git")
    );
}

#[test]
fn ssh_keys_resolve_against_the_config_directory() {
    let extra =
        "ssh_key_file = \"id\"\nssh_key_passphrase_file = \"pp\"\nknown_hosts_file = \"/k\"\n";
    let s = ok(extra, "git@git.example.com:ops/deploy.git");
    assert_eq!(s.access.ssh_key_file, Some(PathBuf::from("/etc/drover/id")));
    assert_eq!(
        s.access.ssh_key_passphrase_file,
        Some(PathBuf::from("/etc/drover/pp"))
    );
    assert_eq!(s.access.known_hosts_file, Some(PathBuf::from("/k")));
}

#[test]
fn keys_that_do_not_fit_the_transport_are_errors() {
    let https = "https://git.example.com/a.git";
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("password over http", "password_file = \"t\"\n", "http://git.example.com/a.git", &["`source[0].password_file`", "never sent over plain http://"]),
        ("password over ssh", "password_file = \"t\"\n", "ssh://git@h/a.git", &["`source[0].password_file`", "ssh_key_file"]),
        ("both password keys", "password_file = \"t\"\npassword_credential = \"c\"\n", https, &["`source[0].password_credential`", "not both"]),
        ("credential without systemd", "password_credential = \"c\"\n", https, &["CREDENTIALS_DIRECTORY", "password_file"]),
        ("ca over git", "ca_file = \"ca.pem\"\n", "git://h/a.git", &["`source[0].ca_file`", "https"]),
        ("ssh key over https", "ssh_key_file = \"id\"\n", https, &["`source[0].ssh_key_file`", "ssh://"]),
        ("skip check over https", "insecure_skip_host_key_check = true\n", https, &["`source[0].insecure_skip_host_key_check`"]),
        ("passphrase alone", "ssh_key_passphrase_file = \"p\"\n", "git@h:a.git", &["`source[0].ssh_key_passphrase_file`", "needs ssh_key_file"]),
        ("empty username", "username = \" \"\n", https, &["`source[0].username`"]),
        ("zero file size", "max_file_size = 0\n", https, &["`source[0].max_file_size`"]),
        ("zero files", "max_files = 0\n", https, &["`source[0].max_files`"]),
        ("short timeout", "fetch_timeout = \"10ms\"\n", https, &["`source[0].fetch_timeout`"]),
        ("one pack", "max_packs = 1\n", https, &["`source[0].max_packs`"]),
    ];
    for (name, extra, url, fragments) in cases {
        let err = source(extra, url, &Env::default())
            .err()
            .unwrap_or_else(|| panic!("{name}: should fail"));
        let shown = err.to_string();
        // The line of the key: 4, or 5 for the second of two keys.
        assert!(
            shown.starts_with(&format!("{CONFIG_PATH}:4:"))
                || shown.starts_with(&format!("{CONFIG_PATH}:5:")),
            "{name}: {shown}"
        );
        for fragment in *fragments {
            assert!(
                shown.contains(fragment),
                "{name}: {shown:?} lacks {fragment:?}"
            );
        }
    }
}
