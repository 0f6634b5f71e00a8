//! A raw HTTP view of the simulator for fidelity tests: status, headers and body exactly as
//! sent, no client library interpretation.

#![allow(dead_code)]

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub struct Raw {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn index(&self) -> u64 {
        self.header("X-Nomad-Index")
            .and_then(|v| v.parse().ok())
            .expect("X-Nomad-Index")
    }
}

/// A plain HTTP client. In a workspace build reqwest's TLS support is compiled in without a
/// crypto provider chosen, so the process-wide one is installed first.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub struct Api {
    pub base: String,
    client: reqwest::Client,
    pub token: Option<String>,
}

impl Api {
    pub fn new(base: String) -> Self {
        Self {
            base,
            client: client(),
            token: None,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Raw {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("X-Nomad-Token", t);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.expect("body");
        Raw {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Raw {
        self.call("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Raw {
        self.call("POST", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Raw {
        self.call("DELETE", path, None).await
    }

    pub async fn register(&self, job: Value) -> Raw {
        self.post("/v1/jobs", json!({ "Job": job })).await
    }

    /// Polls a job until `pred` holds (the simulator's scheduler runs in the background).
    pub async fn wait_job(&self, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let r = self.get(&format!("/v1/job/{id}")).await;
            if r.status == 200 && pred(&r.json()) {
                return r.json();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {id} never reached the expected state");
    }

    /// Polls `path` until its JSON satisfies `pred`.
    pub async fn wait_for(&self, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let r = self.get(path).await;
            if r.status == 200 && pred(&r.json()) {
                return r.json();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{path} never reached the expected state");
    }

    pub async fn wait_deployment(&self, id: &str, status: &str) -> Value {
        for _ in 0..500 {
            let r = self.get(&format!("/v1/job/{id}/deployment")).await;
            let d = r.json();
            if d["Status"] == status {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("deployment of {id} never reached {status}");
    }
}

/// A minimal api-style service job, as drover submits it after parsing.
pub fn service_job(id: &str, image: &str, count: u64) -> Value {
    json!({
        "ID": id,
        "Name": id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "Meta": {"owner": "platform"},
        "TaskGroups": [{
            "Name": "web",
            "Count": count,
            "Update": {"MaxParallel": 1, "MinHealthyTime": 10_000_000_000u64, "AutoRevert": true},
            "Tasks": [{"Name": "server", "Driver": "docker", "Config": {"image": image}}]
        }]
    })
}

/// [`service_job`] whose group rolls out behind `canary` canaries.
pub fn canary_job(id: &str, image: &str, count: u64, canary: u64) -> Value {
    let mut job = service_job(id, image, count);
    job["TaskGroups"][0]["Update"]["Canary"] = json!(canary);
    job
}

pub async fn sim() -> (nomad_sim::Sim, Api) {
    let sim = nomad_sim::Sim::builder()
        .time_scale(1000.0)
        .start()
        .await
        .expect("sim");
    let api = Api::new(sim.url());
    (sim, api)
}
