//! Fidelity of variables and their locks (leader election's building block).

mod common;

use std::time::Duration;

use common::sim;
use serde_json::json;

const PATH: &str = "/v1/var/drover/leader";

#[tokio::test]
async fn lock_acquire_conflict_renew_release() {
    let (_sim, api) = sim().await;
    let acquire =
        |ttl: &str| json!({"Items": {"holder": "a"}, "Lock": {"TTL": ttl, "LockDelay": "15s"}});
    let r = api
        .call("PUT", &format!("{PATH}?lock-acquire"), Some(acquire("5s")))
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "TTL must be between 10 seconds and 24 hours")
    );

    let r = api
        .call("PUT", &format!("{PATH}?lock-acquire"), Some(acquire("15s")))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let held = r.json();
    let id = held["Lock"]["ID"].as_str().unwrap().to_owned();
    assert_eq!(held["Lock"]["TTL"], "15s");
    assert_eq!(held["Items"]["holder"], "a");
    assert_eq!(r.index(), held["ModifyIndex"].as_u64().unwrap());

    let r = api
        .call("PUT", &format!("{PATH}?lock-acquire"), Some(acquire("15s")))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json(),
        json!({"Namespace": "default", "Path": "drover/leader", "CreateIndex": 0, "CreateTime": 0, "ModifyIndex": 0, "ModifyTime": 0})
    );
    assert!(r.header("X-Nomad-Index").is_none());

    let r = api
        .call(
            "PUT",
            &format!("{PATH}?lock-renew"),
            Some(json!({"Lock": {"ID": id}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["ModifyIndex"],
        held["ModifyIndex"],
        "renew is not a raft write"
    );
    assert!(r.json().get("Items").is_none());
    let r = api
        .call(
            "PUT",
            &format!("{PATH}?lock-renew"),
            Some(json!({"Lock": {"ID": "wrong"}})),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, "attempting to modify locked variable")
    );

    let r = api
        .call(
            "PUT",
            &format!("{PATH}?lock-release"),
            Some(json!({"Lock": {"ID": id}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().get("Lock").is_none());
    assert!(r.json()["ModifyIndex"].as_u64() > held["ModifyIndex"].as_u64());
    let r = api
        .call(
            "PUT",
            &format!("{PATH}?lock-release"),
            Some(json!({"Lock": {"ID": id}})),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "variable doesn't hold a lock")
    );
    let r = api.get(PATH).await.json();
    assert_eq!(r["Items"]["holder"], "a", "release keeps the data");
}

#[tokio::test]
async fn a_lapsed_lease_lingers_for_the_lock_delay_then_frees_the_lock() {
    let (sim, api) = sim().await;
    let body = json!({"Lock": {"TTL": "10s", "LockDelay": "5s"}});
    let first = api
        .call("PUT", &format!("{PATH}?lock-acquire"), Some(body.clone()))
        .await
        .json();
    let id = first["Lock"]["ID"].as_str().unwrap().to_owned();

    sim.advance(Duration::from_secs(21));
    let r = api
        .call(
            "PUT",
            &format!("{PATH}?lock-renew"),
            Some(json!({"Lock": {"ID": id}})),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, "attempting to modify locked variable"),
        "lease is 2 x TTL"
    );
    let r = api
        .call("PUT", &format!("{PATH}?lock-acquire"), Some(body.clone()))
        .await;
    assert_eq!(r.status, 409, "the lock lingers for LockDelay");

    sim.advance(Duration::from_secs(5));
    let r = api
        .call("PUT", &format!("{PATH}?lock-acquire"), Some(body))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(r.json()["Lock"]["ID"].as_str().unwrap(), id);
}

#[tokio::test]
async fn lock_flag_errors() {
    let (_sim, api) = sim().await;
    let r = api
        .call(
            "PUT",
            &format!("{PATH}?lock-acquire&lock-renew"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "multiple lock operations")
    );
    let r = api
        .call(
            "PUT",
            &format!("{PATH}?lock-acquire&cas=0"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "CAS can't be used with lock operations")
    );
    let r = api
        .call(
            "PUT",
            &format!("{PATH}?lock-renew"),
            Some(json!({"Lock": {"ID": "x"}})),
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (404, "variable doesn't exist"));
    let r = api.call("PUT", PATH, Some(json!({}))).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "variable missing required Items object")
    );
    let r = api.get(PATH).await;
    assert_eq!((r.status, r.body.as_str()), (404, "variable not found"));
    let r = api.call("PATCH", PATH, None).await;
    assert_eq!((r.status, r.body.as_str()), (400, "Invalid method"));
}
