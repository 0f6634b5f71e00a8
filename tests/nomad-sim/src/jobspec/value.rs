//! Conversions between evaluated HCL values (held as `serde_json::Value`) and the Go types gohcl
//! decodes into: strings, numbers, bools, durations, lists and maps.
//!
//! Mirrors cty's `convert` rules where job files rely on them (number ↔ string, "true" → bool).
//! It never evaluates expressions and never knows about blocks.

use serde_json::{Map, Value};

/// cty's name for a value's type, used in error details.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "tuple",
        Value::Object(_) => "object",
    }
}

/// A number as cty prints it: integers without a fraction, others in shortest form.
pub(super) fn num_to_string(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Builds a JSON number, preferring an integer when the value is whole (nomad's smallestNumber).
pub(super) fn num(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Converts to a string the way cty converts primitives; collections are not strings.
pub(super) fn to_str(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(num_to_string(n.as_f64().unwrap_or(0.0))),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err("a string is required, but got null".into()),
        _ => Err("string required".into()),
    }
}

pub(super) fn to_num(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| "a number is required".to_string()),
        _ => Err("number required".into()),
    }
}

pub(super) fn to_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        Value::String(_) => Err("a bool is required".into()),
        _ => Err("bool required".into()),
    }
}

/// An integer field: cty refuses fractions when converting into a Go int.
pub(super) fn to_int(v: &Value) -> Result<Value, String> {
    let n = to_num(v)?;
    if n.fract() != 0.0 {
        return Err(
            "value must be a whole number, between -9223372036854775808 and 9223372036854775807"
                .into(),
        );
    }
    Ok(num(n))
}

pub(super) fn to_list(v: &Value) -> Result<&Vec<Value>, String> {
    match v {
        Value::Array(items) => Ok(items),
        _ => Err("list of any single type required".into()),
    }
}

pub(super) fn to_str_list(v: &Value) -> Result<Value, String> {
    to_list(v)?
        .iter()
        .map(|item| to_str(item).map(Value::String))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

pub(super) fn to_int_list(v: &Value) -> Result<Value, String> {
    to_list(v)?
        .iter()
        .map(to_int)
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

pub(super) fn to_str_map(v: &Value) -> Result<Value, String> {
    let Value::Object(m) = v else {
        return Err("map of string required".into());
    };
    let mut out = Map::new();
    for (k, item) in m {
        out.insert(k.clone(), Value::String(to_str(item)?));
    }
    Ok(Value::Object(out))
}

/// Go's time.ParseDuration, returning nanoseconds; the error text follows Go's.
pub(super) fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            unit => return Err(format!("time: unknown unit \"{unit}\" in duration \"{s}\"")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

/// Converts a value to a `variable` type constraint (`string`, `list(number)`, `any`, ...).
pub(super) fn convert_to_type(v: &Value, ty: &str) -> Result<Value, String> {
    let ty = ty.trim();
    if ty == "any" || v.is_null() {
        return Ok(v.clone());
    }
    if let Some(inner) = strip_call(ty, &["list", "set"]) {
        let items = to_list(v)?;
        return items
            .iter()
            .map(|i| convert_to_type(i, inner))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if let Some(inner) = strip_call(ty, &["map"]) {
        let Value::Object(m) = v else {
            return Err("map of any single type required".into());
        };
        let mut out = Map::new();
        for (k, item) in m {
            out.insert(k.clone(), convert_to_type(item, inner)?);
        }
        return Ok(Value::Object(out));
    }
    match ty {
        "string" => to_str(v).map(Value::String),
        "number" => to_num(v).map(num),
        "bool" => to_bool(v).map(Value::Bool),
        // object(...) and tuple(...) constraints are accepted as written.
        _ => Ok(v.clone()),
    }
}

fn strip_call<'a>(ty: &'a str, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| {
        ty.strip_prefix(n)?
            .trim_start()
            .strip_prefix('(')?
            .strip_suffix(')')
    })
}
