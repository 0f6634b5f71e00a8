//! Webhook deliveries against the running endpoint: generated push payloads of each forge and
//! random bodies, under each forge's signature header (valid, wrong or garbage), with random
//! event, delivery and unknown headers. Every answer must be one of the documented statuses.

use proptest::prelude::*;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::common::serve::{self, sign};
use super::{runner, timed};

#[derive(Debug, Clone)]
enum Signature {
    None,
    GitHub,
    Gitea,
    GitLab,
    Garbage(String, Vec<u8>),
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    let url = prop_oneof![
        Just(json!("https://github.com/Ops/Deploy.git")),
        Just(json!("git@gitlab.example.com:ops/deploy.git")),
        Just(json!("ssh://git@[::1:2222/x")),
        Just(json!("://@:")),
        Just(json!(null)),
        Just(json!(42)),
        "\\PC{0,24}".prop_map(Value::String),
    ];
    let git_ref = prop_oneof![
        Just(json!("refs/heads/main")),
        Just(json!("refs/tags/v1")),
        Just(json!(["refs/heads/main"])),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    let push = (
        git_ref,
        prop::collection::vec(("[a-z_]{2,10}", url), 0..4),
        any::<bool>(),
    )
        .prop_map(|(git_ref, urls, gitlab)| {
            let table: serde_json::Map<String, Value> = urls.into_iter().collect();
            let key = if gitlab { "project" } else { "repository" };
            serde_json::to_vec(&json!({ "ref": git_ref, key: table })).expect("json")
        });
    prop_oneof![
        4 => push,
        1 => prop::collection::vec(any::<u8>(), 0..128),
        1 => (1..2000usize).prop_map(|depth| {
            format!("{}{}", "{\"ref\":".repeat(depth), "}".repeat(depth)).into_bytes()
        }),
    ]
}

fn signature() -> impl Strategy<Value = Signature> {
    prop_oneof![
        Just(Signature::None),
        Just(Signature::GitHub),
        Just(Signature::Gitea),
        Just(Signature::GitLab),
        (
            prop_oneof![
                Just("x-hub-signature-256".to_owned()),
                Just("x-gitea-signature".to_owned()),
                Just("x-forgejo-signature".to_owned()),
                Just("x-gitlab-token".to_owned()),
            ],
            header_value(),
        )
            .prop_map(|(n, v)| Signature::Garbage(n, v)),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"sha256=".to_vec()),
        Just(b"sha256=zz".to_vec()),
        "[0-9a-fA-F]{0,70}".prop_map(String::into_bytes),
        prop::collection::vec(prop_oneof![0x20..0x7fu8, 0x80..=0xffu8], 0..80),
    ]
}

fn extra_header() -> impl Strategy<Value = (String, Vec<u8>)> {
    (
        prop_oneof![
            Just("x-github-event".to_owned()),
            Just("x-gitlab-event".to_owned()),
            Just("x-gitea-event".to_owned()),
            Just("x-github-delivery".to_owned()),
            Just("x-gitlab-event-uuid".to_owned()),
            Just("content-type".to_owned()),
            "x-[a-z]{1,8}",
        ],
        prop_oneof![
            Just(b"push".to_vec()),
            Just(b"Push Hook".to_vec()),
            Just(b"ping".to_vec()),
            header_value(),
        ],
    )
}

#[test]
fn deliveries_never_panic() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(serve::start(""));
    let strategy = (
        payload(),
        signature(),
        prop::collection::vec(extra_header(), 0..4),
        prop::sample::select(&["/webhook", "/webhook/web", "/webhook/nope", "/webhook/%FF"][..]),
    );
    runner(160)
        .run(&strategy, |(body, signature, extra, path)| {
            let mut headers = reqwest::header::HeaderMap::new();
            let sig = sign(&body);
            let set = |headers: &mut reqwest::header::HeaderMap, name: &str, value: &[u8]| {
                if let Ok(v) = HeaderValue::from_bytes(value) {
                    headers.insert(HeaderName::from_bytes(name.as_bytes()).expect("name"), v);
                }
            };
            match &signature {
                Signature::None => {}
                Signature::GitHub => set(
                    &mut headers,
                    "x-hub-signature-256",
                    format!("sha256={sig}").as_bytes(),
                ),
                Signature::Gitea => set(&mut headers, "x-gitea-signature", sig.as_bytes()),
                Signature::GitLab => set(&mut headers, "x-gitlab-token", serve::SECRET.as_bytes()),
                Signature::Garbage(name, value) => set(&mut headers, name, value),
            }
            for (name, value) in &extra {
                set(&mut headers, name, value);
            }
            let request = server
                .http
                .post(format!("{}{path}", server.url))
                .headers(headers)
                .body(body);
            let status = timed("delivery", || {
                rt.block_on(async { request.send().await.expect("answer").status().as_u16() })
            });
            prop_assert!(
                [200, 202, 400, 401, 404].contains(&status),
                "status {status}"
            );
            Ok(())
        })
        .unwrap();
    rt.block_on(server.stop());
}
