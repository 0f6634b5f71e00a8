//! ACLs (off unless a bootstrap token is given): tokens with per-namespace and per-node-pool
//! capabilities, the management-only checks of the ACL, namespace and node pool writes, the
//! uniform `403 Permission denied` and the `400 ACL support disabled` of every ACL endpoint
//! while ACLs are off (docs/nomad-api.md).

use std::collections::{HashMap, HashSet};

use axum::http::HeaderMap;

use crate::http::ApiError;

#[derive(Default)]
pub(crate) struct Acl {
    enabled: bool,
    tokens: HashMap<String, Token>,
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

    /// The caller named by `X-Nomad-Token` (or `Authorization: Bearer`), as Nomad resolves it.
    pub(crate) fn caller(&self, headers: &HeaderMap) -> Caller {
        if !self.enabled {
            return Caller::Management;
        }
        match request_token(headers) {
            Some(t) if self.tokens.get(&t).is_some_and(|tok| tok.management) => Caller::Management,
            Some(t) if self.tokens.contains_key(&t) => Caller::Token(t),
            Some(_) => Caller::Token(String::new()),
            None => Caller::Anonymous,
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
            Caller::Token(t) => self.tokens.get(t).is_some_and(|tok| {
                [ns, "*"].iter().any(|n| {
                    tok.caps
                        .get(&format!("namespace:{n}"))
                        .is_some_and(|c| !c.is_empty())
                })
            }),
        }
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
        let token = match caller {
            Caller::Management => return true,
            Caller::Anonymous => return false,
            Caller::Token(t) => match self.tokens.get(t) {
                Some(tok) => tok,
                None => return false,
            },
        };
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
