//! What each call drover makes needs from Nomad's ACL system, in the words of an ACL policy
//! (`submit-job in namespace prod`, `variables write on drover/leader`), so that a 403 says
//! which capability to grant instead of Nomad's bare `Permission denied`.
//!
//! Owns that table only, from the endpoint reference (docs/nomad-api.md); never decides
//! whether a call is allowed and never looks at the token: Nomad does that.

use super::transport::Call;

/// What `call`, sent in `namespace` (`None`: `default`), needs: the call's name and the
/// capability, e.g. `register needs submit-job in namespace prod`.
pub(crate) fn needs(call: &Call, namespace: Option<&str>) -> String {
    let ns = namespace.unwrap_or("default");
    let in_ns = |capability: &str| format!("{capability} in namespace {ns}");
    let variable = |capability: &str| {
        let path = call.segments.get(1..).unwrap_or_default().join("/");
        format!("variables {capability} on {path} in namespace {ns}")
    };
    let capability = match call.what {
        "parse" => in_ns("parse-job"),
        "plan" | "register" | "deregister" | "revert" | "promote" | "fail" => in_ns("submit-job"),
        "jobs" => in_ns("list-jobs"),
        "job" | "versions" | "latest deployment" | "deployments" | "deployment" | "evaluation" => {
            in_ns("read-job")
        }
        "variable" => variable("read"),
        "put variable" | "lock-acquire" | "lock-renew" | "lock-release" => variable("write"),
        "delete variable" => variable("destroy"),
        "agent" => "agent read".to_owned(),
        "namespace" | "namespaces" => in_ns("a capability"),
        "node pool" | "node pools" => "node_pool read".to_owned(),
        "put node pool" => "node_pool write".to_owned(),
        "delete node pool" => "node_pool delete".to_owned(),
        // Namespace writes and every ACL policy or role call: only a management token.
        _ => "a management token".to_owned(),
    };
    format!("{} needs {capability}", call.what)
}

#[cfg(test)]
mod tests {
    use reqwest::Method;

    use super::*;
    use crate::nomad::transport::Retry;

    #[test]
    fn calls_name_their_capability_and_scope() {
        let register = Call::new("register", Method::POST, &["jobs"], Retry::Never);
        assert_eq!(
            needs(&register, Some("prod")),
            "register needs submit-job in namespace prod"
        );
        let lock = Call::new(
            "lock-acquire",
            Method::PUT,
            &["var", "drover", "leader"],
            Retry::Transient,
        );
        assert_eq!(
            needs(&lock, None),
            "lock-acquire needs variables write on drover/leader in namespace default"
        );
        let agent = Call::get("agent", &["agent", "self"]);
        assert_eq!(needs(&agent, None), "agent needs agent read");
        let policy = Call::new(
            "put acl policy",
            Method::POST,
            &["acl", "policy", "x"],
            Retry::Transient,
        );
        assert_eq!(
            needs(&policy, None),
            "put acl policy needs a management token"
        );
    }
}
