//! The Git source over authenticated transports: smart HTTPS through `git http-backend` with
//! HTTP Basic credentials and a private CA, and SSH to a real `sshd` with host-key checking.

mod git;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use drover::source::{Mirror, SourceError};
use git::https::HttpsServer;
use git::repo::Repo;

const JOBS: &str = "paths = [\"jobs/**/*.nomad.hcl\"]\n";
const TOKEN: &str = "glpat-s3cr3t-t0ken";

fn repo() -> (Repo, tempfile::TempDir) {
    let repo = Repo::new();
    repo.write("jobs/web.nomad.hcl", "job \"web\" {}\n");
    repo.commit("first");
    let served = tempfile::tempdir().expect("served");
    repo.bare_clone(served.path());
    (repo, served)
}

fn fetch(url: &str, extra: &str) -> Result<drover::source::Fetched, SourceError> {
    let state = tempfile::tempdir().expect("state");
    let mirror = Mirror::open(&git::source(url, extra), state.path()).expect("open");
    mirror.fetch(&AtomicBool::new(false))
}

#[test]
fn https_with_a_token_and_a_private_ca() {
    let (repo, served) = repo();
    let server = HttpsServer::start(served.path(), "drover", TOKEN);
    let secrets = tempfile::tempdir().expect("secrets");
    let good = secrets.path().join("token");
    let wrong = secrets.path().join("wrong");
    std::fs::write(&good, format!("{TOKEN}\n")).expect("token");
    std::fs::write(&wrong, "not-the-token").expect("token");
    let ca = server.ca_file.display();
    let url = server.url("repo.git");
    let with = |file: &std::path::Path| {
        format!(
            "username = \"drover\"\npassword_file = \"{}\"\nca_file = \"{ca}\"\n",
            file.display()
        )
    };

    let fetched = fetch(&url, &with(&good)).expect("fetch with the token");
    assert_eq!(fetched.commit.to_string(), repo.head());

    let err = fetch(&url, &with(&wrong)).expect_err("wrong token");
    assert!(matches!(err, SourceError::Authentication { .. }), "{err:?}");
    assert!(err.to_string().contains("authentication failed"), "{err}");
    let no_password = format!("ca_file = \"{ca}\"\n");
    let err = fetch(&url, &no_password).expect_err("no token");
    assert!(matches!(err, SourceError::Authentication { .. }), "{err:?}");

    let missing = format!("password_file = \"/nonexistent/token\"\nca_file = \"{ca}\"\n");
    let err = fetch(&url, &missing).expect_err("unreadable password file");
    assert!(matches!(err, SourceError::Credentials { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/token"), "{err}");

    // Without the private CA the server is not trusted.
    let untrusted = format!(
        "username = \"drover\"\npassword_file = \"{}\"\n",
        good.display()
    );
    let err = fetch(&url, &untrusted).expect_err("unknown CA");
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    // The token appears in no error and nowhere in the mirror.
    let state = tempfile::tempdir().expect("state");
    let mirror = Mirror::open(&git::source(&url, &with(&good)), state.path()).expect("open");
    mirror.fetch(&AtomicBool::new(false)).expect("fetch");
    let config = std::fs::read_to_string(mirror.dir().join("config")).expect("config");
    assert!(!config.contains(TOKEN), "{config}");
    assert!(!format!("{err} {err:?} {mirror:?}").contains(TOKEN));
}

#[test]
fn ssh_with_host_key_checking() {
    let Some(sshd) = git::sshd::find() else {
        println!(
            "NOTICE: sshd is not installed; SSH transport test skipped (.ci/run installs openssh-server)"
        );
        return;
    };
    let (repo, served) = repo();
    let server = git::sshd::Sshd::start(&sshd);
    let url = server.url(&served.path().join("repo.git"));
    let key = server.user_key.display();
    let with = |known: &std::path::Path| {
        format!(
            "ssh_key_file = \"{key}\"\nknown_hosts_file = \"{}\"\n",
            known.display()
        )
    };

    let fetched = fetch(&url, &with(&server.known_hosts)).expect("fetch over ssh");
    assert_eq!(fetched.commit.to_string(), repo.head());

    let err = fetch(&url, &with(&server.wrong_known_hosts)).expect_err("changed host key");
    assert!(matches!(err, SourceError::HostKey { .. }), "{err:?}");
    let empty = served.path().join("empty_known_hosts");
    std::fs::write(&empty, "").expect("known_hosts");
    let err = fetch(&url, &with(&empty)).expect_err("unknown host key");
    assert!(matches!(err, SourceError::HostKey { .. }), "{err:?}");

    let lab = format!("ssh_key_file = \"{key}\"\ninsecure_skip_host_key_check = true\n");
    fetch(&url, &lab).expect("host key check skipped");

    let other_key = served.path().join("other");
    std::fs::copy(server.known_hosts.with_file_name("other_key.k"), &other_key).expect("key");
    let wrong_key = format!(
        "ssh_key_file = \"{}\"\nknown_hosts_file = \"{}\"\n",
        other_key.display(),
        server.known_hosts.display()
    );
    let err = fetch(&url, &wrong_key).expect_err("key not authorized");
    assert!(matches!(err, SourceError::Authentication { .. }), "{err:?}");
}

#[test]
fn a_stuck_server_times_out_and_shutdown_interrupts() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let url = format!("git://127.0.0.1:{port}/repo.git");
    let state = tempfile::tempdir().expect("state");
    let source = git::source(&url, &format!("fetch_timeout = \"1s\"\n{JOBS}"));
    let mirror = Mirror::open(&source, state.path()).expect("open");
    let started = Instant::now();
    let err = mirror.fetch(&AtomicBool::new(false)).expect_err("stuck");
    assert!(matches!(err, SourceError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let err = mirror
        .fetch(&AtomicBool::new(true))
        .expect_err("interrupted");
    assert!(matches!(err, SourceError::Interrupted), "{err:?}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    let err = runtime.block_on(async {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        });
        mirror.fetch_async(&token).await
    });
    assert!(matches!(err, Err(SourceError::Interrupted)), "{err:?}");
    drop(listener);
}
