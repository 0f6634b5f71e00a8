//! `[policy]` and `[source.policy]`: the rules every rendered job must follow before drover
//! plans it. The global table applies to every source; a source's own table replaces the global
//! value key by key. Only shapes are checked here; the `policy` module evaluates the rules.

use serde::Deserialize;

use super::error::ConfigError;
use super::locate::KeyPath;
use super::schema::RawConfig;
use super::{Ctx, Source};

/// The resource keys a task can be required to set explicitly.
pub const RESOURCE_KEYS: [&str; 4] = ["cpu", "cores", "memory", "memory_max"];

/// The rules for one source's jobs. Empty lists and `None` impose nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Task drivers no job may use, e.g. `raw_exec`.
    pub forbidden_drivers: Vec<String>,
    /// Registries (optionally with a path prefix, e.g. `ghcr.io/acme`) that docker and podman
    /// images must come from; empty allows any. `nginx` counts as `docker.io/library/nginx`.
    pub allowed_registries: Vec<String>,
    /// Meta keys every job must set.
    pub required_meta: Vec<String>,
    /// Namespaces jobs may run in; empty allows any.
    pub allowed_namespaces: Vec<String>,
    /// Largest `count` of a task group.
    pub max_count: Option<u64>,
    /// Resource keys (see [`RESOURCE_KEYS`]) every task must set itself, not leave to Nomad's
    /// defaults.
    pub required_resources: Vec<String>,
}

/// One policy table as written; every key optional so that a source's table can leave a key
/// to the global one.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub forbidden_drivers: Option<Vec<String>>,
    pub allowed_registries: Option<Vec<String>>,
    pub required_meta: Option<Vec<String>>,
    pub allowed_namespaces: Option<Vec<String>>,
    pub max_count: Option<u64>,
    pub required_resources: Option<Vec<String>>,
}

/// The rules of a source: its own table's keys over the global table's.
pub(super) fn resolve(
    global: &RawPolicy,
    own: Option<&RawPolicy>,
    key: &KeyPath,
    cx: &Ctx,
) -> Result<Policy, ConfigError> {
    let own = own.cloned().unwrap_or_default();
    let pick = |mine: Option<Vec<String>>, theirs: &Option<Vec<String>>| {
        mine.or_else(|| theirs.clone()).unwrap_or_default()
    };
    let policy = Policy {
        forbidden_drivers: pick(own.forbidden_drivers, &global.forbidden_drivers),
        allowed_registries: pick(own.allowed_registries, &global.allowed_registries),
        required_meta: pick(own.required_meta, &global.required_meta),
        allowed_namespaces: pick(own.allowed_namespaces, &global.allowed_namespaces),
        max_count: own.max_count.or(global.max_count),
        required_resources: pick(own.required_resources, &global.required_resources),
    };
    if let Some(bad) = policy
        .required_resources
        .iter()
        .find(|r| !RESOURCE_KEYS.contains(&r.as_str()))
    {
        let message = format!(
            "`{bad}` is not a resource key; use {}",
            RESOURCE_KEYS.join(", ")
        );
        return Err(cx.invalid(&key.key("required_resources"), message));
    }
    let lists = [
        ("forbidden_drivers", &policy.forbidden_drivers),
        ("allowed_registries", &policy.allowed_registries),
        ("required_meta", &policy.required_meta),
        ("allowed_namespaces", &policy.allowed_namespaces),
    ];
    for (field, list) in lists {
        if list.iter().any(|v| v.trim().is_empty()) {
            return Err(cx.invalid(&key.key(field), "entries must not be empty"));
        }
    }
    Ok(policy)
}

/// Resolves the global table, then each source's rules.
pub(super) fn apply(
    raw: &RawConfig,
    mut sources: Vec<Source>,
    cx: &Ctx,
) -> Result<Vec<Source>, ConfigError> {
    resolve(&raw.policy, None, &KeyPath::root("policy"), cx)?;
    for (i, (source, own)) in sources.iter_mut().zip(&raw.sources).enumerate() {
        let key = KeyPath::root("source").index(i).key("policy");
        source.policy = resolve(&raw.policy, own.policy.as_ref(), &key, cx)?;
    }
    Ok(sources)
}
