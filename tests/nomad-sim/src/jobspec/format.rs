//! The `format` function (cty's printf subset) and base64 helpers for `base64encode`/`base64decode`.
//!
//! Kept apart from `functions.rs` because they are small parsers of their own; they never
//! evaluate expressions.

use super::value::{num_to_string, to_num, to_str};
use serde_json::Value;

/// `format(spec, args...)` with the verbs job files use: `%s %d %f %v %q %t %%`, optional width.
pub(super) fn format(a: &[Value]) -> Result<Value, String> {
    let spec = to_str(a.first().ok_or("missing format string")?)?;
    let mut args = a[1..].iter();
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut width = String::new();
        while let Some(d) = chars
            .peek()
            .filter(|d| d.is_ascii_digit() || **d == '.' || **d == '-')
        {
            width.push(*d);
            chars.next();
        }
        let verb = chars
            .next()
            .ok_or("format string ends with an unterminated verb")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let v = args
            .next()
            .ok_or_else(|| format!("not enough arguments for %{verb}"))?;
        out.push_str(&pad(&verb_text(verb, &width, v)?, &width));
    }
    Ok(Value::String(out))
}

fn verb_text(verb: char, width: &str, v: &Value) -> Result<String, String> {
    Ok(match verb {
        's' => to_str(v)?,
        'd' => format!("{}", to_num(v)? as i64),
        'f' => {
            let prec = width
                .split_once('.')
                .and_then(|(_, p)| p.parse().ok())
                .unwrap_or(6);
            format!("{:.*}", prec, to_num(v)?)
        }
        'v' => match v {
            Value::String(x) => x.clone(),
            Value::Number(n) => num_to_string(n.as_f64().unwrap_or(0.0)),
            other => other.to_string(),
        },
        'q' => serde_json::to_string(&to_str(v)?).map_err(|e| e.to_string())?,
        't' => to_str(v)?,
        other => return Err(format!("unsupported format verb %{other}")),
    })
}

fn pad(text: &str, width: &str) -> String {
    let left = width.starts_with('-');
    let w: usize = width
        .trim_start_matches('-')
        .split('.')
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let zero = width.starts_with('0') && !left;
    let fill = (if zero { "0" } else { " " }).repeat(w.saturating_sub(text.chars().count()));
    match (left, text.strip_prefix('-')) {
        (true, _) => format!("{text}{fill}"),
        (false, Some(digits)) if zero => format!("-{fill}{digits}"),
        _ => format!("{fill}{text}"),
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(super) fn b64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(super) fn b64_decode(text: &str) -> Result<String, String> {
    let bad = || "failed to decode base64 data".to_string();
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = B64.iter().position(|b| *b == c).ok_or_else(bad)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| "the result of decoding the provided string is not valid UTF-8".to_string())
}
