//! A message as each kind of destination takes it: `webhook` (the JSON document, signed with
//! HMAC-SHA256 in `X-Drover-Signature-256` when a secret is set), `slack` (`{"text": ...}`,
//! which Mattermost and Rocket.Chat accept too), `discord` (`{"content": ...}`, at most 2,000
//! characters) and `teams` (an incoming webhook's `{"text": ...}`).
//!
//! Owns the request's shape and its signature; never sends it and never logs the URL.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::deliver::Request;
use super::message::{Message, cut};
use crate::config::{Destination, NotifyKind, SecretError};

/// The signature header of a `webhook`: `sha256=<hex>`, as GitHub signs its own webhooks.
pub const SIGNATURE_HEADER: &str = "X-Drover-Signature-256";
/// Discord refuses longer messages.
const DISCORD_MAX: usize = 2_000;

/// The request that tells `message` to `destination`.
pub fn request(destination: &Destination, message: &Message) -> Result<Request, SecretError> {
    let url = destination.url.read()?;
    let url = url::Url::parse(url.trim()).map_err(|_| SecretError::NotUrl {
        what: format!("the URL of [[notify]] `{}`", destination.name),
    })?;
    let body = match destination.kind {
        NotifyKind::Webhook => message.document(),
        NotifyKind::Slack | NotifyKind::Teams => json!({ "text": message.text() }),
        NotifyKind::Discord => json!({ "content": cut(&message.text(), DISCORD_MAX) }),
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let Some(secret) = &destination.secret {
        headers.push((
            SIGNATURE_HEADER.to_owned(),
            signature(&secret.read()?, &body),
        ));
    }
    Ok(Request {
        method: reqwest::Method::POST,
        url,
        headers,
        body,
    })
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `key`.
pub fn signature(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", crate::render::hex(&digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, Severity, default_events};

    fn destination(kind: NotifyKind, secret: Option<&str>) -> Destination {
        Destination {
            name: "ops".into(),
            kind,
            url: Secret::value("https://hooks.example.com/T000/B000/XXXX"),
            secret: secret.map(Secret::value),
            sources: None,
            events: default_events(),
            min_severity: Severity::Info,
            group_window: std::time::Duration::from_secs(5),
        }
    }

    fn message() -> Message {
        Message {
            source: "prod".into(),
            commit: None,
            subject: None,
            told: Vec::new(),
        }
    }

    #[test]
    fn a_signed_webhook_carries_the_hmac_of_its_body() {
        let r = request(
            &destination(NotifyKind::Webhook, Some("s3cret")),
            &message(),
        )
        .expect("request");
        let (_, sig) = r
            .headers
            .iter()
            .find(|(n, _)| n == SIGNATURE_HEADER)
            .expect("signed");
        assert_eq!(*sig, signature("s3cret", &r.body));
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").expect("key");
        mac.update(&r.body);
        let hex = sig.strip_prefix("sha256=").expect("prefix");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        mac.verify_slice(&bytes).expect("a receiver verifies it");
    }

    #[test]
    fn chat_kinds_get_their_own_field() {
        for (kind, field) in [
            (NotifyKind::Slack, "text"),
            (NotifyKind::Teams, "text"),
            (NotifyKind::Discord, "content"),
        ] {
            let r = request(&destination(kind, None), &message()).expect("request");
            let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
            assert_eq!(body[field], "[prod]: 0 outcomes", "{kind:?}");
            assert!(r.headers.iter().all(|(n, _)| n != SIGNATURE_HEADER));
        }
    }
}
