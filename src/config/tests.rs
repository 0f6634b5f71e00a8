//! Tests of the schema, defaults, validation messages and the example file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const CONFIG_PATH: &str = "/etc/drover/drover.toml";
const MINIMAL: &str = "[[source]]\nname = \"a\"\nurl = \"https://git.example.com/a.git\"\n";

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(CONFIG_PATH), &Env::default())
}

pub(super) fn parse_ok(text: &str) -> Config {
    parse(text).unwrap_or_else(|e| panic!("config should parse: {e}"))
}

#[test]
fn defaults() {
    let config = parse_ok(MINIMAL);
    let nomad = config.cluster(DEFAULT_CLUSTER).expect("default cluster");
    assert_eq!(nomad.address.as_str(), "http://127.0.0.1:4646/");
    assert!(nomad.token.is_none() && nomad.region.is_none() && nomad.namespace.is_none());
    assert!(
        nomad.tls.ca_file.is_none() && nomad.tls.client_cert.is_none() && !nomad.tls.skip_verify
    );
    assert_eq!(
        (nomad.request_timeout, nomad.connect_timeout),
        (Duration::from_secs(30), Duration::from_secs(5))
    );
    let retry = &nomad.retry;
    assert_eq!(
        (retry.max_retries, retry.min_delay, retry.max_delay),
        (4, Duration::from_millis(250), Duration::from_secs(10))
    );

    let source = &config.sources[0];
    assert_eq!(source.revision, Revision::Branch("main".into()));
    assert_eq!(source.paths, ["**/*.nomad.hcl", "**/*.nomad"]);
    assert!(
        source.exclude.is_empty() && source.var_files.is_empty() && source.variables.is_empty()
    );
    assert_eq!(
        (source.cluster.name.as_str(), source.namespace.as_deref()),
        (DEFAULT_CLUSTER, None)
    );
    assert_eq!(
        (source.poll, source.prune, source.max_prune_fraction),
        (Duration::from_secs(60), false, 0.5)
    );
    assert_eq!(
        (source.self_heal, source.preserve_counts),
        (false, PreserveCounts::Scaled)
    );
    assert_eq!(
        (source.auto_promote, source.rollback_on_failure),
        (false, true)
    );

    assert_eq!(
        config.server.listen,
        "127.0.0.1:9315".parse::<SocketAddr>().expect("addr")
    );
    assert!(config.server.webhook_secret.is_none());
    assert_eq!(config.state.dir, Path::new("/var/lib/drover"));
    let sync = &config.sync;
    assert_eq!(
        (
            sync.max_parallel,
            sync.drift_interval,
            sync.shutdown_timeout
        ),
        (4, Duration::from_secs(300), Duration::from_secs(20))
    );
}

#[test]
fn values_are_read() {
    let text = r#"
[clusters.east]
address = "https://nomad.east.example.com:4646"
[[source]]
name = "platform"
url = "git@git.example.com:ops/deploy.git"
tag = "v1.2.3"
cluster = "east"
variables = { env = "prod", datacenters = ["dc1", "dc2"], ports = { http = 8080 }, debug = true }
poll = "2m"
preserve_counts = "never"
max_prune_fraction = 1
"#;
    let config = parse_ok(text);
    let source = &config.sources[0];
    assert_eq!(
        source.url,
        RepoUrl::Scp("git@git.example.com:ops/deploy.git".into())
    );
    assert_eq!(source.revision, Revision::Tag("v1.2.3".into()));
    assert_eq!(
        source.cluster.address.as_str(),
        "https://nomad.east.example.com:4646/"
    );
    assert_eq!(
        source.variables.get("env").and_then(toml::Value::as_str),
        Some("prod")
    );
    let dcs = source
        .variables
        .get("datacenters")
        .and_then(toml::Value::as_array);
    assert_eq!(dcs.map(Vec::len), Some(2));
    assert_eq!(
        source.variables.get("debug").and_then(toml::Value::as_bool),
        Some(true)
    );
    assert_eq!(
        (source.poll, source.preserve_counts),
        (Duration::from_secs(120), PreserveCounts::Never)
    );
    assert_eq!(source.max_prune_fraction, 1.0);
    assert!(config.cluster("east").is_some() && config.cluster("west").is_none());
}

