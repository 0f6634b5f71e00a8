//! The HCL functions a job file may call (a subset of jobspec2 functions.go), implemented over
//! evaluated values.
//!
//! Names Nomad does not define (`tostring`, `tonumber`, `file`, ...) fail with HCL's "Call to
//! unknown function", as they do in Nomad: jobspec2 registers no type-conversion functions and the
//! parse endpoint disables filesystem functions. This module never looks at blocks.

use super::diag::Diag;
use super::eval::{Ctx, R, eval, index};
use super::value::{num, to_list, to_num, to_str, type_name};
use hcl_edit::Span;
use hcl_edit::expr::FuncCall;
use serde_json::{Map, Value};

type F = fn(&[Value]) -> Result<Value, String>;

const TABLE: &[(&str, F)] = &[
    ("abs", |a| num1(a, f64::abs)),
    ("ceil", |a| num1(a, f64::ceil)),
    ("floor", |a| num1(a, f64::floor)),
    ("signum", |a| num1(a, f64::signum)),
    ("pow", |a| {
        Ok(num(to_num(arg(a, 0)?)?.powf(to_num(arg(a, 1)?)?)))
    }),
    ("min", |a| fold_nums(a, f64::min)),
    ("max", |a| fold_nums(a, f64::max)),
    ("parseint", parseint),
    ("lower", |a| str1(a, |s| s.to_lowercase())),
    ("upper", |a| str1(a, |s| s.to_uppercase())),
    ("title", |a| str1(a, title)),
    ("trimspace", |a| str1(a, |s| s.trim().to_string())),
    ("chomp", |a| {
        str1(a, |s| s.trim_end_matches(['\n', '\r']).to_string())
    }),
    ("strrev", |a| str1(a, |s| s.chars().rev().collect())),
    ("strlen", |a| Ok(Value::from(s(a, 0)?.chars().count()))),
    ("trim", |a| {
        Ok(Value::String(
            s(a, 0)?
                .trim_matches(|c| s(a, 1).is_ok_and(|cs| cs.contains(c)))
                .to_string(),
        ))
    }),
    ("trimprefix", |a| {
        Ok(Value::String(
            s(a, 0)?
                .strip_prefix(s(a, 1)?.as_str())
                .map_or(s(a, 0)?, str::to_string),
        ))
    }),
    ("trimsuffix", |a| {
        Ok(Value::String(
            s(a, 0)?
                .strip_suffix(s(a, 1)?.as_str())
                .map_or(s(a, 0)?, str::to_string),
        ))
    }),
    ("replace", replace),
    ("regex_replace", regex_replace),
    ("substr", substr),
    ("indent", |a| {
        Ok(Value::String(s(a, 1)?.replace(
            '\n',
            &format!("\n{}", " ".repeat(to_num(arg(a, 0)?)? as usize)),
        )))
    }),
    ("split", |a| {
        Ok(Value::Array(
            s(a, 1)?
                .split(s(a, 0)?.as_str())
                .map(|p| Value::String(p.into()))
                .collect(),
        ))
    }),
    ("join", join),
    ("format", super::format::format),
    ("concat", |a| {
        Ok(Value::Array(
            a.iter()
                .map(to_list)
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
        ))
    }),
    ("merge", merge),
    ("contains", |a| {
        Ok(Value::Bool(to_list(arg(a, 0)?)?.contains(arg(a, 1)?)))
    }),
    ("length", length),
    ("element", element),
    ("index", |a| {
        to_list(arg(a, 0)?)?
            .iter()
            .position(|x| x == arg(a, 1).unwrap_or(&Value::Null))
            .map(Value::from)
            .ok_or_else(|| "item not found".into())
    }),
    ("lookup", lookup),
    ("keys", |a| {
        obj(a).map(|m| Value::Array(m.keys().map(|k| Value::String(k.clone())).collect()))
    }),
    ("values", |a| {
        obj(a).map(|m| Value::Array(m.values().cloned().collect()))
    }),
    ("zipmap", |a| {
        Ok(Value::Object(
            to_list(arg(a, 0)?)?
                .iter()
                .zip(to_list(arg(a, 1)?)?)
                .map(|(k, v)| Ok((to_str(k)?, v.clone())))
                .collect::<Result<Map<_, _>, String>>()?,
        ))
    }),
    ("coalesce", |a| {
        a.iter()
            .find(|v| !v.is_null() && v.as_str() != Some(""))
            .cloned()
            .ok_or_else(|| "no non-null, non-empty-string arguments".into())
    }),
    ("coalescelist", |a| {
        a.iter()
            .find(|v| v.as_array().is_some_and(|l| !l.is_empty()))
            .cloned()
            .ok_or_else(|| "no non-null arguments".into())
    }),
    ("compact", |a| {
        Ok(Value::Array(
            to_list(arg(a, 0)?)?
                .iter()
                .filter(|v| v.as_str().is_some_and(|x| !x.is_empty()))
                .cloned()
                .collect(),
        ))
    }),
    ("distinct", distinct),
    ("flatten", |a| Ok(Value::Array(flatten(arg(a, 0)?)))),
    ("reverse", |a| {
        Ok(Value::Array(
            to_list(arg(a, 0)?)?.iter().rev().cloned().collect(),
        ))
    }),
    ("sort", sort),
    ("slice", slice),
    ("range", range),
    ("jsonencode", |a| {
        serde_json::to_string(arg(a, 0)?)
            .map(Value::String)
            .map_err(|e| e.to_string())
    }),
    ("jsondecode", |a| {
        serde_json::from_str(&s(a, 0)?).map_err(|e| e.to_string())
    }),
    ("base64encode", |a| {
        Ok(Value::String(super::format::b64_encode(
            s(a, 0)?.as_bytes(),
        )))
    }),
    ("base64decode", |a| {
        super::format::b64_decode(&s(a, 0)?).map(Value::String)
    }),
];

