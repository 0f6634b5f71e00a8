//! Nomad's answers as drover decodes them: every response type from generated JSON (with
//! Nomad's field names, values of any type, deep nesting) and raw bytes; and whole responses,
//! with random status, `X-Nomad-*` headers and body, through the client over HTTP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover::config::Retry;
use drover::nomad::{
    Client, Deployment, DeploymentUpdateResponse, DeregisterResponse, Evaluation, JobStub,
    JobVersions, PlanResponse, Query, RegisterResponse, Variable,
};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{common, runner, timed};

/// Field names of the types decoded, so that generated objects reach nested decoders.
const FIELDS: [&str; 24] = [
    "ID",
    "EvalID",
    "Index",
    "JobModifyIndex",
    "Diff",
    "Type",
    "Fields",
    "Objects",
    "TaskGroups",
    "Tasks",
    "Annotations",
    "DesiredTGUpdates",
    "Status",
    "Meta",
    "Versions",
    "JobVersion",
    "Healthy",
    "DesiredTotal",
    "FailedTGAllocs",
    "Items",
    "Lock",
    "Warnings",
    "Name",
    "Old",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("running".to_owned()),
            Just("failed".to_owned()),
            Just("successful".to_owned()),
            Just("Added".to_owned()),
            Just("None".to_owned()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(&FIELDS[..]).prop_map(String::from),
                        "[A-Za-z]{1,6}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|v| Value::Object(v.into_iter().collect())),
        ]
    })
}

fn decode_as<T: DeserializeOwned>(bytes: &[u8]) {
    let _ = serde_json::from_slice::<T>(bytes);
}

/// Every response type drover reads, from `bytes`.
fn decode(bytes: &[u8]) {
    timed("decode", || {
        decode_as::<RegisterResponse>(bytes);
        decode_as::<DeregisterResponse>(bytes);
        decode_as::<PlanResponse>(bytes);
        decode_as::<Vec<JobStub>>(bytes);
        decode_as::<JobVersions>(bytes);
        decode_as::<Deployment>(bytes);
        decode_as::<Vec<Deployment>>(bytes);
        decode_as::<DeploymentUpdateResponse>(bytes);
        decode_as::<Evaluation>(bytes);
        decode_as::<Variable>(bytes);
        decode_as::<Value>(bytes);
    });
}

#[test]
fn response_bodies_never_panic() {
    let strategy = prop_oneof![
        4 => json().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        1 => prop::collection::vec(any::<u8>(), 0..128),
    ];
    runner(512)
        .run(&strategy, |bytes| {
            decode(&bytes);
            Ok(())
        })
        .unwrap();
}

/// A response as a misbehaving Nomad, or whatever answers at its address, might send it.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fn answer() -> impl Strategy<Value = Answer> {
    let header = (
        prop_oneof![
            Just("X-Nomad-Index".to_owned()),
            Just("X-Nomad-KnownLeader".to_owned()),
            Just("X-Nomad-LastContact".to_owned()),
            Just("Content-Type".to_owned()),
            "X-[A-Za-z]{1,8}",
        ],
        prop_oneof![
            any::<u64>().prop_map(|n| n.to_string().into_bytes()),
            Just(b"-1".to_vec()),
            Just(b"18446744073709551616".to_vec()),
            Just(b"true".to_vec()),
            prop::collection::vec(prop_oneof![0x20..0x7fu8, 0x80..=0xffu8], 0..16),
        ],
    );
    (
        prop_oneof![
            Just(200u16),
            Just(400),
            Just(403),
            Just(404),
            Just(409),
            Just(500),
            100..600u16
        ],
        prop::collection::vec(header, 0..4),
        prop_oneof![
            3 => json().prop_map(|v| serde_json::to_vec(&v).expect("json")),
            1 => prop::collection::vec(any::<u8>(), 0..64),
        ],
    )
        .prop_map(|(status, headers, body)| Answer {
            status,
            headers,
            body,
        })
}

/// A one-connection-at-a-time HTTP server that sends whatever `next` holds.
async fn fake_nomad(next: Arc<Mutex<Option<Answer>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request).await;
            let Some(a) = next.lock().expect("lock").clone() else {
                continue;
            };
            let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", a.status).into_bytes();
            for (name, value) in &a.headers {
                out.extend_from_slice(format!("{name}: ").as_bytes());
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", a.body.len()).as_bytes());
            out.extend_from_slice(&a.body);
            let _ = conn.write_all(&out).await;
        }
    });
    format!("http://{addr}")
}

#[test]
fn responses_over_http_never_panic() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let next = Arc::new(Mutex::new(None));
    let url = rt.block_on(fake_nomad(next.clone()));
    let mut cluster = common::sim::cluster(&url);
    cluster.request_timeout = Duration::from_secs(2);
    cluster.retry = Retry {
        max_retries: 0,
        min_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };
    let client = Client::new(&cluster).expect("client");
    runner(96)
        .run(&answer(), |a| {
            *next.lock().expect("lock") = Some(a);
            timed("client calls", || {
                rt.block_on(async {
                    let q = Query::blocking(3, Duration::from_millis(10));
                    let _ = client.list_jobs(None, &q).await;
                    let _ = client.read_deployment("d", &q).await;
                    let _ = client.read_evaluation("e", &q).await;
                    let _ = client.plan_job(&Value::Null).await;
                    let _ = client.agent_self().await;
                })
            });
            Ok(())
        })
        .unwrap();
}