#[test]
fn relative_paths_are_anchored_to_the_config_directory() {
    let text = format!(
        "[nomad]\ntoken_file = \"secrets/token\"\nca_file = \"./tls/ca.pem\"\n[state]\ndir = \"state\"\n\
         [server]\nwebhook_secret_file = \"/abs/hook\"\n{MINIMAL}[[source]]\nname = \"b\"\nurl = \".\"\n"
    );
    let config = parse_ok(&text);
    let nomad = config.cluster(DEFAULT_CLUSTER).expect("default cluster");
    assert_eq!(
        nomad.token.as_ref().map(Secret::origin).as_deref(),
        Some("/etc/drover/secrets/token")
    );
    assert_eq!(
        nomad.tls.ca_file.as_deref(),
        Some(Path::new("/etc/drover/tls/ca.pem"))
    );
    assert_eq!(config.state.dir, Path::new("/etc/drover/state"));
    assert_eq!(
        config
            .server
            .webhook_secret
            .as_ref()
            .map(Secret::origin)
            .as_deref(),
        Some("/abs/hook")
    );
    assert_eq!(
        config.sources[1].url,
        RepoUrl::Local(PathBuf::from("/etc/drover"))
    );
}

#[test]
fn repository_urls() {
    let cases = [
        ("https://git.example.com/ops/deploy.git", "url"),
        ("ssh://git@git.example.com/ops/deploy.git", "url"),
        ("file:///srv/git/deploy.git", "url"),
        ("git@git.example.com:ops/deploy.git", "scp"),
        ("../jobs", "local"),
        ("/srv/jobs", "local"),
    ];
    for (url, kind) in cases {
        let config = parse_ok(&format!("[[source]]\nname = \"a\"\nurl = \"{url}\"\n"));
        let got = match &config.sources[0].url {
            RepoUrl::Url(_) => "url",
            RepoUrl::Scp(_) => "scp",
            RepoUrl::Local(_) => "local",
        };
        assert_eq!(got, kind, "{url}");
    }
}

/// A config text, the line its error points at (0: none), and what the message must contain.
pub(super) type ErrorCase<'a> = (&'a str, String, usize, &'a [&'a str]);

pub(super) fn check_errors(cases: &[ErrorCase]) {
    for (name, text, line, fragments) in cases {
        let err = parse(text)
            .err()
            .unwrap_or_else(|| panic!("{name}: should fail"));
        let shown = err.to_string();
        let at = match line {
            0 => format!("{CONFIG_PATH}: "),
            _ => format!("{CONFIG_PATH}:{line}:"),
        };
        assert!(shown.starts_with(&at), "{name}: wrong location: {shown}");
        for fragment in *fragments {
            assert!(
                shown.contains(fragment),
                "{name}: {shown:?} lacks {fragment:?}"
            );
        }
    }
}

#[test]
fn schema_errors_name_file_line_and_key() {
    let src = MINIMAL;
    #[rustfmt::skip]
    let cases: &[ErrorCase] = &[
        ("unknown key", format!("[nomad]\naddres = \"x\"\n{src}"), 2, &["`nomad.addres`", "unknown field"]),
        ("inline token", format!("[nomad]\ntoken = \"s3cr3t\"\n{src}"), 2, &["`nomad.token`", "token_file"]),
        ("unknown table", format!("{src}[sources]\n"), 4, &["`sources`", "[[source]]"]),
        ("wrong type", format!("{src}poll = 60\n"), 4, &["`source[0].poll`", "invalid type"]),
        ("bad duration", format!("{src}[sync]\ndrift_interval = \"5 parsecs\"\n"), 5, &["`sync.drift_interval`", "duration"]),
        ("bad enum", format!("{src}preserve_counts = \"some\"\n"), 4, &["`source[0].preserve_counts`", "scaled"]),
        ("missing url", "[[source]]\nname = \"a\"\n".into(), 1, &["`source[0]`", "missing field `url`"]),
        ("bad listen", format!("{src}[server]\nlisten = \"localhost\"\n"), 5, &["`server.listen`"]),
        ("no sources", "[nomad]\n".into(), 0, &["`source`", "no [[source]]"]),
        ("max_parallel", format!("{src}[sync]\nmax_parallel = 0\n"), 5, &["`sync.max_parallel`", "at least 1"]),
    ];
    check_errors(cases);
}

