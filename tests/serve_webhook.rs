//! `POST /webhook` end to end: deliveries from GitHub, GitLab and Gitea, signed or not,
//! matched to the configured sources, reaching the trigger channel or refused.

mod common;

use common::serve::{SECRET, Server, sign, start};
use drover::trigger::{Reason, Trigger};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A GitHub push of `git_ref` to `github.com/<repo>`.
fn github_push(git_ref: &str, repo: &str) -> Vec<u8> {
    serde_json::json!({
        "ref": git_ref,
        "before": "0000000000000000000000000000000000000000",
        "after": "1111111111111111111111111111111111111111",
        "repository": {
            "full_name": repo,
            "clone_url": format!("https://github.com/{repo}.git"),
            "ssh_url": format!("git@github.com:{repo}.git"),
            "html_url": format!("https://github.com/{repo}")
        }
    })
    .to_string()
    .into_bytes()
}

fn github(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("x-github-event", "push".to_owned()),
        ("x-github-delivery", "d-1".to_owned()),
        ("x-hub-signature-256", format!("sha256={}", sign(body))),
    ]
}

fn expect_trigger(server: &mut Server, source: &str) {
    let expected = Trigger {
        source: source.to_owned(),
        reason: Reason::Webhook,
    };
    assert_eq!(server.trigger(), expected);
    server.assert_no_trigger();
}

#[tokio::test]
async fn valid_pushes_of_each_forge_trigger_their_source() {
    let mut server = start("").await;

    let body = github_push("refs/heads/main", "ops/deploy");
    let (code, text) = server.post("/webhook", &github(&body), &body).await;
    assert_eq!((code, text.as_str()), (200, r#"{"triggered":["web"]}"#));
    expect_trigger(&mut server, "web");

    let gitlab = serde_json::json!({
        "object_kind": "tag_push",
        "ref": "refs/tags/v1",
        "project": {
            "git_ssh_url": "git@gitlab.example.com:ops/deploy.git",
            "git_http_url": "https://gitlab.example.com/ops/deploy.git"
        }
    })
    .to_string();
    let headers = [
        ("x-gitlab-event", "Tag Push Hook".to_owned()),
        ("x-gitlab-token", SECRET.to_owned()),
    ];
    let (code, _) = server.post("/webhook", &headers, gitlab.as_bytes()).await;
    assert_eq!(code, 200);
    expect_trigger(&mut server, "tags");

    let gitea = serde_json::json!({
        "ref": "refs/heads/main",
        "repository": {
            "clone_url": "https://gitea.example.com/ops/jobs.git",
            "ssh_url": "ssh://git@gitea.example.com:2222/ops/jobs.git"
        }
    })
    .to_string();
    let headers = [
        ("x-gitea-event", "push".to_owned()),
        ("x-gitea-signature", sign(gitea.as_bytes())),
    ];
    let (code, _) = server.post("/webhook", &headers, gitea.as_bytes()).await;
    assert_eq!(code, 200);
    expect_trigger(&mut server, "gitea");

    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let mut headers = github(ping);
    headers[0].1 = "ping".to_owned();
    assert_eq!(server.post("/webhook", &headers, ping).await.0, 200);
    server.assert_no_trigger();
    server.stop().await;
}

#[tokio::test]
async fn bad_or_missing_signatures_are_refused() {
    let mut server = start("").await;
    let body = github_push("refs/heads/main", "ops/deploy");

    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (code, text) = server.post("/webhook", &github(&body), &tampered).await;
    assert_eq!((code, text.trim()), (401, "bad signature"));

    let wrong_token = [("x-gitlab-token", "not-the-secret".to_owned())];
    assert_eq!(server.post("/webhook", &wrong_token, &body).await.0, 401);

    let unsigned = [("x-github-event", "push".to_owned())];
    let (code, text) = server.post("/webhook", &unsigned, &body).await;
    assert_eq!((code, text.trim()), (401, "missing signature"));

    // A valid signature does not make a malformed signature header of another forge pass.
    let mut mixed = github(&body);
    mixed.push(("x-gitea-signature", "00".to_owned()));
    assert_eq!(server.post("/webhook/web", &mixed, &body).await.0, 401);
    server.assert_no_trigger();
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_verification() {
    let mut server = start("max_webhook_body = 1024").await;
    let mut body = github_push("refs/heads/main", "ops/deploy");
    body.resize(2048, b' ');
    let (code, _) = server.post("/webhook", &github(&body), &body).await;
    assert_eq!(code, 413, "declared by Content-Length");

    // Without a Content-Length the limit applies while reading.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /webhook HTTP/1.1\r\nhost: drover\r\ntransfer-encoding: chunked\r\nx-hub-signature-256: sha256={}\r\nconnection: close\r\n\r\n{:x}\r\n",
        sign(&body),
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("write head");
    tcp.write_all(&body).await.expect("write body");
    tcp.write_all(b"\r\n0\r\n\r\n").await.expect("write end");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.expect("read answer");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    server.assert_no_trigger();
    server.stop().await;
}

#[tokio::test]
async fn pushes_no_source_follows_are_accepted_and_ignored() {
    let mut server = start("").await;
    let cases = [
        github_push("refs/heads/feature", "ops/deploy"),
        github_push("refs/tags/main", "ops/deploy"),
        github_push("refs/heads/main", "ops/other"),
    ];
    for body in &cases {
        let (code, text) = server.post("/webhook", &github(body), body).await;
        assert_eq!(code, 202, "{text}");
        assert!(text.contains(r#""triggered":[]"#), "{text}");
    }
    let issue = br#"{"action":"opened"}"#;
    let mut headers = github(issue);
    headers[0].1 = "issues".to_owned();
    assert_eq!(server.post("/webhook", &headers, issue).await.0, 202);
    server.assert_no_trigger();
    server.stop().await;
}

#[tokio::test]
async fn a_named_source_needs_only_its_branch() {
    let mut server = start("").await;
    // A mirror's URL that matches no source: /webhook/<source> does not look at it.
    let body = github_push("refs/heads/main", "mirror/deploy");
    let (code, _) = server.post("/webhook/gitea", &github(&body), &body).await;
    assert_eq!(code, 200);
    expect_trigger(&mut server, "gitea");

    let other_branch = github_push("refs/heads/dev", "ops/deploy");
    let headers = github(&other_branch);
    assert_eq!(
        server.post("/webhook/web", &headers, &other_branch).await.0,
        202
    );
    assert_eq!(
        server.post("/webhook/nope", &github(&body), &body).await.0,
        404
    );
    // The source name is checked only after the signature.
    assert_eq!(server.post("/webhook/nope", &[], &body).await.0, 401);
    server.assert_no_trigger();
    server.stop().await;
}

#[tokio::test]
async fn without_a_secret_the_webhook_is_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::serve::config(dir.path(), "");
    let mut server = common::serve::start_with(dir, config).await;
    let body = github_push("refs/heads/main", "ops/deploy");
    let (code, text) = server.post("/webhook", &github(&body), &body).await;
    assert_eq!(code, 404, "{text}");
    assert!(text.contains("webhook_secret_file"), "{text}");
    server.assert_no_trigger();
    server.stop().await;
}
