//! Headless Chromium driven over the DevTools protocol, for tests that check what a person sees
//! in drover's pages: the text on the page after its script ran, every request it made, any
//! dialog a script opened, and screenshots.
//!
//! The protocol is JSON over a WebSocket: the browser writes the socket's address into
//! `DevToolsActivePort` in its profile directory; a page is a target the test attaches to, and
//! each command names that session.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// How long one protocol answer may take before the test fails instead of hanging.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// The browser program: `DROVER_CHROMIUM`, else Debian's `chromium`.
fn program() -> String {
    std::env::var("DROVER_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// A headless browser with its own empty profile; killed when dropped.
pub struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// What a page did that the test did not ask for.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every URL the page requested: documents, scripts, styles, images, fetches.
    pub requests: Vec<String>,
    /// The messages of `alert`, `confirm` and `prompt` dialogs.
    pub dialogs: Vec<String>,
    /// Load events: one per page loaded, so a reload shows as one more.
    pub loads: usize,
}

/// One tab.
pub struct Page<'a> {
    browser: &'a mut Browser,
    session: String,
    pub seen: Seen,
}

impl Browser {
    pub fn start() -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(program())
            .args([
                "--headless=new",
                // The test may run as root (CI), where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}; the web tests need Chromium (Debian: apt install \
                     chromium; or set DROVER_CHROMIUM to its path)",
                    program()
                )
            });
        let address = devtools_address(profile.path());
        let (host, path) = address.split_once('/').expect("host/path");
        let stream = TcpStream::connect(host).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(ANSWER_WITHIN))
            .expect("read timeout");
        let (socket, _) =
            tungstenite::client(format!("ws://{host}/{path}"), stream).expect("DevTools socket");
        Self {
            child,
            socket,
            next_id: 0,
            _profile: profile,
        }
    }

    /// A new tab, attached, reporting its requests and dialogs.
    pub fn page(&mut self) -> Page<'_> {
        let target = self.call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank"}),
            None,
        );
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
            None,
        );
        let session = attached["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        let mut page = Page {
            browser: self,
            session,
            seen: Seen::default(),
        };
        page.call("Page.enable", json!({}));
        page.call("Network.enable", json!({}));
        page
    }

    /// Sends a command and reads until its answer; events read meanwhile go to `seen`.
    fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
        mut seen: Option<&mut Seen>,
    ) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .expect("send to DevTools");
        loop {
            let message = self.next_message();
            if message["id"] == json!(id) {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            self.note(&message, session, seen.as_deref_mut());
        }
    }

    fn next_message(&mut self) -> Value {
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str()).expect("DevTools JSON");
                }
                Ok(_) => {}
                Err(e) => panic!("no answer from DevTools within {ANSWER_WITHIN:?}: {e}"),
            }
        }
    }

    /// Keeps what a page did; a dialog is dismissed so that the page goes on.
    fn note(&mut self, message: &Value, session: Option<&str>, seen: Option<&mut Seen>) {
        let (Some(seen), Some(session)) = (seen, session) else {
            return;
        };
        if message["sessionId"].as_str() != Some(session) {
            return;
        }
        let params = &message["params"];
        match message["method"].as_str() {
            Some("Page.loadEventFired") => seen.loads += 1,
            Some("Network.requestWillBeSent") => {
                seen.requests
                    .push(params["request"]["url"].as_str().unwrap_or("").to_owned());
            }
            Some("Page.javascriptDialogOpening") => {
                seen.dialogs
                    .push(params["message"].as_str().unwrap_or("").to_owned());
                self.next_id += 1;
                let dismiss = json!({"id": self.next_id, "sessionId": session,
                    "method": "Page.handleJavaScriptDialog", "params": {"accept": false}});
                self.socket
                    .send(Message::text(dismiss.to_string()))
                    .expect("send to DevTools");
            }
            _ => {}
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `host:port/devtools/browser/<id>`, once the browser has written it.
fn devtools_address(profile: &Path) -> String {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + ANSWER_WITHIN;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return format!("127.0.0.1:{port}{path}");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("Chromium did not open its DevTools port within {ANSWER_WITHIN:?}");
}

impl Page<'_> {
    fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.browser
            .call(Some(&session), method, params, Some(&mut self.seen))
    }

    /// Loads `url` and waits for its load event (scripts and styles included).
    pub fn open(&mut self, url: &str) {
        let session = self.session.clone();
        let loads = self.seen.loads;
        let answer = self.call("Page.navigate", json!({"url": url}));
        if let Some(error) = answer.get("errorText") {
            panic!("cannot open {url}: {error}");
        }
        while self.seen.loads == loads {
            let message = self.browser.next_message();
            self.browser
                .note(&message, Some(&session), Some(&mut self.seen));
        }
    }

    /// The value of a JavaScript expression, evaluated in the page.
    pub fn eval(&mut self, expression: &str) -> Value {
        let answer = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        if let Some(thrown) = answer.get("exceptionDetails") {
            panic!("{expression} threw: {thrown}");
        }
        answer["result"]["value"].clone()
    }

    /// The page's text as a person reads it (`innerText` of its body).
    pub fn text(&mut self) -> String {
        self.eval("document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Evaluates `expression` every 200 ms until it is `true`, for at most `within`; the page
    /// is never reloaded meanwhile. Its text at the end when it never was.
    pub fn wait_for(&mut self, expression: &str, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.eval(expression) == json!(true) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(self.text())
    }

    /// A PNG of the whole page, written to `screenshots/<name>.png` in the target directory, so
    /// that a person can look at what the test saw. Its path.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        let answer = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(answer["data"].as_str().expect("image data"))
            .expect("base64 PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

/// `target/web-screenshots` (or under `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("web-screenshots")
}
