//! Nomad Variables and their locks (docs/nomad-api.md): plain read/write/delete with
//! check-and-set, and lock acquire/renew/release with the server-side lease of 2 × TTL after
//! which the lock lingers for `LockDelay` before the leader releases it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{ApiError, format_go_duration};
use crate::state::{Store, Table};

const DEFAULT_TTL: Duration = Duration::from_secs(15);
const MIN_TTL: Duration = Duration::from_secs(10);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

pub(crate) struct Variable {
    pub items: BTreeMap<String, String>,
    pub lock: Option<Lock>,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

pub(crate) struct Lock {
    pub id: String,
    pub ttl: Duration,
    pub delay: Duration,
    /// Lease clock time at which the lease is lost unless renewed (2 × TTL after the last renew).
    pub expires: Duration,
}

/// A lock request's `Lock` object: TTL and LockDelay as Go duration strings or nanoseconds.
pub(crate) struct LockRequest {
    pub id: Option<String>,
    pub ttl: Duration,
    pub delay: Duration,
}

impl LockRequest {
    pub(crate) fn from_body(body: &Value) -> Result<Self, ApiError> {
        let lock = crate::http::field(body, "Lock");
        let get = |name| lock.and_then(|l| crate::http::field(l, name));
        let ttl = duration(get("TTL"))?.unwrap_or(DEFAULT_TTL);
        let delay = duration(get("LockDelay"))?.unwrap_or(DEFAULT_TTL);
        let id = get("ID")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Ok(Self { id, ttl, delay })
    }
}

fn duration(v: Option<&Value>) -> Result<Option<Duration>, ApiError> {
    let negative = || ApiError::bad_request("Lock delay and TTL must be positive");
    match v {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s.starts_with('-') => Err(negative()),
        Some(Value::String(s)) => crate::http::parse_go_duration(s)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("time: invalid duration \"{s}\""))),
        Some(n) => match n.as_i64() {
            Some(n) if n < 0 => Err(negative()),
            Some(n) => Ok(Some(Duration::from_nanos(n.unsigned_abs()))),
            None => Err(ApiError::bad_request("invalid lock duration")),
        },
    }
}

impl Variable {
    /// A new, empty, unlocked variable written at `index`.
    pub(crate) fn new(index: u64, unix: i64) -> Self {
        Self {
            items: BTreeMap::new(),
            lock: None,
            create_index: index,
            modify_index: index,
            create_time: unix,
            modify_time: unix,
        }
    }

    /// The variable's JSON; items and the lock only when asked for.
    pub(crate) fn to_json(&self, ns: &str, path: &str, items: bool, lock: bool) -> Value {
        let mut v = json!({
            "Namespace": ns, "Path": path,
            "CreateIndex": self.create_index, "CreateTime": self.create_time,
            "ModifyIndex": self.modify_index, "ModifyTime": self.modify_time,
        });
        if let (true, Some(l)) = (lock, &self.lock) {
            v["Lock"] = json!({"TTL": format_go_duration(l.ttl), "LockDelay": format_go_duration(l.delay), "ID": l.id});
        }
        if items && !self.items.is_empty() {
            v["Items"] = json!(self.items);
        }
        v
    }
}

/// The zeroed variable Nomad answers a lock conflict with.
pub(crate) fn conflict_body(ns: &str, path: &str) -> Value {
    json!({"Namespace": ns, "Path": path, "CreateIndex": 0, "CreateTime": 0, "ModifyIndex": 0, "ModifyTime": 0})
}

pub(crate) enum LockError {
    Api(ApiError),
    /// 409 with the zeroed conflict body.
    Conflict,
}

impl From<ApiError> for LockError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

fn key(ns: &str, path: &str) -> (String, String) {
    (ns.to_owned(), path.to_owned())
}

/// `?lock-acquire`: creates the variable or takes its free lock; Items are overwritten.
pub(crate) fn acquire(
    store: &mut Store,
    ns: &str,
    path: &str,
    req: LockRequest,
    items: BTreeMap<String, String>,
    lease_now: Duration,
    unix: i64,
) -> Result<(Value, u64), LockError> {
    if req.ttl < MIN_TTL || req.ttl > MAX_TTL {
        return Err(ApiError::bad_request("TTL must be between 10 seconds and 24 hours").into());
    }
    let held_by_other = store
        .variables
        .get(&key(ns, path))
        .and_then(|v| v.lock.as_ref())
        .is_some_and(|l| req.id.as_deref() != Some(l.id.as_str()));
    if held_by_other {
        return Err(LockError::Conflict);
    }
    let index = store.write(&[Table::Variables]);
    let lock = Lock {
        id: req.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        ttl: req.ttl,
        delay: req.delay,
        expires: lease_now + req.ttl * 2,
    };
    let var = store
        .variables
        .entry(key(ns, path))
        .or_insert_with(|| Variable::new(index, unix));
    var.items = items;
    var.lock = Some(lock);
    var.modify_index = index;
    var.modify_time = unix;
    Ok((var.to_json(ns, path, true, true), index))
}

/// `?lock-renew`: restarts the lease; no raft write.
pub(crate) fn renew(
    store: &mut Store,
    ns: &str,
    path: &str,
    id: &str,
    lease_now: Duration,
) -> Result<Value, ApiError> {
    let var = store
        .variables
        .get_mut(&key(ns, path))
        .ok_or_else(|| ApiError::not_found("variable doesn't exist"))?;
    let lock = var
        .lock
        .as_mut()
        .ok_or_else(|| ApiError::new(409, "variable doesn't hold a lock"))?;
    if lock.id != id || lease_now >= lock.expires {
        return Err(ApiError::new(409, "attempting to modify locked variable"));
    }
    lock.expires = lease_now + lock.ttl * 2;
    Ok(var.to_json(ns, path, false, true))
}

/// `?lock-release`: removes the lock, keeps the data.
pub(crate) fn release(
    store: &mut Store,
    ns: &str,
    path: &str,
    id: &str,
    unix: i64,
) -> Result<(Value, u64), LockError> {
    let var = store
        .variables
        .get(&key(ns, path))
        .ok_or_else(|| ApiError::internal("variable doesn't exist"))?;
    let lock = var
        .lock
        .as_ref()
        .ok_or_else(|| ApiError::internal("variable doesn't hold a lock"))?;
    if lock.id != id {
        return Err(LockError::Conflict);
    }
    let index = store.write(&[Table::Variables]);
    let var = store
        .variables
        .get_mut(&key(ns, path))
        .ok_or_else(|| ApiError::internal("variable doesn't exist"))?;
    var.lock = None;
    var.modify_index = index;
    var.modify_time = unix;
    Ok((var.to_json(ns, path, false, false), index))
}

/// Releases every lock whose lease ran out more than `LockDelay` ago, as the leader's timer does.
pub(crate) fn expire_locks(store: &mut Store, lease_now: Duration, unix: i64) -> bool {
    let lapsed: Vec<(String, String)> = store
        .variables
        .iter()
        .filter(|(_, v)| {
            v.lock
                .as_ref()
                .is_some_and(|l| lease_now >= l.expires + l.delay)
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in &lapsed {
        let index = store.write(&[Table::Variables]);
        if let Some(var) = store.variables.get_mut(k) {
            var.lock = None;
            var.modify_index = index;
            var.modify_time = unix;
        }
    }
    !lapsed.is_empty()
}
