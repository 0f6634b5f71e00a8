//! A drover client for a simulator started by the test, with retries fast enough for tests.

use std::time::Duration;

use drover::config::{Cluster, Retry, Tls};
use drover::nomad::Client;
use nomad_sim::Sim;
use serde_json::{Value, json};

/// The settings of a cluster at `url`, without TLS or token.
pub fn cluster(url: &str) -> Cluster {
    Cluster {
        name: "test".into(),
        address: url.parse().expect("url"),
        token: None,
        region: None,
        namespace: None,
        tls: Tls::default(),
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_response_bytes: 16 * 1024 * 1024,
        blocking_wait: Duration::from_secs(30),
        ui_url: None,
        retry: Retry {
            max_retries: 3,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
        },
    }
}

pub fn client(sim: &Sim) -> Client {
    Client::new(&cluster(&sim.url())).expect("client")
}

/// A service job in Nomad's API JSON, as `/v1/jobs/parse` would return it, owned by drover.
pub fn job(id: &str, image: &str) -> Value {
    json!({
        "ID": id, "Name": id, "Type": "service", "Datacenters": ["dc1"],
        "Meta": {"drover.source": "test", "drover.path": format!("{id}.nomad.hcl"), "drover.commit": "c1"},
        "TaskGroups": [{"Name": "web", "Count": 1, "Tasks": [{
            "Name": "app", "Driver": "docker", "Config": {"image": image},
            "Resources": {"CPU": 100, "MemoryMB": 64}
        }]}]
    })
}