#[test]
fn source_errors_name_file_line_and_key() {
    let src = MINIMAL;
    #[rustfmt::skip]
    let cases: &[ErrorCase] = &[
        ("duplicate names", format!("{src}{src}"), 5, &["`source[1].name`", "already the name of source[0]"]),
        ("empty name", src.replace("\"a\"", "\"\""), 2, &["`source[0].name`", "must not be empty"]),
        ("bad name", src.replace("\"a\"", "\"a b\""), 2, &["`source[0].name`", "letters, digits"]),
        ("unknown cluster", format!("{src}cluster = \"east\"\n"), 4, &["`source[0].cluster`", "source `a` names cluster `east`"]),
        ("branch and tag", format!("{src}branch = \"main\"\ntag = \"v1\"\n"), 5, &["`source[0].tag`", "at most one of branch, tag and commit"]),
        ("short commit", format!("{src}commit = \"abc123\"\n"), 4, &["`source[0].commit`", "40 hex"]),
        ("bad branch", format!("{src}branch = \"a..b\"\n"), 4, &["`source[0].branch`", "ref name"]),
        ("fraction", format!("{src}max_prune_fraction = 1.5\n"), 4, &["`source[0].max_prune_fraction`", "between 0 and 1"]),
        ("poll zero", format!("{src}poll = \"0s\"\n"), 4, &["`source[0].poll`", "at least 1s"]),
        ("empty paths", format!("{src}paths = []\n"), 4, &["`source[0].paths`", "at least one"]),
        ("climbing path", format!("{src}var_files = [\"a.hcl\", \"../b.hcl\"]\n"), 4, &["`source[0].var_files[1]`", "no `..`"]),
        ("bad variable", format!("{src}variables = {{ \"1x\" = \"v\" }}\n"), 4, &["`source[0].variables.1x`"]),
        ("nan variable", format!("{src}variables = {{ ratios = [1.0, nan] }}\n"), 4, &["`source[0].variables.ratios`", "NaN or infinite"]),
        ("bad scheme", src.replace("https://", "ftp://"), 3, &["`source[0].url`", "unsupported scheme `ftp`"]),
    ];
    check_errors(cases);
}

#[test]
fn cluster_errors_name_file_line_and_key() {
    let src = MINIMAL;
    #[rustfmt::skip]
    let cases: &[ErrorCase] = &[
        ("cert without key", format!("[nomad]\nclient_cert = \"c.pem\"\n{src}"), 2, &["`nomad.client_cert`", "Both client cert and client key must be provided", "`nomad.client_key` or NOMAD_CLIENT_KEY"]),
        ("key without cert", format!("[clusters.e]\naddress = \"http://e:4646\"\nclient_key = \"k.pem\"\n{src}"), 3, &["`clusters.e.client_key`", "set `clusters.e.client_cert`"]),
        ("credential unset", format!("[nomad]\ntoken_credential = \"nomad\"\n{src}"), 2, &["`nomad.token_credential`", "CREDENTIALS_DIRECTORY", "LoadCredential=nomad:"]),
        ("credential path", format!("[nomad]\ntoken_credential = \"a/b\"\n{src}"), 2, &["`nomad.token_credential`", "not a path"]),
        ("two token keys", format!("[nomad]\ntoken_file = \"t\"\ntoken_credential = \"c\"\n{src}"), 3, &["`nomad.token_credential`", "not both"]),
        ("cluster no address", format!("{src}[clusters.east]\nregion = \"e\"\n"), 4, &["`clusters.east.address`", "missing"]),
        ("cluster named default", format!("{src}[clusters.default]\naddress = \"http://x:4646\"\n"), 4, &["`clusters.default`", "[nomad]"]),
        ("bad address", format!("[nomad]\naddress = \"localhost:4646\"\n{src}"), 2, &["`nomad.address`", "http, https or unix"]),
        ("empty region", format!("[nomad]\nregion = \"\"\n{src}"), 2, &["`nomad.region`", "must not be empty"]),
        ("zero timeout", format!("[nomad]\nrequest_timeout = \"0s\"\n{src}"), 2, &["`nomad.request_timeout`", "greater than zero"]),
        ("retry delays", format!("[nomad]\nretry_min_delay = \"1m\"\n{src}"), 2, &["`nomad.retry_min_delay`", "longer than retry_max_delay"]),
    ];
    check_errors(cases);
}

