//! The errors of a Nomad API call and how a response is classified into one.
//!
//! Owns the mapping from Nomad's status codes and plain-text error bodies (docs/nomad-api.md)
//! to variants a caller can match on, and [`Error::is_transient`], which the retry loop and the
//! callers use to tell "try again later" from "this request is wrong". Never decides what to do
//! about an error; that is the caller's business.
//!
//! Nomad reports most semantic failures as a 500 with a text body, and a forwarded RPC adds an
//! `rpc error: ` prefix, so classification matches texts with *contains*, never equality.

use std::fmt;

use reqwest::StatusCode;

use crate::config::SecretError;

/// Longest piece of Nomad's text kept in an error: enough for a multi-error validation report,
/// small enough that a proxy's HTML error page does not flood a log line.
pub const MAX_ERROR_TEXT: usize = 4 * 1024;

/// What went wrong in a call to Nomad. Every variant that comes from a response keeps Nomad's
/// text (truncated to [`MAX_ERROR_TEXT`], but for [`Error::Parse`]); none ever contains the ACL
/// token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 404: the job, deployment, evaluation, variable or other object does not exist.
    #[error("not found: {text}")]
    NotFound { text: String },
    /// 403: the token is unknown, expired, or lacks the capability; 401: the Task API socket
    /// got no token at all. `needs` says what the refused call needs, in an ACL policy's words
    /// (`register needs submit-job in namespace prod`): Nomad's text never does.
    #[error("permission denied: {text}{}", needs.as_ref().map(|n| format!(" ({n})")).unwrap_or_default())]
    PermissionDenied { text: String, needs: Option<String> },
    /// A check-and-set register lost: the job changed since its `JobModifyIndex` was read.
    /// Re-plan; never force.
    #[error("check-and-set conflict: {text}")]
    Conflict { text: String },
    /// 409 on a variable: someone else holds its lock, this holder's lease has lapsed, or a
    /// check-and-set index no longer matches.
    #[error("lock conflict: {text}")]
    LockConflict { text: String },
    /// Nomad could not parse the job's HCL (or its variables); the text has `input.hcl:L,C-C`.
    /// Kept whole as read: a warning for each variable set but not declared comes before the
    /// errors, which a cut would drop (render folds those warnings for reports).
    #[error("{text}")]
    Parse { text: String },
    /// The job or request is invalid: a validation multi-error (500) or another 400. Also how
    /// Nomad refuses to delete an object in use ([`Error::is_in_use`]) and answers ACL calls
    /// on a cluster without ACLs ([`Error::is_acl_disabled`]).
    #[error("invalid request: {text}")]
    Validation { text: String },
    /// The cluster has no leader right now (an election is under way); transient.
    #[error("no cluster leader: {text}")]
    NoLeader { text: String },
    /// A gateway or overloaded server: 429, 502, 503, 504; transient.
    #[error("Nomad unavailable (HTTP {status}): {text}")]
    Unavailable { status: u16, text: String },
    /// The request did not complete: connection refused or reset, TLS handshake, timeout.
    /// `detail` spells out the causes (reqwest's own message omits them, and "error sending
    /// request" does not tell an operator that the CA is wrong). The chain is flattened into
    /// `detail` rather than kept as a source, so that reports do not print it twice.
    #[error("cannot reach Nomad ({kind}): {detail}")]
    Transport { kind: TransportKind, detail: String },
    /// A 2xx response whose body is not what this endpoint returns.
    #[error("unexpected response body for {what}: {detail}")]
    Decode { what: &'static str, detail: String },
    /// The token could not be read (its file is missing, empty, not UTF-8, or not a valid header).
    #[error("cannot use the Nomad token: {0}")]
    Token(#[from] TokenError),
    /// Any other non-2xx response.
    #[error("Nomad API error (HTTP {status}): {text}")]
    Api { status: u16, text: String },
}

/// Why a token could not be sent. Never carries the token's value.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Read(#[from] SecretError),
    #[error("the token from {origin} contains characters not allowed in an HTTP header")]
    InvalidHeader { origin: String },
}

/// Which stage of the exchange failed, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// No connection (refused, DNS, TLS handshake): the request was never sent.
    Connect,
    /// The request or the wait for its response took longer than its timeout.
    Timeout,
    /// The connection broke after the request was sent (reset, closed early).
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Other => "connection",
        })
    }
}

