//! Tests of the `NOMAD_*` fallbacks, the token's sources, secrets and reading the file.

use std::path::Path;

use super::env::*;
use super::*;

const MINIMAL: &str = "[[source]]\nname = \"a\"\nurl = \"https://git.example.com/a.git\"\n";

fn parse_with(text: &str, env: &Env) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/drover/drover.toml"), env)
}

fn default_cluster(nomad_table: &str, env: &Env) -> Cluster {
    let text = format!("[nomad]\n{nomad_table}\n{MINIMAL}");
    let config = parse_with(&text, env).unwrap_or_else(|e| panic!("{e}"));
    config
        .cluster(DEFAULT_CLUSTER)
        .expect("default cluster")
        .clone()
}

fn token_value(cluster: &Cluster) -> Option<String> {
    cluster
        .token
        .as_ref()
        .map(|t| t.read().unwrap_or_else(|e| panic!("{e}")))
}

type Getter = fn(&Cluster) -> Option<String>;

fn path_string(path: Option<&std::path::PathBuf>) -> Option<String> {
    path.map(|p| p.display().to_string())
}

/// Each variable alone, then with the file's key set: (variable, its value, the key line in
/// `[nomad]`, what the cluster shows for the variable, for the file, the getter).
#[test]
fn every_variable_falls_back_and_the_file_wins() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, &str, &str, Getter)] = &[
        (NOMAD_ADDR, "https://env:4646", "address = \"https://file:4646\"", "https://env:4646/", "https://file:4646/", |c| Some(c.address.to_string())),
        (NOMAD_TOKEN, "env-token", "token_file = \"/run/token\"", "the environment", "/run/token", |c| c.token.as_ref().map(Secret::origin)),
        (NOMAD_REGION, "env-region", "region = \"file-region\"", "env-region", "file-region", |c| c.region.clone()),
        (NOMAD_NAMESPACE, "env-ns", "namespace = \"file-ns\"", "env-ns", "file-ns", |c| c.namespace.clone()),
        (NOMAD_CACERT, "env/ca.pem", "ca_file = \"/file/ca.pem\"", "env/ca.pem", "/file/ca.pem", |c| path_string(c.tls.ca_file.as_ref())),
        (NOMAD_CAPATH, "/env/ca", "ca_path = \"file/ca\"", "/env/ca", "/etc/drover/file/ca", |c| path_string(c.tls.ca_path.as_ref())),
        (NOMAD_TLS_SERVER_NAME, "env.nomad", "tls_server_name = \"file.nomad\"", "env.nomad", "file.nomad", |c| c.tls.server_name.clone()),
        (NOMAD_SKIP_VERIFY, "true", "skip_verify = false", "true", "false", |c| Some(c.tls.skip_verify.to_string())),
    ];
    for (var, value, file_line, from_env, from_file, get) in cases {
        let env = Env::default().with(var, value);
        assert_eq!(
            get(&default_cluster("", &env)).as_deref(),
            Some(*from_env),
            "{var} alone"
        );
        assert_eq!(
            get(&default_cluster(file_line, &env)).as_deref(),
            Some(*from_file),
            "{var} under `{file_line}`"
        );
    }
}

