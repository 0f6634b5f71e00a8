//! Variables: locks (acquire, renew and release), the primitive drover's leader election is
//! built on, so that the cluster's own Raft store decides who leads; and check-and-set writes
//! and deletes, for what every instance must share (the known-bad specs) and for variables
//! applied from Git.
//!
//! Owns the calls and their retry safety; never decides when to renew or what losing the lock
//! means (the election loop does), nor what a shared variable holds.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::blocking::{Queried, Query};
use super::transport::{Call, Retry};
use super::types::{Variable, VariableLock};
use super::{Client, Error};

/// What to acquire a lock with.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// The lease: the holder must renew within it (Nomad allows 10 s to 24 h).
    pub ttl: Duration,
    /// How long a lapsed lock stays in place before another holder may take it.
    pub lock_delay: Duration,
    /// Written to the variable on acquisition (replacing what it held), e.g. who the holder is.
    pub items: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LockBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<&'a BTreeMap<String, String>>,
    lock: VariableLock,
}

impl Client {
    /// `PUT /v1/var/:path?lock-acquire`. Returns the variable with its `Lock.ID`, which renew
    /// and release need. Held by someone else: [`Error::LockConflict`]. Retried: a replay of an
    /// acquisition that went through conflicts with itself, which costs one lease period of
    /// leadership but never gives two holders.
    pub async fn lock_acquire(&self, path: &str, req: &LockRequest) -> Result<Variable, Error> {
        let lock = VariableLock {
            ttl: go_duration(req.ttl),
            lock_delay: go_duration(req.lock_delay),
            id: String::new(),
        };
        let body = LockBody {
            items: Some(&req.items),
            lock,
        };
        self.lock_call(path, "lock-acquire", &body).await
    }

    /// `PUT /v1/var/:path?lock-renew`: extends the lease. Retried: renewing writes nothing to
    /// Raft. A lapsed lease or a wrong ID is [`Error::LockConflict`]: stop acting as leader.
    pub async fn lock_renew(&self, path: &str, lock_id: &str) -> Result<Variable, Error> {
        self.lock_call(path, "lock-renew", &id_body(lock_id)).await
    }

    /// `PUT /v1/var/:path?lock-release`: gives the lock up, keeping the variable. Retried: a
    /// replay after a release that went through fails harmlessly (the lock is gone or held by
    /// another ID, which this one cannot release).
    pub async fn lock_release(&self, path: &str, lock_id: &str) -> Result<Variable, Error> {
        self.lock_call(path, "lock-release", &id_body(lock_id))
            .await
    }

    /// `GET /v1/var/:path`, blocking as `query` says: who holds a lock (its items) and a change
    /// to wait for (a release or a lapse bumps its index). Absent: [`Error::NotFound`]. Retried.
    pub async fn variable(&self, path: &str, query: &Query) -> Result<Queried<Variable>, Error> {
        self.read(Call::get("variable", &segments(path)).query(query))
            .await
    }

    /// Item `item` of the variable at `path`, decoded as JSON, and the index to write it back
    /// with: a default value and 0 when the variable does not exist (or the item does not
    /// decode, which a write then replaces).
    pub async fn variable_item<T: DeserializeOwned + Default>(
        &self,
        path: &str,
        item: &str,
    ) -> Result<(T, u64), Error> {
        match self.variable(path, &Query::now()).await {
            Ok(read) => {
                let value = read
                    .value
                    .items
                    .as_ref()
                    .and_then(|items| items.get(item))
                    .and_then(|text| serde_json::from_str(text).ok())
                    .unwrap_or_default();
                Ok((value, read.value.modify_index))
            }
            Err(Error::NotFound { .. }) => Ok((T::default(), 0)),
            Err(e) => Err(e),
        }
    }

    /// `PUT /v1/var/:path?cas=<index>`: replaces the variable's items only while its
    /// `ModifyIndex` is still `cas` (0: only while it does not exist), so that two writers never
    /// overwrite each other blindly. Someone wrote first: [`Error::LockConflict`] (409); read
    /// again and retry. Retried: a replay of a write that went through conflicts with it.
    pub async fn put_variable(
        &self,
        path: &str,
        items: &BTreeMap<String, String>,
        cas: u64,
    ) -> Result<Variable, Error> {
        let body = PutBody { items };
        let call = Call::new(
            "put variable",
            Method::PUT,
            &segments(path),
            Retry::Transient,
        )
        .param("cas", cas.to_string());
        self.send(call.json(&body)?).await?.json()
    }

    /// `DELETE /v1/var/:path?cas=<index>`: deletes the variable only while its `ModifyIndex`
    /// is still `cas` (0: only while it does not exist, which deletes nothing). Someone wrote
    /// first, or the variable is already gone: [`Error::LockConflict`] (409), as
    /// [`Client::put_variable`] gives. Retried: a replay of a delete that went through
    /// conflicts with it and deletes nothing.
    pub async fn delete_variable(&self, path: &str, cas: u64) -> Result<(), Error> {
        let call = Call::new(
            "delete variable",
            Method::DELETE,
            &segments(path),
            Retry::Transient,
        )
        .param("cas", cas.to_string());
        self.send(call).await.map(drop)
    }

    async fn lock_call(
        &self,
        path: &str,
        operation: &'static str,
        body: &LockBody<'_>,
    ) -> Result<Variable, Error> {
        let call =
            Call::new(operation, Method::PUT, &segments(path), Retry::Transient).flag(operation);
        self.send(call.json(body)?).await?.json()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutBody<'a> {
    items: &'a BTreeMap<String, String>,
}

fn segments(path: &str) -> Vec<&str> {
    let mut segments = vec!["var"];
    segments.extend(path.split('/').filter(|s| !s.is_empty()));
    segments
}

fn id_body(lock_id: &str) -> LockBody<'static> {
    LockBody {
        items: None,
        lock: VariableLock {
            id: lock_id.to_owned(),
            ..Default::default()
        },
    }
}

/// A duration as Go's `time.ParseDuration` reads it: `15s`, `1500ms` (no spaces, unlike
/// humantime's `1m 30s`).
fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", d.as_secs())
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{nanos}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_gos_syntax() {
        assert_eq!(go_duration(Duration::from_secs(15)), "15s");
        assert_eq!(go_duration(Duration::from_secs(90)), "90s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(go_duration(Duration::from_nanos(10)), "10ns");
    }

    #[test]
    fn lock_bodies() {
        let items = BTreeMap::from([("holder".to_owned(), "a".to_owned())]);
        let acquire = LockBody {
            items: Some(&items),
            lock: VariableLock {
                ttl: "15s".into(),
                lock_delay: "5s".into(),
                id: String::new(),
            },
        };
        assert_eq!(
            serde_json::to_value(&acquire).expect("encode"),
            serde_json::json!({"Items": {"holder": "a"}, "Lock": {"TTL": "15s", "LockDelay": "5s"}})
        );
        assert_eq!(
            serde_json::to_value(id_body("x")).expect("encode"),
            serde_json::json!({"Lock": {"ID": "x"}})
        );
    }
}
