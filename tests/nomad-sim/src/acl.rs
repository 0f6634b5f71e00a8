//! ACLs (off unless a bootstrap token is given): tokens with per-namespace and per-node-pool
//! capabilities, the management-only checks of the ACL, namespace and node pool writes, the
//! uniform `403 Permission denied` and the `400 ACL support disabled` of every ACL endpoint
//! while ACLs are off (docs/nomad-api.md).
//!
//! Workload identities: a token bound to a job, whose capabilities are those of the ACL
//! policies whose `JobACL` names that job (`policy.rs` reads their rules), plus the implicit
//! read of `nomad/jobs/<job>` variables; and the Task API socket's rule that every request
//! carries a known token.

use std::collections::{HashMap, HashSet};

use axum::http::HeaderMap;
use serde_json::Value;

use crate::http::ApiError;
use crate::policy::Grants;

#[derive(Default)]
pub(crate) struct Acl {
    enabled: bool,
    tokens: HashMap<String, Token>,
    /// Workload identities' secrets → the job each belongs to.
    identities: HashMap<String, Identity>,
    /// ACL policies with a `JobACL`, by name: what they grant that job's identities.
    job_policies: HashMap<String, JobPolicy>,
}

/// The job a workload identity was issued to.
struct Identity {
    namespace: String,
    job: String,
}

/// A policy attached to a job (Nomad's `JobACL`): an empty `job` means every job of the
/// namespace. One naming a group or a task never applies: the simulator's identities are a
/// job's, not a task's.
struct JobPolicy {
    namespace: String,
    job: String,
    task_scoped: bool,
    grants: Grants,
}

impl JobPolicy {
    fn applies_to(&self, id: &Identity) -> bool {
        !self.task_scoped
            && self.namespace == id.namespace
            && (self.job.is_empty() || self.job == id.job)
    }
}

#[derive(Default)]
struct Token {
    management: bool,
    /// namespace (or `*`) → capabilities.
    caps: HashMap<String, HashSet<String>>,
}

/// Who is asking: resolved once per request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Caller {
    Management,
    Token(String),
    Anonymous,
}

impl Acl {
    pub(crate) fn bootstrap(secret: &str) -> Self {
        let mut acl = Self {
            enabled: true,
            ..Self::default()
        };
        acl.tokens.insert(
            secret.to_owned(),
            Token {
                management: true,
                ..Token::default()
            },
        );
        acl
    }

    /// Adds a client token from rules such as `namespace:prod:read-job,submit-job` or
    /// `namespace:*:list-jobs`; `variables:*:read,write` grants variable capabilities and
    /// `node_pool:gpu:read,write,delete` node pool ones. Client tokens link no ACL policy or
    /// role, so they read none (Nomad shows a token only the policies and roles it links).
    pub(crate) fn add_token(&mut self, secret: &str, rules: &[&str]) {
        let mut token = Token::default();
        for rule in rules {
            let mut parts = rule.splitn(3, ':');
            let (kind, ns, caps) = (parts.next(), parts.next(), parts.next());
            if let (Some(kind), Some(ns), Some(caps)) = (kind, ns, caps) {
                let entry = token.caps.entry(format!("{kind}:{ns}")).or_default();
                entry.extend(caps.split(',').map(str::to_owned));
            }
        }
        self.tokens.insert(secret.to_owned(), token);
    }

    /// Issues a workload identity for `job` in `namespace`. Asking again for the same job is
    /// a renewal: a new token, the old one staying valid (a JWT is good until it expires)
    /// until [`Acl::expire_identity`].
    pub(crate) fn issue_identity(&mut self, secret: &str, namespace: &str, job: &str) {
        let identity = Identity {
            namespace: namespace.to_owned(),
            job: job.to_owned(),
        };
        self.identities.insert(secret.to_owned(), identity);
    }

    /// The identity's token expired or its allocation stopped: it no longer authenticates.
    /// False when there was no such identity.
    pub(crate) fn expire_identity(&mut self, secret: &str) -> bool {
        self.identities.remove(secret).is_some()
    }

