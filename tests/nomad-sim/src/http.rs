//! HTTP conventions shared by every endpoint (docs/nomad-api.md): plain-text error bodies,
//! minimised JSON, the `X-Nomad-*` metadata headers, query parameters (`namespace`, `region`,
//! `index`, `wait`, `prefix`), and Go's lenient decoding of request bodies.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Blocking queries wait at most this long (Nomad's `MaxBlockingRPCQueryTime`).
pub(crate) const MAX_BLOCKING_WAIT: Duration = Duration::from_secs(300);

/// An error as Nomad writes it: a status code and a bare text body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub text: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, text: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            text: text.into(),
        }
    }
    pub(crate) fn bad_request(text: impl Into<String>) -> Self {
        Self::new(400, text)
    }
    pub(crate) fn internal(text: impl Into<String>) -> Self {
        Self::new(500, text)
    }
    pub(crate) fn not_found(text: impl Into<String>) -> Self {
        Self::new(404, text)
    }
    pub(crate) fn permission_denied() -> Self {
        Self::new(403, "Permission denied")
    }
    pub(crate) fn invalid_method() -> Self {
        Self::new(405, "Invalid method")
    }
}

/// go-multierror v1.1 formatting, as Nomad's validation errors carry it.
pub(crate) fn multierror(errors: &[String]) -> String {
    let head = if errors.len() == 1 {
        "1 error occurred:".to_owned()
    } else {
        format!("{} errors occurred:", errors.len())
    };
    let items: String = errors.iter().map(|e| format!("\n\t* {e}")).collect();
    format!("{head}{items}\n\n")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.text).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// The metadata Nomad attaches to read responses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub index: u64,
    pub known_leader: bool,
}

/// A JSON response with optional metadata headers.
pub(crate) fn json(value: &Value, meta: Option<Meta>, pretty: bool) -> Response {
    let body = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .unwrap_or_default();
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(m) = meta {
        set_meta(h, m);
    }
    resp
}

pub(crate) fn set_meta(h: &mut HeaderMap, m: Meta) {
    h.insert("X-Nomad-Index", HeaderValue::from(m.index));
    h.insert(
        "X-Nomad-KnownLeader",
        HeaderValue::from_static(if m.known_leader { "true" } else { "false" }),
    );
    h.insert("X-Nomad-LastContact", HeaderValue::from_static("0"));
}

/// Writes answer with only `X-Nomad-Index`.
pub(crate) fn write_json(value: &Value, index: u64) -> Response {
    let mut resp = json(value, None, false);
    resp.headers_mut()
        .insert("X-Nomad-Index", HeaderValue::from(index));
    resp
}

/// The query parameters every endpoint understands.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pub raw: HashMap<String, String>,
    pub namespace: Option<String>,
    pub index: u64,
    pub wait: Duration,
    pub pretty: bool,
}

impl Query {
    pub(crate) fn parse(raw: HashMap<String, String>) -> Result<Self, ApiError> {
        let index = match raw.get("index") {
            Some(v) => v
                .parse()
                .map_err(|_| ApiError::bad_request("Invalid index"))?,
            None => 0,
        };
        let wait = match raw.get("wait") {
            Some(v) => {
                parse_go_duration(v).ok_or_else(|| ApiError::bad_request("Invalid wait time"))?
            }
            None => MAX_BLOCKING_WAIT,
        };
        Ok(Self {
            namespace: raw.get("namespace").filter(|n| !n.is_empty()).cloned(),
            pretty: raw.contains_key("pretty"),
            index,
            wait: wait.min(MAX_BLOCKING_WAIT),
            raw,
        })
    }

    /// The request's namespace, `default` when none is given.
    pub(crate) fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.raw.contains_key(key)
    }

    /// A boolean parameter, parsed like Go's `strconv.ParseBool`; the error is Nomad's 500 text.
    pub(crate) fn bool(&self, key: &str) -> Result<bool, ApiError> {
        match self.raw.get(key).map(String::as_str) {
            None | Some("") => Ok(false),
            Some(v) => parse_go_bool(v).ok_or_else(|| {
                ApiError::internal(format!(
                    "Failed to parse value of \"{key}\" ({v}) as a bool: strconv.ParseBool: parsing \"{v}\": invalid syntax"
                ))
            }),
        }
    }
}

pub(crate) fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `time.ParseDuration` for the forms clients send (`30s`, `500ms`, `5m`, `1h30m`, `1.5s`):
/// a bare number without unit is rejected, as Nomad does.
pub(crate) fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * nanos_per;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_nanos(total as u64))
}

/// Go's duration text (`15s`, `1m30s`, `500ms`), as variable locks carry TTLs.
pub(crate) fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        return if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let frac = d.subsec_nanos();
    let s_text = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{}s", s as f64 + f64::from(frac) / 1e9)
    };
    match (h, m) {
        (0, 0) => s_text,
        (0, _) => format!("{m}m{s_text}"),
        _ => format!("{h}h{m}m{s_text}"),
    }
}

/// Decodes a request body like Go's `encoding/json` into a struct: empty body and bad JSON are
/// 400s; the caller then reads keys case-insensitively with [`field`].
pub(crate) fn decode_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Request body is empty"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// A key of a JSON object matched case-insensitively, as Go's decoder binds struct fields.
pub(crate) fn field<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    let map = obj.as_object()?;
    map.get(name)
        .or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

pub(crate) fn field_str<'a>(obj: &'a Value, name: &str) -> Option<&'a str> {
    field(obj, name).and_then(Value::as_str)
}

pub(crate) fn field_bool(obj: &Value, name: &str) -> bool {
    field(obj, name).and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) fn field_u64(obj: &Value, name: &str) -> u64 {
    field(obj, name).and_then(Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("30000ms"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("60"), None);
        assert_eq!(format_go_duration(Duration::from_secs(15)), "15s");
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_millis(500)), "500ms");
    }

    #[test]
    fn multierror_texts() {
        assert_eq!(multierror(&["a".into()]), "1 error occurred:\n\t* a\n\n");
        assert_eq!(
            multierror(&["a".into(), "b".into()]),
            "2 errors occurred:\n\t* a\n\t* b\n\n"
        );
    }

    #[test]
    fn query_rejects_bad_wait_and_index() {
        let q = |k: &str, v: &str| Query::parse(HashMap::from([(k.to_owned(), v.to_owned())]));
        assert_eq!(q("wait", "60").unwrap_err().text, "Invalid wait time");
        assert_eq!(q("index", "x").unwrap_err().text, "Invalid index");
        assert_eq!(q("wait", "10m").unwrap().wait, MAX_BLOCKING_WAIT);
    }
}
