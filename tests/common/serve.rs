//! drover's HTTP endpoint started in-process on a loopback port, with a board, metrics, a
//! config built from TOML text and the trigger channel's receiving end, for `tests/serve*.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use drover::config::{Config, Env, Tls};
use drover::metrics::Metrics;
use drover::serve::{ServeContext, serve};
use drover::state::{Recorder, State, Store};
use drover::status::Board;
use drover::trigger::Trigger;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The webhook secret the test configs point at.
pub const SECRET: &str = "s3cret";

/// Three sources on three forges, each followed by its own kind of URL and revision.
pub const SOURCES: &str = r#"
[[source]]
name = "web"
url = "https://github.com/Ops/Deploy.git"
branch = "main"

[[source]]
name = "tags"
url = "git@gitlab.example.com:ops/deploy.git"
tag = "v1"

[[source]]
name = "gitea"
url = "ssh://git@gitea.example.com:2222/ops/jobs.git"
branch = "main"
"#;

/// A running endpoint and what the test needs to drive and observe it.
pub struct Server {
    pub url: String,
    pub board: Board,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    pub triggers: mpsc::UnboundedReceiver<Trigger>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _config: watch::Sender<Arc<Config>>,
}

/// A config of `server_keys` under `[server]` and [`SOURCES`]; relative paths are relative to
/// `dir`, which holds the secret as `webhook-secret`.
pub fn config(dir: &Path, server_keys: &str) -> Config {
    std::fs::write(dir.join("webhook-secret"), format!("{SECRET}\n")).expect("secret file");
    let text = format!("[server]\n{server_keys}\n{SOURCES}");
    Config::parse(&text, &dir.join("drover.toml"), &Env::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Starts the endpoint with `webhook_secret_file = "webhook-secret"` and `server_keys`.
pub async fn start(server_keys: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = format!("webhook_secret_file = \"webhook-secret\"\n{server_keys}");
    let config = config(dir.path(), &keys);
    start_with(dir, config).await
}

/// Starts the endpoint with `config`; every source is on the board, none has passed yet.
pub async fn start_with(dir: tempfile::TempDir, config: Config) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let board = Board::new();
    for source in &config.sources {
        board.add_source(source);
    }
    let config = Arc::new(config);
    let (config_tx, config_rx) = watch::channel(config.clone());
    let (tx, triggers) = mpsc::unbounded_channel();
    let metrics = Arc::new(Metrics::new());
    let recorder = Recorder::new(State::default(), Store::new(dir.path().join("state")));
    let ctx = ServeContext {
        board: board.clone(),
        recorder,
        metrics: metrics.clone(),
        config: config_rx,
        triggers: tx,
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, ctx, shutdown.clone()));
    let scheme = if config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    Server {
        url: format!("{scheme}://{addr}"),
        board,
        metrics,
        config,
        triggers,
        http: http_client(None),
        dir,
        shutdown,
        task,
        _config: config_tx,
    }
}

/// A reqwest client trusting the system roots, or only `ca_file`.
pub fn http_client(ca_file: Option<&Path>) -> reqwest::Client {
    let tls = Tls {
        ca_file: ca_file.map(Path::to_owned),
        ..Tls::default()
    };
    let config = drover::nomad::client_config(&tls, ca_file.is_some()).expect("TLS client config");
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

impl Server {
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    pub async fn post(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .body(body.to_vec());
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let resp = req.send().await.expect("POST");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    /// The next trigger, which must already be waiting.
    pub fn trigger(&mut self) -> Trigger {
        self.triggers.try_recv().expect("a trigger")
    }

    pub fn assert_no_trigger(&mut self) {
        let next = self.triggers.try_recv();
        assert!(next.is_err(), "unexpected trigger {next:?}");
    }

    /// Cancels the endpoint and checks that it drained and returned cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        assert!(
            matches!(ended, Ok(Ok(Ok(())))),
            "serve ended with {ended:?}"
        );
    }
}

/// The hex HMAC-SHA256 of `body` under [`SECRET`], as GitHub and Gitea send it.
pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks the Prometheus text exposition format (0.0.4) line by line: comments, metric and
/// label names, escaped label values, float values, and every sample under a declared TYPE.
/// Returns the sample lines.
pub fn parse_prometheus(text: &str) -> Vec<&str> {
    let is_name = |n: &str| {
        n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut types: BTreeMap<&str, &str> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, value) = (parts.next(), parts.next(), parts.next());
            assert!(name.is_some_and(is_name), "comment {line:?}");
            if kind == Some("TYPE") {
                let known = ["counter", "gauge", "histogram", "summary", "untyped"];
                assert!(known.contains(&value.unwrap_or_default()), "{line:?}");
                types.insert(name.unwrap_or_default(), value.unwrap_or_default());
            } else {
                assert_eq!(kind, Some("HELP"), "{line:?}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "value of {line:?}"
        );
        let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
        assert!(is_name(name), "name of {line:?}");
        let labels = labels
            .strip_suffix('}')
            .unwrap_or_else(|| panic!("{line:?}"));
        let mut rest = labels;
        while !rest.is_empty() {
            let (label, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("{line:?}"));
            assert!(is_name(label), "label of {line:?}");
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => assert!(matches!(chars.next(), Some((_, '\\' | '"' | 'n')))),
                    Some((i, '"')) => break i,
                    Some(_) => {}
                    None => panic!("unterminated label value in {line:?}"),
                }
            };
            rest = after[end + 1..]
                .strip_prefix(',')
                .unwrap_or(&after[end + 1..]);
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(f) == Some(&"histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{line:?} has no TYPE");
        samples.push(line);
    }
    samples
}
