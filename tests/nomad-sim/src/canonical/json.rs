//! Small, panic-free accessors over job JSON shared by canonicalisation and the plan diff.
//!
//! Owns: reading typed values with Go zero-value fallbacks, building objects in Go struct field
//! order. Never: any Nomad semantics of its own.

use serde_json::{Map, Value};

/// One nanosecond-based second, the unit of Go's `time.Duration` in job JSON.
pub(crate) const SEC: i64 = 1_000_000_000;

/// The zero value a Go struct field takes when the source does not provide it.
#[derive(Clone, Copy)]
pub(crate) enum Zero {
    Int,
    Str,
    Bool,
    /// Pointers, slices and maps: `null`.
    Null,
}

impl Zero {
    fn value(self) -> Value {
        match self {
            Zero::Int => Value::from(0),
            Zero::Str => Value::from(""),
            Zero::Bool => Value::from(false),
            Zero::Null => Value::Null,
        }
    }
}

/// A field of `v`, `None` when missing or `null` (Go's nil).
pub(crate) fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn int_of(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(as_int).unwrap_or(0)
}

pub(crate) fn bool_of(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Integers may arrive as floats (`3.0`) from loosely typed clients; Go would decode them as ints.
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

pub(crate) fn arr_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// True for Go's "empty" collections: nil, `[]` or `{}`.
pub(crate) fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

/// The value of `key`, with empty collections turned into `null` (Nomad canonicalises
/// empty maps and slices to nil so that reflect.DeepEqual sees no change).
pub(crate) fn nil_if_empty(v: &Value, key: &str) -> Value {
    match v.get(key) {
        Some(x) if !is_empty(Some(x)) => x.clone(),
        _ => Value::Null,
    }
}

/// Sets `key` to `val` when it is missing or `null` (a nil pointer in the api structs).
pub(crate) fn set_default(m: &mut Map<String, Value>, key: &str, val: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), val);
    }
}

/// Copies the listed fields of `src` in the listed order, filling Go zero values.
pub(crate) fn shape(src: &Value, fields: &[(&str, Zero)]) -> Map<String, Value> {
    fields
        .iter()
        .map(|(name, zero)| {
            let val = get(src, name).cloned().unwrap_or_else(|| zero.value());
            (name.to_string(), val)
        })
        .collect()
}

/// Applies `f` to every object element of the array at `key`, if any.
pub(crate) fn each_obj_mut(
    m: &mut Map<String, Value>,
    key: &str,
    mut f: impl FnMut(&mut Map<String, Value>),
) {
    if let Some(Value::Array(items)) = m.get_mut(key) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            f(item);
        }
    }
}

/// Maps an array field through `f`, `null` when absent or empty.
pub(crate) fn map_list(src: &Value, key: &str, f: impl Fn(&Value) -> Value) -> Value {
    let items = arr_of(src, key);
    if items.is_empty() {
        return Value::Null;
    }
    Value::Array(items.iter().map(f).collect())
}

/// `arr_of` through an optional parent.
pub(crate) fn arr_in<'a>(v: Option<&'a Value>, key: &str) -> &'a [Value] {
    v.map_or(&[], |v| arr_of(v, key))
}

/// `get` through an optional parent.
pub(crate) fn get_in<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    v.and_then(|v| get(v, key))
}