#[test]
fn client_certificate_pair_from_env_and_file() {
    let env = Env::default()
        .with(NOMAD_CLIENT_CERT, "/env/cert.pem")
        .with(NOMAD_CLIENT_KEY, "/env/key.pem");
    let tls = default_cluster("", &env).tls;
    assert_eq!(
        (tls.client_cert.as_deref(), tls.client_key.as_deref()),
        (
            Some(Path::new("/env/cert.pem")),
            Some(Path::new("/env/key.pem"))
        )
    );
    let tls = default_cluster("client_cert = \"/f/cert.pem\"", &env).tls;
    assert_eq!(
        (tls.client_cert.as_deref(), tls.client_key.as_deref()),
        (
            Some(Path::new("/f/cert.pem")),
            Some(Path::new("/env/key.pem"))
        )
    );

    let env = Env::default().with(NOMAD_CLIENT_CERT, "/env/cert.pem");
    let err = parse_with(MINIMAL, &env).expect_err("cert without key");
    let shown = err.to_string();
    assert!(
        matches!(
            err,
            ConfigError::Env {
                var: NOMAD_CLIENT_CERT,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        shown.contains("Both client cert and client key must be provided")
            && shown.contains("NOMAD_CLIENT_KEY"),
        "{shown}"
    );
}

#[test]
fn empty_variables_count_as_unset() {
    let env = VARS.iter().map(|v| (*v, "")).collect::<Env>();
    let cluster = default_cluster("", &env);
    assert_eq!(cluster.address.as_str(), "http://127.0.0.1:4646/");
    assert!(cluster.token.is_none() && cluster.region.is_none() && !cluster.tls.skip_verify);
}

#[test]
fn skip_verify_follows_go_parse_bool() {
    for value in ["1", "t", "T", "TRUE", "true", "True"] {
        assert!(
            default_cluster("", &Env::default().with(NOMAD_SKIP_VERIFY, value))
                .tls
                .skip_verify,
            "{value}"
        );
    }
    for value in ["0", "f", "F", "FALSE", "false", "False"] {
        assert!(
            !default_cluster("", &Env::default().with(NOMAD_SKIP_VERIFY, value))
                .tls
                .skip_verify,
            "{value}"
        );
    }
    for value in ["yes", "on", "2", "tRUE", " true"] {
        let err =
            parse_with(MINIMAL, &Env::default().with(NOMAD_SKIP_VERIFY, value)).expect_err(value);
        assert!(
            matches!(
                err,
                ConfigError::Env {
                    var: NOMAD_SKIP_VERIFY,
                    ..
                }
            ),
            "{value}: {err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("environment variable NOMAD_SKIP_VERIFY: "),
            "{err}"
        );
    }
    // The file wins, so a bad variable it overrides is never looked at.
    assert!(
        default_cluster(
            "skip_verify = true",
            &Env::default().with(NOMAD_SKIP_VERIFY, "maybe")
        )
        .tls
        .skip_verify
    );
}

#[test]
fn bad_nomad_addr_names_the_variable() {
    let err = parse_with(
        MINIMAL,
        &Env::default().with(NOMAD_ADDR, "ftp://nomad.example.com"),
    )
    .expect_err("ftp");
    assert!(
        matches!(
            err,
            ConfigError::Env {
                var: NOMAD_ADDR,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_unix_address_is_the_task_api_socket() {
    let from_env = default_cluster(
        "",
        &Env::default().with(NOMAD_ADDR, "unix:///secrets/api.sock"),
    );
    assert_eq!(
        from_env.unix_socket(),
        Some(std::path::PathBuf::from("/secrets/api.sock"))
    );
    let from_file = default_cluster(
        "address = \"unix:///alloc/my%20task/secrets/api.sock\"",
        &Env::default(),
    );
    assert_eq!(
        from_file.unix_socket(),
        Some(std::path::PathBuf::from("/alloc/my task/secrets/api.sock"))
    );
    assert_eq!(default_cluster("", &Env::default()).unix_socket(), None);
    for bad in ["unix://api.sock", "unix:///", "unix:///s/api.sock?x=1"] {
        let text = format!("[nomad]\naddress = \"{bad}\"\n{MINIMAL}");
        let err = parse_with(&text, &Env::default()).expect_err(bad);
        assert!(
            err.to_string().contains("unix:///secrets/api.sock"),
            "{err}"
        );
    }
}

#[test]
fn tls_beside_a_unix_address_is_refused() {
    let unix = Env::default().with(NOMAD_ADDR, "unix:///secrets/api.sock");
    let text = format!("[nomad]\nca_file = \"/ca.pem\"\n{MINIMAL}");
    let err = parse_with(&text, &unix).expect_err("ca_file");
    let message = err.to_string();
    assert!(
        message.contains("nomad.ca_file") && message.contains("plain HTTP"),
        "{message}"
    );
    let err = parse_with(MINIMAL, &unix.clone().with(NOMAD_SKIP_VERIFY, "1")).expect_err("skip");
    assert!(
        matches!(
            err,
            ConfigError::Env {
                var: NOMAD_SKIP_VERIFY,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(parse_with(MINIMAL, &unix.clone().with(NOMAD_SKIP_VERIFY, "false")).is_ok());
    let text = format!("[nomad]\nskip_verify = false\n{MINIMAL}");
    assert!(parse_with(&text, &unix.with(NOMAD_CACERT, "")).is_ok());
}

#[test]
fn other_clusters_never_read_the_environment() {
    let env = VARS
        .iter()
        .map(|v| (*v, "1"))
        .collect::<Env>()
        .with(NOMAD_ADDR, "https://env:4646");
    let text = format!("[clusters.east]\naddress = \"https://east:4646\"\n{MINIMAL}");
    let config = parse_with(&text, &env).unwrap_or_else(|e| panic!("{e}"));
    let east = config.cluster("east").expect("east");
    assert_eq!(east.address.as_str(), "https://east:4646/");
    assert!(east.token.is_none() && east.region.is_none() && east.namespace.is_none());
    assert!(east.tls.ca_file.is_none() && east.tls.server_name.is_none() && !east.tls.skip_verify);
}

#[test]
fn token_sources_in_order() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, value: &str| {
        std::fs::write(dir.path().join(name), value).unwrap_or_else(|e| panic!("{e}"))
    };
    write("file-token", "from-file\n");
    write("cred", "from-credential");
    write(DEFAULT_TOKEN_CREDENTIAL, "from-default-credential");
    let creds = dir.path().to_str().expect("utf-8 temp dir");
    let file_line = format!(
        "token_file = \"{}\"",
        dir.path().join("file-token").display()
    );
    let all = Env::default()
        .with(CREDENTIALS_DIRECTORY, creds)
        .with(NOMAD_TOKEN, "from-env");
    let no_token = Env::default().with(CREDENTIALS_DIRECTORY, creds);
    let cases = [
        (file_line.as_str(), &all, Some("from-file")),
        ("token_credential = \"cred\"", &all, Some("from-credential")),
        ("", &all, Some("from-env")),
        ("", &no_token, Some("from-default-credential")),
        ("", &Env::default(), None),
    ];
    for (line, env, expected) in cases {
        assert_eq!(
            token_value(&default_cluster(line, env)).as_deref(),
            expected,
            "`{line}`"
        );
    }
    std::fs::remove_file(dir.path().join(DEFAULT_TOKEN_CREDENTIAL))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        default_cluster("", &no_token).token.is_none(),
        "no default credential file"
    );

    let text = format!(
        "[clusters.east]\naddress = \"https://east:4646\"\ntoken_credential = \"cred\"\n{MINIMAL}"
    );
    let config = parse_with(&text, &no_token).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        token_value(config.cluster("east").expect("east")).as_deref(),
        Some("from-credential")
    );
}

#[test]
fn debug_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, "tok-DO-NOT-LEAK-4711\n").unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "[nomad]\ntoken_file = \"{}\"\n{MINIMAL}",
        token_path.display()
    );
    let config = parse_with(&text, &Env::default()).unwrap_or_else(|e| panic!("{e}"));
    config.verify_secrets().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        token_value(&config.clusters[DEFAULT_CLUSTER]).as_deref(),
        Some("tok-DO-NOT-LEAK-4711")
    );
    assert!(!format!("{config:?}").contains("DO-NOT-LEAK"));

    let env = Env::default().with(NOMAD_TOKEN, "env-DO-NOT-LEAK-815");
    let config = parse_with(MINIMAL, &env).unwrap_or_else(|e| panic!("{e}"));
    assert!(!format!("{config:?}").contains("DO-NOT-LEAK"));
    assert!(!format!("{env:?}").contains("DO-NOT-LEAK"));
}

#[test]
fn a_rotated_token_file_is_read_again() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("token");
    std::fs::write(&path, "first-token\n").unwrap_or_else(|e| panic!("{e}"));
    let text = format!("[nomad]\ntoken_file = \"{}\"\n{MINIMAL}", path.display());
    let config = parse_with(&text, &Env::default()).unwrap_or_else(|e| panic!("{e}"));
    let cluster = config.cluster(DEFAULT_CLUSTER).expect("default cluster");
    assert_eq!(token_value(cluster).as_deref(), Some("first-token"));
    // A different length changes the file's stamp even where mtime is coarse.
    std::fs::write(&path, "the-rotated-token\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(token_value(cluster).as_deref(), Some("the-rotated-token"));
}

#[test]
fn verify_secrets_names_the_missing_file() {
    let text = format!(
        "[nomad]\ntoken_file = \"/nonexistent/token\"\n[server]\nwebhook_secret_file = \"hook\"\n{MINIMAL}"
    );
    let config = parse_with(&text, &Env::default()).expect("parsing reads no secret");
    let err = config.verify_secrets().expect_err("missing token file");
    let shown = err.to_string();
    assert!(
        shown.starts_with("token of cluster `default`: ") && shown.contains("/nonexistent/token"),
        "{shown}"
    );
}

#[test]
fn load_reads_the_file_and_enforces_limits() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("drover.toml");
    std::fs::write(&path, format!("[state]\ndir = \"state\"\n{MINIMAL}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let config = Config::load_with(&path, &Env::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (config.path.as_path(), config.state.dir.clone()),
        (path.as_path(), dir.path().join("state"))
    );

    let missing = dir.path().join("missing.toml");
    let err = Config::load_with(&missing, &Env::default()).expect_err("missing");
    assert!(
        matches!(err, ConfigError::Read { .. }) && err.to_string().contains("missing.toml"),
        "{err}"
    );

    let big = format!("{MINIMAL}#{}\n", "x".repeat(MAX_CONFIG_BYTES as usize));
    std::fs::write(&path, big).unwrap_or_else(|e| panic!("{e}"));
    let err = Config::load_with(&path, &Env::default()).expect_err("too large");
    assert!(matches!(err, ConfigError::TooLarge { .. }), "{err:?}");

    std::fs::write(&path, b"[nomad]\nregion = \"\xff\"\n").unwrap_or_else(|e| panic!("{e}"));
    let err = Config::load_with(&path, &Env::default()).expect_err("not UTF-8");
    assert!(matches!(err, ConfigError::NotUtf8 { .. }), "{err:?}");
}