pub(super) fn call(f: &FuncCall, cx: &Ctx) -> R<Value> {
    let name = f.name.name.as_str();
    let at = f.name.name.span();
    if !cx.allow_refs {
        return Err(Diag::new(
            "Function calls not allowed",
            "Functions may not be called here.",
            at,
        ));
    }
    if name == "try" || name == "can" {
        return try_can(name, f, cx);
    }
    let Some((_, imp)) = TABLE.iter().find(|(n, _)| *n == name) else {
        return Err(Diag::new(
            "Call to unknown function",
            format!("There is no function named \"{name}\"."),
            at,
        ));
    };
    let mut args = f.args.iter().map(|e| eval(e, cx)).collect::<R<Vec<_>>>()?;
    if f.args.expand_final()
        && let Some(Value::Array(last)) = args.pop()
    {
        args.extend(last);
    }
    imp(&args).map_err(|m| {
        Diag::new(
            "Error in function call",
            format!("Call to function \"{name}\" failed: {m}."),
            f.span(),
        )
    })
}

fn try_can(name: &str, f: &FuncCall, cx: &Ctx) -> R<Value> {
    let results = f.args.iter().map(|e| eval(e, cx));
    if name == "can" {
        return Ok(Value::Bool(
            results.into_iter().next().is_some_and(|r| r.is_ok()),
        ));
    }
    if let Some(v) = results.flatten().next() {
        return Ok(v);
    }
    Err(Diag::new(
        "Error in function call",
        "Call to function \"try\" failed: no expression succeeded.",
        f.span(),
    ))
}

fn arg(a: &[Value], i: usize) -> Result<&Value, String> {
    a.get(i)
        .ok_or_else(|| format!("missing argument {}", i + 1))
}

fn s(a: &[Value], i: usize) -> Result<String, String> {
    to_str(arg(a, i)?)
}

fn obj(a: &[Value]) -> Result<&Map<String, Value>, String> {
    arg(a, 0)?
        .as_object()
        .ok_or_else(|| "map or object required".to_string())
}

fn num1(a: &[Value], f: fn(f64) -> f64) -> Result<Value, String> {
    Ok(num(f(to_num(arg(a, 0)?)?)))
}

fn str1(a: &[Value], f: impl Fn(&str) -> String) -> Result<Value, String> {
    Ok(Value::String(f(&s(a, 0)?)))
}

fn fold_nums(a: &[Value], f: fn(f64, f64) -> f64) -> Result<Value, String> {
    let first = to_num(arg(a, 0)?)?;
    a[1..]
        .iter()
        .try_fold(first, |acc, v| Ok(f(acc, to_num(v)?)))
        .map(num)
}

fn title(x: &str) -> String {
    let mut out = String::with_capacity(x.len());
    let mut at_start = true;
    for c in x.chars() {
        out.extend(if at_start {
            c.to_uppercase().collect::<Vec<_>>()
        } else {
            vec![c]
        });
        at_start = c.is_whitespace();
    }
    out
}

fn parseint(a: &[Value]) -> Result<Value, String> {
    let base = to_num(arg(a, 1)?)? as u32;
    let text = s(a, 0)?;
    if !(2..=62).contains(&base) {
        return Err("base must be a whole number between 2 and 62 inclusive".into());
    }
    i64::from_str_radix(&text, base.min(36))
        .map(Value::from)
        .map_err(|_| format!("cannot parse \"{text}\" as a base {base} integer"))
}

fn replace(a: &[Value]) -> Result<Value, String> {
    let (text, from, to) = (s(a, 0)?, s(a, 1)?, s(a, 2)?);
    // Like Terraform's replace, a `/.../` search string is a regular expression.
    if from.len() > 1 && from.starts_with('/') && from.ends_with('/') {
        return regex_replace(&[
            Value::String(text),
            Value::String(from[1..from.len() - 1].to_string()),
            Value::String(to),
        ]);
    }
    Ok(Value::String(text.replace(&from, &to)))
}

