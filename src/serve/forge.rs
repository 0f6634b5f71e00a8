//! Whether a webhook delivery is authentic, and what kind of event it is, from its headers.
//!
//! Owns the three forges' schemes, all keyed by the one shared secret:
//! - Gitea and Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature`, the hex HMAC-SHA256 of the
//!   body. Checked first: Gitea also sends GitHub's header, and its own names the sender better.
//! - GitLab: `X-Gitlab-Token`, the secret itself.
//! - GitHub: `X-Hub-Signature-256`, `sha256=` and the hex HMAC-SHA256 of the body.
//!
//! Every comparison is constant time (`Mac::verify_slice`). Never parses the body and never
//! logs a header value that could be the secret.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The MAC key GitLab tokens are hashed with before comparison; any fixed value works.
const TOKEN_MAC_KEY: &[u8] = b"drover: compare GitLab tokens in constant time";

/// Who sent a delivery, by the signature header it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Forge {
    GitHub,
    GitLab,
    Gitea,
}

impl Forge {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::GitHub => "github",
            Self::GitLab => "gitlab",
            Self::Gitea => "gitea",
        }
    }
}

/// The result of checking a delivery's signature.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Authentic(Forge),
    /// No signature header of any forge.
    Missing,
    Invalid(Forge),
}

/// What a delivery is about, from the forge's event header.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Event {
    /// GitHub's `ping`, sent when a hook is created.
    Ping,
    /// A push of branches or tags (also assumed when no event header is present).
    Push,
    /// Any other event: issues, merge requests, releases...
    Other(String),
}

/// Checks `body` against the delivery's signature with `secret`.
pub(super) fn verify(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Verdict {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    let gitea = header("x-gitea-signature").or_else(|| header("x-forgejo-signature"));
    let (forge, ok) = if let Some(signature) = gitea {
        (Forge::Gitea, hmac_matches(secret, body, signature))
    } else if let Some(token) = header("x-gitlab-token") {
        (Forge::GitLab, token_matches(secret, token.as_bytes()))
    } else if let Some(signature) = header("x-hub-signature-256") {
        let hex = signature.strip_prefix("sha256=");
        (
            Forge::GitHub,
            hex.is_some_and(|h| hmac_matches(secret, body, h)),
        )
    } else {
        return Verdict::Missing;
    };
    if ok {
        Verdict::Authentic(forge)
    } else {
        Verdict::Invalid(forge)
    }
}

/// The event named by whichever forge header is present.
pub(super) fn event(headers: &HeaderMap) -> Event {
    let names = [
        "x-github-event",
        "x-gitea-event",
        "x-forgejo-event",
        "x-gitlab-event",
    ];
    let Some(value) = names.iter().find_map(|n| headers.get(*n)) else {
        return Event::Push;
    };
    let name = value.to_str().unwrap_or_default().to_ascii_lowercase();
    match name.as_str() {
        "ping" => Event::Ping,
        // GitLab says `Push Hook` and `Tag Push Hook`; the others say `push` for both.
        "push" | "push hook" | "tag push hook" => Event::Push,
        _ => Event::Other(name),
    }
}

/// A per-delivery identifier for logs (attacker-controlled: shown escaped and truncated).
pub(super) fn delivery_id(headers: &HeaderMap) -> Option<String> {
    let names = [
        "x-github-delivery",
        "x-gitea-delivery",
        "x-forgejo-delivery",
        "x-gitlab-event-uuid",
    ];
    let value = names.iter().find_map(|n| headers.get(*n))?;
    let text = String::from_utf8_lossy(value.as_bytes());
    Some(text.chars().take(64).collect())
}

fn hmac_matches(secret: &[u8], body: &[u8], hex: &str) -> bool {
    let (Some(signature), Ok(mut mac)) = (decode_hex(hex), HmacSha256::new_from_slice(secret))
    else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Both values go through the same MAC and the tags are compared in constant time, so neither
/// the secret's bytes nor its length show in the response time.
fn token_matches(secret: &[u8], token: &[u8]) -> bool {
    let Ok(mut expected) = HmacSha256::new_from_slice(TOKEN_MAC_KEY) else {
        return false;
    };
    expected.update(secret);
    let tag = expected.finalize().into_bytes();
    let Ok(mut given) = HmacSha256::new_from_slice(TOKEN_MAC_KEY) else {
        return false;
    };
    given.update(token);
    given.verify_slice(&tag).is_ok()
}

/// Lower- or upper-case hex; `None` for anything else (the value is not secret: it came with
/// the request).
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

/// The hex HMAC-SHA256 of `body` under `secret`, as GitHub and Gitea send it; for tests.
#[cfg(test)]
pub(super) fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    crate::render::hex(&tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn each_forge_is_verified_by_its_own_header() {
        let (secret, body) = (
            b"s3cret".as_slice(),
            b"{\"ref\":\"refs/heads/main\"}".as_slice(),
        );
        let sig = sign(secret, body);
        let github = format!("sha256={sig}");
        let cases: [(&[(&'static str, &str)], Verdict); 8] = [
            (
                &[("x-hub-signature-256", &github)],
                Verdict::Authentic(Forge::GitHub),
            ),
            (
                &[("x-hub-signature-256", &sig)],
                Verdict::Invalid(Forge::GitHub),
            ),
            (
                &[("x-gitea-signature", &sig)],
                Verdict::Authentic(Forge::Gitea),
            ),
            (
                &[("x-forgejo-signature", &sig.to_uppercase())],
                Verdict::Authentic(Forge::Gitea),
            ),
            (
                &[
                    ("x-gitea-signature", "zz"),
                    ("x-hub-signature-256", &github),
                ],
                Verdict::Invalid(Forge::Gitea),
            ),
            (
                &[("x-gitlab-token", "s3cret")],
                Verdict::Authentic(Forge::GitLab),
            ),
            (
                &[("x-gitlab-token", "s3cret2")],
                Verdict::Invalid(Forge::GitLab),
            ),
            (&[], Verdict::Missing),
        ];
        for (pairs, expected) in cases {
            assert_eq!(verify(&headers(pairs), body, secret), expected, "{pairs:?}");
        }
        let tampered = verify(&headers(&[("x-hub-signature-256", &github)]), b"{}", secret);
        assert_eq!(tampered, Verdict::Invalid(Forge::GitHub));
    }

    #[test]
    fn events_are_named_by_any_forge() {
        assert_eq!(event(&headers(&[("x-github-event", "ping")])), Event::Ping);
        assert_eq!(
            event(&headers(&[("x-gitlab-event", "Tag Push Hook")])),
            Event::Push
        );
        assert_eq!(event(&headers(&[("x-gitea-event", "push")])), Event::Push);
        assert_eq!(
            event(&headers(&[("x-github-event", "issues")])),
            Event::Other("issues".to_owned())
        );
        assert_eq!(event(&HeaderMap::new()), Event::Push);
    }
}