    /// Keeps what an ACL policy grants job identities in step with its record: called after
    /// every write of policy `name` (`None`: deleted). A policy without a `JobACL` applies to
    /// no identity; rules that do not parse grant nothing.
    pub(crate) fn policy_written(&mut self, name: &str, policy: Option<&Value>) {
        self.job_policies.remove(name);
        let Some(policy) = policy else { return };
        let job_acl = &policy["JobACL"];
        let field = |key: &str| job_acl[key].as_str().unwrap_or_default().to_owned();
        let namespace = field("Namespace");
        if namespace.is_empty() {
            return;
        }
        let job_policy = JobPolicy {
            namespace,
            job: field("JobID"),
            task_scoped: !field("Group").is_empty() || !field("Task").is_empty(),
            grants: Grants::parse(policy["Rules"].as_str().unwrap_or_default()),
        };
        self.job_policies.insert(name.to_owned(), job_policy);
    }

    /// The caller named by `X-Nomad-Token` (or `Authorization: Bearer`), as Nomad resolves it.
    pub(crate) fn caller(&self, headers: &HeaderMap) -> Caller {
        if !self.enabled {
            return Caller::Management;
        }
        match request_token(headers) {
            Some(t) if self.tokens.get(&t).is_some_and(|tok| tok.management) => Caller::Management,
            Some(t) if self.knows(&t) => Caller::Token(t),
            Some(_) => Caller::Token(String::new()),
            None => Caller::Anonymous,
        }
    }

    fn knows(&self, secret: &str) -> bool {
        self.tokens.contains_key(secret) || self.identities.contains_key(secret)
    }

    /// The Task API socket authenticates every request before routing it, ACLs on or off
    /// (`command/agent/http.go`, authMiddleware): no token is `401 Unauthorized`, a token
    /// that is neither an ACL token nor a workload identity `403 Forbidden`.
    pub(crate) fn task_api_auth(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match request_token(headers) {
            None => Err(ApiError::new(401, "Unauthorized")),
            Some(t) if self.knows(&t) => Ok(()),
            Some(_) => Err(ApiError::new(403, "Forbidden")),
        }
    }

    /// Every `/v1/acl/` endpoint refuses to work while ACLs are off (`nomad/acl_endpoint.go`).
    pub(crate) fn require_enabled(&self) -> Result<(), ApiError> {
        if self.enabled {
            Ok(())
        } else {
            Err(ApiError::bad_request("ACL support disabled"))
        }
    }

    /// ACL policy and role writes, and namespace writes, need a management token.
    pub(crate) fn require_management(caller: &Caller) -> Result<(), ApiError> {
        if *caller == Caller::Management {
            Ok(())
        } else {
            Err(ApiError::permission_denied())
        }
    }

    /// Whether the caller holds any capability in namespace `ns`: what reading the namespace's
    /// record needs (`AllowNamespace` in Nomad).
    pub(crate) fn sees_namespace(&self, caller: &Caller, ns: &str) -> bool {
        match caller {
            Caller::Management => true,
            Caller::Anonymous => false,
            Caller::Token(t) => {
                let token = self.tokens.get(t).is_some_and(|tok| {
                    [ns, "*"].iter().any(|n| {
                        tok.caps
                            .get(&format!("namespace:{n}"))
                            .is_some_and(|c| !c.is_empty())
                    })
                });
                token || self.identity_grants(t).any(|g| g.any_in_namespace(ns))
            }
        }
    }