fn regex_replace(a: &[Value]) -> Result<Value, String> {
    let re = regex_lite::Regex::new(&s(a, 1)?).map_err(|e| e.to_string())?;
    Ok(Value::String(
        re.replace_all(&s(a, 0)?, s(a, 2)?.as_str()).into_owned(),
    ))
}

fn substr(a: &[Value]) -> Result<Value, String> {
    let chars: Vec<char> = s(a, 0)?.chars().collect();
    let len = chars.len() as i64;
    let mut off = to_num(arg(a, 1)?)? as i64;
    let count = to_num(arg(a, 2)?)? as i64;
    if off < 0 {
        off += len;
    }
    let off = off.clamp(0, len) as usize;
    let end = if count < 0 {
        chars.len()
    } else {
        (off + count as usize).min(chars.len())
    };
    Ok(Value::String(chars[off..end].iter().collect()))
}

fn join(a: &[Value]) -> Result<Value, String> {
    let sep = s(a, 0)?;
    let mut parts = Vec::new();
    for list in &a[1..] {
        for item in to_list(list)? {
            parts.push(to_str(item)?);
        }
    }
    Ok(Value::String(parts.join(&sep)))
}

fn merge(a: &[Value]) -> Result<Value, String> {
    let mut out = Map::new();
    for v in a.iter().filter(|v| !v.is_null()) {
        let m = v
            .as_object()
            .ok_or_else(|| format!("arguments must be maps or objects, got {}", type_name(v)))?;
        out.extend(m.iter().map(|(k, x)| (k.clone(), x.clone())));
    }
    Ok(Value::Object(out))
}

fn length(a: &[Value]) -> Result<Value, String> {
    match arg(a, 0)? {
        Value::Array(l) => Ok(Value::from(l.len())),
        Value::Object(m) => Ok(Value::from(m.len())),
        Value::String(x) => Ok(Value::from(x.chars().count())),
        other => Err(format!(
            "argument must be a string, a collection type, or a structural type, not {}",
            type_name(other)
        )),
    }
}

fn element(a: &[Value]) -> Result<Value, String> {
    let list = to_list(arg(a, 0)?)?;
    if list.is_empty() {
        return Err("cannot use element function with an empty list".into());
    }
    let i = to_num(arg(a, 1)?)? as usize % list.len();
    Ok(list[i].clone())
}

fn lookup(a: &[Value]) -> Result<Value, String> {
    match (index(arg(a, 0)?, arg(a, 1)?, None), a.get(2)) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(default)) => Ok(default.clone()),
        (Err(_), None) => Err(format!("lookup failed to find key {}", arg(a, 1)?)),
    }
}

fn distinct(a: &[Value]) -> Result<Value, String> {
    let mut out: Vec<Value> = Vec::new();
    for v in to_list(arg(a, 0)?)? {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(Value::Array(out))
}

fn flatten(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items
            .iter()
            .flat_map(|i| {
                if i.is_array() {
                    flatten(i)
                } else {
                    vec![i.clone()]
                }
            })
            .collect(),
        other => vec![other.clone()],
    }
}

fn sort(a: &[Value]) -> Result<Value, String> {
    let mut items = to_list(arg(a, 0)?)?
        .iter()
        .map(to_str)
        .collect::<Result<Vec<_>, _>>()?;
    items.sort();
    Ok(Value::Array(items.into_iter().map(Value::String).collect()))
}

fn slice(a: &[Value]) -> Result<Value, String> {
    let list = to_list(arg(a, 0)?)?;
    let (from, to) = (to_num(arg(a, 1)?)? as usize, to_num(arg(a, 2)?)? as usize);
    list.get(from..to)
        .map(|l| Value::Array(l.to_vec()))
        .ok_or_else(|| "index out of range".into())
}

fn range(a: &[Value]) -> Result<Value, String> {
    let n: Vec<f64> = a.iter().map(to_num).collect::<Result<_, _>>()?;
    let (start, end, step) = match n.as_slice() {
        [end] => (0.0, *end, 1.0),
        [start, end] => (*start, *end, if end >= start { 1.0 } else { -1.0 }),
        [start, end, step] => (*start, *end, *step),
        _ => return Err("range takes one to three arguments".into()),
    };
    if step == 0.0 {
        return Err("step must not be zero".into());
    }
    let mut out = Vec::new();
    let mut x = start;
    while (step > 0.0 && x < end) || (step < 0.0 && x > end) {
        if out.len() >= 1024 {
            return Err("more than 1024 values were generated; either decrease the difference between start and end or use a smaller step".into());
        }
        out.push(num(x));
        x += step;
    }
    Ok(Value::Array(out))
}