impl Error {
    /// Whether the same request may succeed later without any change: no leader, a gateway
    /// error, a broken connection. Everything else needs a different request or a person.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::NoLeader { .. } | Self::Unavailable { .. } | Self::Transport { .. }
        )
    }

    /// Whether Nomad refused the request itself (a job it cannot parse or validate, another
    /// 4xx): sending the same request to the same Nomad would be refused again. A missing
    /// object, a permission, a lost check-and-set or a rate limit are not refusals of the
    /// request: the cluster or the token may change.
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Parse { .. } | Self::Validation { .. } => true,
            Self::Api { status, .. } => (400..500).contains(status),
            _ => false,
        }
    }

    /// Whether the cluster runs without ACLs: every ACL policy and role call then fails with a
    /// 400 `ACL support disabled` ([`Error::Validation`]). Not a refusal of what was sent: the
    /// cluster has nothing to apply ACL objects to.
    pub fn is_acl_disabled(&self) -> bool {
        matches!(self, Self::Validation { text } if text.contains(ACL_DISABLED))
    }

    /// Whether Nomad refused to delete a namespace or node pool because something still uses
    /// it: non-terminal jobs or allocations, variables, volumes, or nodes. Nomad answers a 500
    /// multi-error ([`Error::Validation`]) with one line per reason, such as `namespace "prod"
    /// has non-terminal jobs in regions: [global]` or `node pool "gpu" has nodes in regions:
    /// [global]`, kept in the text.
    pub fn is_in_use(&self) -> bool {
        matches!(self, Self::Validation { text } if IN_USE.iter().any(|m| text.contains(m)))
    }

    /// A short stable name for metrics labels and structured logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::PermissionDenied { .. } => "permission_denied",
            Self::Conflict { .. } => "conflict",
            Self::LockConflict { .. } => "lock_conflict",
            Self::Parse { .. } => "parse",
            Self::Validation { .. } => "validation",
            Self::NoLeader { .. } => "no_leader",
            Self::Unavailable { .. } => "unavailable",
            Self::Transport { .. } => "transport",
            Self::Decode { .. } => "decode",
            Self::Token(_) => "token",
            Self::Api { .. } => "api",
        }
    }

    /// Says what the refused call needed, for a [`Error::PermissionDenied`]; other errors are
    /// returned as they are.
    pub(crate) fn needing(self, what: impl FnOnce() -> String) -> Self {
        match self {
            Self::PermissionDenied { text, needs: None } => Self::PermissionDenied {
                text,
                needs: Some(what()),
            },
            other => other,
        }
    }

    /// Classifies a failed exchange that produced no response.
    pub(crate) fn transport(source: reqwest::Error) -> Self {
        let kind = if source.is_timeout() {
            TransportKind::Timeout
        } else if source.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        };
        let mut detail = source.to_string();
        let mut cause = std::error::Error::source(&source);
        while let Some(c) = cause {
            detail.push_str(": ");
            detail.push_str(&c.to_string());
            cause = c.source();
        }
        Self::Transport { kind, detail }
    }

    /// Classifies a non-2xx response from its status and body (docs/nomad-api.md).
    pub(crate) fn from_response(status: StatusCode, body: &str) -> Self {
        let body = body.trim_end();
        let text = truncate(body);
        match status.as_u16() {
            404 => Self::NotFound { text },
            // The Task API socket answers 401 to a request without a token
            // (`command/agent/http.go`, authMiddleware); Nomad's TCP listener never does.
            401 | 403 => Self::PermissionDenied { text, needs: None },
            409 => Self::LockConflict { text },
            400 if body.contains("Failed to parse job") || body.contains("Job spec is empty") => {
                Self::Parse {
                    text: body.to_owned(),
                }
            }
            400 => Self::Validation { text },
            429 | 502..=504 => Self::Unavailable {
                status: status.as_u16(),
                text,
            },
            500 => classify_500(text),
            other => Self::Api {
                status: other,
                text,
            },
        }
    }
}

/// Nomad's text for any ACL endpoint of a cluster without ACLs (`nomad/acl_endpoint.go`).
const ACL_DISABLED: &str = "ACL support disabled";

/// How Nomad's refusals to delete an object in use read (`nomad/namespace_endpoint.go`,
/// `nomad/node_pool_endpoint.go`).
const IN_USE: [&str; 5] = [
    "has non-terminal jobs in regions",
    "has non-terminal allocations in regions",
    "has variables associated with it in regions",
    "has volumes associated with it in regions",
    "has nodes in regions",
];

/// A 500 is Nomad's answer to almost any server-side failure; the text says which.
fn classify_500(text: String) -> Error {
    if text.contains("Enforcing job modify index") {
        Error::Conflict { text }
    } else if is_no_leader(&text) {
        Error::NoLeader { text }
    } else if text.contains("error occurred") || text.contains("errors occurred") {
        Error::Validation { text }
    } else {
        Error::Api { status: 500, text }
    }
}

fn is_no_leader(text: &str) -> bool {
    text.contains("No cluster leader") || (text.contains("rpc error") && text.contains("no leader"))
}