    /// The grants of the policies attached to the job of identity `secret` (none for a
    /// token that is not an identity).
    fn identity_grants<'a>(&'a self, secret: &str) -> impl Iterator<Item = &'a Grants> {
        let identity = self.identities.get(secret);
        self.job_policies
            .values()
            .filter(move |p| identity.is_some_and(|id| p.applies_to(id)))
            .map(|p| &p.grants)
    }

    /// Checks a namespace capability (`read-job`, `submit-job`, ...), a variable one
    /// (`var:read`, `var:write`) or a node pool one (`pool:read`, `pool:write`, `pool:delete`,
    /// with the pool's name as `namespace`).
    pub(crate) fn check(
        &self,
        caller: &Caller,
        namespace: &str,
        cap: &str,
    ) -> Result<(), ApiError> {
        if self.allows(caller, namespace, cap) {
            Ok(())
        } else {
            Err(ApiError::permission_denied())
        }
    }

    pub(crate) fn allows(&self, caller: &Caller, namespace: &str, cap: &str) -> bool {
        self.permits(caller, namespace, cap, None)
    }

    /// A variable capability (`read`, `write`, `destroy`, `list`) on `path`. Client tokens'
    /// variable rules cover every path; identities' follow their policies' `path` blocks.
    pub(crate) fn check_var(
        &self,
        caller: &Caller,
        namespace: &str,
        path: &str,
        cap: &str,
    ) -> Result<(), ApiError> {
        if self.allows_var(caller, namespace, path, cap) {
            Ok(())
        } else {
            Err(ApiError::permission_denied())
        }
    }

    pub(crate) fn allows_var(
        &self,
        caller: &Caller,
        namespace: &str,
        path: &str,
        cap: &str,
    ) -> bool {
        self.permits(caller, namespace, &format!("var:{cap}"), Some(path))
    }

    fn permits(&self, caller: &Caller, namespace: &str, cap: &str, path: Option<&str>) -> bool {
        let secret = match caller {
            Caller::Management => return true,
            Caller::Anonymous => return false,
            Caller::Token(t) => t,
        };
        if let Some(token) = self.tokens.get(secret) {
            return token.allows(namespace, cap);
        }
        let Some(identity) = self.identities.get(secret) else {
            return false;
        };
        let grants: Vec<&Grants> = self.identity_grants(secret).collect();
        match (cap.split_once(':'), path) {
            (Some(("var", c)), Some(path)) => {
                implicit_variable(identity, namespace, path, c)
                    || Grants::allow_variable(&grants, namespace, path, c)
            }
            (Some(("agent", "read")), _) => grants.iter().any(|g| g.agent_read),
            (Some(("var" | "pool", _)), _) => false,
            _ => Grants::allow_namespace(&grants, namespace, cap),
        }
    }
}

/// A workload identity may always read and list its own job's variables
/// (`nomad/jobs/<job>` and below; `acl/acl.go`).
fn implicit_variable(id: &Identity, namespace: &str, path: &str, cap: &str) -> bool {
    let own = format!("nomad/jobs/{}", id.job);
    namespace == id.namespace
        && matches!(cap, "read" | "list")
        && (path == "nomad/jobs" || path == own || path.starts_with(&format!("{own}/")))
}

impl Token {
    fn allows(&self, namespace: &str, cap: &str) -> bool {
        let token = self;
        let (kind, cap) = match cap.split_once(':') {
            Some(("var", c)) => ("variables", c),
            Some(("pool", c)) => ("node_pool", c),
            _ => ("namespace", cap),
        };
        let lookup = |ns: &str| token.caps.get(&format!("{kind}:{ns}"));
        let granted = |set: Option<&HashSet<String>>| {
            set.is_some_and(|s| {
                s.contains(cap)
                    || (kind == "namespace" && implied_by_submit(cap) && s.contains("submit-job"))
            })
        };
        granted(lookup(namespace)) || granted(lookup("*"))
    }
}

/// `submit-job` implies the read and parse capabilities in Nomad's `write` policy.
fn implied_by_submit(cap: &str) -> bool {
    matches!(cap, "read-job" | "list-jobs" | "parse-job")
}

fn request_token(headers: &HeaderMap) -> Option<String> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(t) = header("X-Nomad-Token").filter(|t| !t.is_empty()) {
        return Some(t.to_owned());
    }
    let auth = header("Authorization")?;
    let (scheme, rest) = auth.split_once(char::is_whitespace)?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.split_whitespace().next().unwrap_or("").to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("X-Nomad-Token", token.parse().unwrap());
        h
    }

    #[test]
    fn disabled_acl_allows_everything() {
        let acl = Acl::default();
        let caller = acl.caller(&headers("garbage"));
        assert!(acl.check(&caller, "prod", "submit-job").is_ok());
    }

    #[test]
    fn capabilities_are_per_namespace() {
        let mut acl = Acl::bootstrap("root");
        acl.add_token("dev", &["namespace:dev:submit-job"]);
        let dev = acl.caller(&headers("dev"));
        assert!(acl.check(&dev, "dev", "read-job").is_ok());
        assert_eq!(
            acl.check(&dev, "prod", "read-job").unwrap_err().text,
            "Permission denied"
        );
        assert!(
            acl.check(&acl.caller(&HeaderMap::new()), "dev", "read-job")
                .is_err()
        );
        assert!(
            acl.check(&acl.caller(&headers("unknown")), "dev", "read-job")
                .is_err()
        );
        assert!(
            acl.check(&acl.caller(&headers("root")), "prod", "submit-job")
                .is_ok()
        );
    }
}