#[test]
fn syntax_errors_have_a_line_and_column() {
    let err = parse(&format!("{MINIMAL}[nomad\n")).expect_err("unclosed table");
    assert!(matches!(&err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!("{CONFIG_PATH}:4:7: ")),
        "{err}"
    );
}

#[test]
fn secrets_in_values_are_not_echoed() {
    let cases = [
        format!("[nomad]\ntoken = \"hunter2\"\n{MINIMAL}"),
        format!("[nomad]\naddress = \"https://u:hunter2@nomad:4646\"\n{MINIMAL}"),
        format!("[nomad]\naddress = \"ht tp://u:hunter2@nomad\"\n{MINIMAL}"),
        MINIMAL.replace("https://", "https://u:hunter2@"),
    ];
    for text in cases {
        let err = parse(&text).expect_err("should fail");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}

#[test]
fn ha_defaults_and_bounds() {
    assert!(parse_ok(MINIMAL).ha.is_none(), "off by default");
    let on = parse_ok(&format!("{MINIMAL}[ha]\nenabled = true\n"));
    let ha = on.ha.expect("enabled");
    assert_eq!(
        (ha.lock_path.as_str(), ha.namespace, ha.ttl),
        ("drover/leader", None, Duration::from_secs(15))
    );
    assert_eq!(ha.cluster.name, DEFAULT_CLUSTER);
    for ttl in ["9s", "25h"] {
        let err = parse(&format!("{MINIMAL}[ha]\nenabled = true\nttl = \"{ttl}\"\n"))
            .expect_err("out of Nomad's bounds")
            .to_string();
        assert!(
            err.contains("`ha.ttl`") && err.contains("10s and 24h"),
            "{err}"
        );
    }
    let err = parse(&format!("{MINIMAL}[ha]\ncluster = \"east\"\n"))
        .expect_err("unknown cluster")
        .to_string();
    assert!(err.contains("`ha.cluster`"), "{err}");
}

#[test]
fn links_for_the_web_pages() {
    let config = parse_ok(&format!(
        "[nomad]\nui_url = \"https://nomad.example.com:4646/\"\n{MINIMAL}commit_url = \"https://github.com/acme/jobs/commit/{{commit}}\"\n"
    ));
    let nomad = config.cluster(DEFAULT_CLUSTER).expect("default cluster");
    assert_eq!(
        nomad.ui_url.as_ref().map(url::Url::as_str),
        Some("https://nomad.example.com:4646/")
    );
    assert_eq!(
        config.sources[0].commit_link("abc").as_deref(),
        Some("https://github.com/acme/jobs/commit/abc")
    );
    let error = parse(&format!(
        "{MINIMAL}commit_url = \"https://github.com/acme/jobs\"\n"
    ))
    .expect_err("no {commit}")
    .to_string();
    assert!(error.contains("must contain {commit}"), "{error}");
    let error = parse("[nomad]\nui_url = \"ftp://nomad\"\n")
        .expect_err("not http")
        .to_string();
    assert!(error.contains("ui_url"), "{error}");
}

#[test]
fn the_ui_token_comes_from_a_file_or_a_credential_not_both() {
    let config = parse_ok(&format!(
        "{MINIMAL}[server]\nui_auth_token_file = \"ui-token\"\n"
    ));
    assert!(config.server.ui_auth_token.is_some());
    let error = parse(&format!(
        "{MINIMAL}[server]\nui_auth_token_file = \"t\"\nui_auth_token_credential = \"t\"\n"
    ))
    .expect_err("both")
    .to_string();
    assert!(
        error.contains("set ui_auth_token_file or ui_auth_token_credential, not both"),
        "{error}"
    );
}
