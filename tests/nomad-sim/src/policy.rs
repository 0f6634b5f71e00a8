//! ACL policy rules, read for what they grant workload identities: `namespace "NAME"` blocks
//! (a `*` glob allowed) with `policy = "deny|read|write|scale"` and `capabilities = [...]`,
//! their `variables { path "GLOB" { capabilities = [...] } }`, and `agent { policy = "read" }`
//! (`acl/policy.go`). Only HCL rules are read; JSON rules and every other block (`node_pool`,
//! `node`, `operator`, `quota`, `plugin`, `host_volume`) grant nothing here.
//!
//! Owns the reading and the matching; never decides who holds a policy (that is `acl.rs`).
//! Unlike Nomad, which takes the most specific matching namespace or path glob, the grants of
//! every matching block add up; a `deny` among them still wins.

use std::collections::HashSet;

use hcl::{Body, Expression};

/// What one policy's rules grant.
#[derive(Default)]
pub(crate) struct Grants {
    /// (namespace glob, capabilities).
    namespaces: Vec<(String, HashSet<String>)>,
    /// (namespace glob, path glob, variable capabilities).
    variables: Vec<(String, String, HashSet<String>)>,
    pub(crate) agent_read: bool,
}

const DENY: &str = "deny";

/// `expandNamespacePolicy` in `acl/policy.go`, for the capabilities the simulator checks.
fn namespace_policy(policy: &str) -> &'static [&'static str] {
    const READ: &[&str] = &["list-jobs", "parse-job", "read-job"];
    const WRITE: &[&str] = &["list-jobs", "parse-job", "read-job", "submit-job"];
    match policy {
        "deny" => &[DENY],
        "read" => READ,
        "write" => WRITE,
        "scale" => &["read-job"],
        _ => &[],
    }
}

impl Grants {
    /// Reads HCL rules; rules that do not parse (the policy endpoint checked them) grant
    /// nothing.
    pub(crate) fn parse(rules: &str) -> Self {
        let mut grants = Self::default();
        let Ok(body) = hcl::parse(rules) else {
            return grants;
        };
        for block in body.blocks() {
            match block.identifier() {
                "namespace" => {
                    let name = block.labels().first().map_or("", |l| l.as_str());
                    grants.namespace(name, block.body());
                }
                "agent" => {
                    let policy = string(block.body(), "policy");
                    grants.agent_read |= matches!(policy.as_deref(), Some("read" | "write"));
                }
                _ => {}
            }
        }
        grants
    }

    fn namespace(&mut self, name: &str, body: &Body) {
        let mut caps: HashSet<String> = strings(body, "capabilities").into_iter().collect();
        if let Some(policy) = string(body, "policy") {
            caps.extend(namespace_policy(&policy).iter().map(|c| (*c).to_owned()));
        }
        self.namespaces.push((name.to_owned(), caps));
        for variables in body.blocks().filter(|b| b.identifier() == "variables") {
            for path in variables
                .body()
                .blocks()
                .filter(|b| b.identifier() == "path")
            {
                let glob = path.labels().first().map_or("", |l| l.as_str());
                let mut caps: HashSet<String> =
                    strings(path.body(), "capabilities").into_iter().collect();
                // `read` implies `list` (`expandVariablesCapabilities`).
                if caps.contains("read") {
                    caps.insert("list".to_owned());
                }
                self.variables
                    .push((name.to_owned(), glob.to_owned(), caps));
            }
        }
    }

    /// Whether any capability at all is granted in namespace `ns` (reading its record).
    pub(crate) fn any_in_namespace(&self, ns: &str) -> bool {
        self.namespaces
            .iter()
            .any(|(glob, caps)| glob_match(glob, ns) && !caps.is_empty() && !caps.contains(DENY))
    }

    /// A namespace capability from several policies. Asked for `*` (a list across
    /// namespaces), any namespace granting it will do, as Nomad then filters per namespace.
    pub(crate) fn allow_namespace(all: &[&Self], ns: &str, cap: &str) -> bool {
        if ns == "*" {
            return all
                .iter()
                .flat_map(|g| &g.namespaces)
                .any(|(_, caps)| caps.contains(cap) && !caps.contains(DENY));
        }
        let caps: Vec<&HashSet<String>> = all
            .iter()
            .flat_map(|g| &g.namespaces)
            .filter(|(glob, _)| glob_match(glob, ns))
            .map(|(_, caps)| caps)
            .collect();
        !caps.iter().any(|c| c.contains(DENY)) && caps.iter().any(|c| c.contains(cap))
    }

    /// A variable capability on `path` in `ns` from several policies.
    pub(crate) fn allow_variable(all: &[&Self], ns: &str, path: &str, cap: &str) -> bool {
        let caps: Vec<&HashSet<String>> = all
            .iter()
            .flat_map(|g| &g.variables)
            .filter(|(ns_glob, path_glob, _)| {
                glob_match(ns_glob, ns) && glob_match(path_glob, path)
            })
            .map(|(_, _, caps)| caps)
            .collect();
        !caps.iter().any(|c| c.contains(DENY)) && caps.iter().any(|c| c.contains(cap))
    }
}

fn string(body: &Body, key: &str) -> Option<String> {
    body.attributes()
        .find(|a| a.key() == key)
        .and_then(|a| match a.expr() {
            Expression::String(s) => Some(s.clone()),
            _ => None,
        })
}

fn strings(body: &Body, key: &str) -> Vec<String> {
    let Some(Expression::Array(items)) =
        body.attributes().find(|a| a.key() == key).map(|a| a.expr())
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|e| match e {
            Expression::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// Nomad's policy globs: `*` matches any run of characters, everything else itself.
pub(crate) fn glob_match(glob: &str, value: &str) -> bool {
    let mut parts = glob.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("drover/*", "drover/leader"));
        assert!(!glob_match("drover/*", "nomad/jobs"));
        assert!(glob_match("prod", "prod"));
        assert!(!glob_match("prod", "prod-eu"));
        assert!(glob_match("prod-*-a", "prod-eu-a"));
        assert!(!glob_match("a*a", "a"));
    }

    #[test]
    fn rules_grant_namespace_variable_and_agent_capabilities() {
        let grants = Grants::parse(
            r#"
            namespace "prod" {
              policy       = "read"
              capabilities = ["submit-job"]
              variables {
                path "drover/*" { capabilities = ["read", "write"] }
              }
            }
            namespace "secret" { policy = "deny" }
            agent { policy = "read" }
            "#,
        );
        let all = [&grants];
        assert!(Grants::allow_namespace(&all, "prod", "read-job"));
        assert!(Grants::allow_namespace(&all, "prod", "submit-job"));
        assert!(!Grants::allow_namespace(&all, "staging", "read-job"));
        assert!(!Grants::allow_namespace(&all, "secret", "read-job"));
        assert!(Grants::allow_variable(
            &all,
            "prod",
            "drover/leader",
            "write"
        ));
        assert!(Grants::allow_variable(
            &all,
            "prod",
            "drover/leader",
            "list"
        ));
        assert!(!Grants::allow_variable(
            &all,
            "prod",
            "drover/leader",
            "destroy"
        ));
        assert!(!Grants::allow_variable(&all, "prod", "other", "read"));
        assert!(grants.agent_read);
        assert!(grants.any_in_namespace("prod") && !grants.any_in_namespace("secret"));
    }
}