/// Cuts `text` to at most [`MAX_ERROR_TEXT`] bytes on a character boundary, saying how much
/// was dropped so that a reader knows the report is incomplete.
pub(crate) fn truncate(text: &str) -> String {
    if text.len() <= MAX_ERROR_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> Error {
        Error::from_response(StatusCode::from_u16(status).expect("valid status"), body)
    }

    #[test]
    fn statuses_and_texts_map_to_variants() {
        let cases: &[(u16, &str, &str, bool)] = &[
            (404, "job not found", "not_found", false),
            (403, "Permission denied", "permission_denied", false),
            (401, "Unauthorized", "permission_denied", false),
            (
                500,
                "Enforcing job modify index 12: job exists with conflicting job modify index: 15",
                "conflict",
                false,
            ),
            (
                500,
                "rpc error: Enforcing job modify index 0: job already exists",
                "conflict",
                false,
            ),
            (
                500,
                "1 error occurred:\n\t* Missing job datacenters\n\n",
                "validation",
                false,
            ),
            (
                500,
                "2 errors occurred:\n\t* a\n\t* b\n\n",
                "validation",
                false,
            ),
            (
                400,
                "Failed to parse job: input.hcl:3,5-9: Unsupported argument; x",
                "parse",
                false,
            ),
            (400, "Job spec is empty", "parse", false),
            (400, "Invalid wait time", "validation", false),
            (
                409,
                "{\"Namespace\":\"default\",\"Path\":\"x\"}",
                "lock_conflict",
                false,
            ),
            (500, "No cluster leader", "no_leader", true),
            (
                500,
                "rpc error: failed to forward: no leader",
                "no_leader",
                true,
            ),
            (502, "<html>bad gateway</html>", "unavailable", true),
            (503, "", "unavailable", true),
            (504, "", "unavailable", true),
            (429, "", "unavailable", true),
            (
                500,
                "job \"web\" is in nonexistent namespace \"prod\"",
                "api",
                false,
            ),
            (405, "Invalid method", "api", false),
        ];
        for (status, body, kind, transient) in cases {
            let err = classify(*status, body);
            assert_eq!(err.kind(), *kind, "{status} {body:?} gave {err:?}");
            assert_eq!(err.is_transient(), *transient, "{status} {body:?}");
        }
    }

    #[test]
    fn only_what_nomad_refuses_as_such_is_a_refusal() {
        let refused = [
            (
                400,
                "Failed to parse job: input.hcl:3,5-9: Unsupported argument; x",
            ),
            (500, "1 error occurred:\n\t* Missing job datacenters\n\n"),
            (400, "Invalid wait time"),
            (405, "Invalid method"),
        ];
        let not_refused = [
            (404, "job not found"),
            (403, "Permission denied"),
            (500, "Enforcing job modify index 12: job exists"),
            (500, "No cluster leader"),
            (503, ""),
            (429, ""),
            (500, "job \"web\" is in nonexistent namespace \"prod\""),
        ];
        for (status, body) in refused {
            assert!(classify(status, body).is_refusal(), "{status} {body:?}");
        }
        for (status, body) in not_refused {
            assert!(!classify(status, body).is_refusal(), "{status} {body:?}");
        }
    }

    #[test]
    fn acl_disabled_and_in_use_refusals_are_recognised() {
        assert!(classify(400, "ACL support disabled").is_acl_disabled());
        assert!(!classify(403, "Permission denied").is_acl_disabled());
        let in_use = [
            "1 error occurred:\n\t* namespace \"prod\" has non-terminal jobs in regions: [global]\n\n",
            "1 error occurred:\n\t* node pool \"gpu\" has nodes in regions: [global]\n\n",
        ];
        for text in in_use {
            let err = classify(500, text);
            assert!(err.is_in_use(), "{err:?}");
            assert!(err.to_string().contains("in regions: [global]"));
        }
        assert!(!classify(500, "can not delete default namespace").is_in_use());
        assert!(!classify(500, "1 error occurred:\n\t* Missing job datacenters\n\n").is_in_use());
    }

    #[test]
    fn errors_keep_nomads_text() {
        let err = classify(
            500,
            "rpc error: Enforcing job modify index 3: job does not exist",
        );
        assert!(
            err.to_string()
                .contains("Enforcing job modify index 3: job does not exist")
        );
        let err = classify(400, "Failed to parse job: input.hcl:1,1-2: Bad");
        assert_eq!(err.to_string(), "Failed to parse job: input.hcl:1,1-2: Bad");
    }

    #[test]
    fn long_texts_are_truncated_on_a_char_boundary() {
        let body = "é".repeat(MAX_ERROR_TEXT); // two bytes each
        let Error::Api { text, .. } = classify(500, &body) else {
            panic!("expected Api")
        };
        assert!(text.len() < MAX_ERROR_TEXT + 32);
        assert!(text.ends_with(&format!("… ({} more bytes)", MAX_ERROR_TEXT)));
        assert_eq!(truncate("short"), "short");
        let warning = "<nil>: Undefined variable; A \"x\" variable was set but was not found in known variables.\n";
        let body = format!(
            "Failed to parse job: {}input.hcl:3,5-9: Unsupported argument; the error",
            warning.repeat(100)
        );
        let Error::Parse { text } = classify(400, &body) else {
            panic!("expected Parse")
        };
        assert!(
            text.ends_with("the error"),
            "a parse error's errors follow its warnings and are kept"
        );
    }
}
