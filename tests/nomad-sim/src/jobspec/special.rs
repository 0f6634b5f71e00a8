//! Blocks whose decoding is not a plain struct table: jobspec2 hcl_conversions.go and
//! types.config.go give `constraint`/`affinity` shortcut attributes, the `meta = {...}` attribute
//! form, group/job-level `vault` and `secret`, group scaling defaults and labelled task scaling.
//!
//! It decodes and patches only these; table-driven fields go through `decode.rs`.

use super::body::{BlockRef, missing_arg, view};
use super::decode::{Skip, decode_block, decode_fields, duplicate_block, eval_conv};
use super::diag::{Diag, Diags, range_string};
use super::schema::{
    AFFINITY, CONSTRAINT, Def, K, SCALING_POLICY, SECRET, T, TASK, TASK_GROUP, VAULT, Z,
};
use super::value::to_str_map;
use serde_json::{Map, Value};

const fn a(name: &'static str, t: T) -> super::schema::Field {
    super::schema::Field {
        json: name,
        hcl: name,
        kind: K::Attr(t),
        zero: Z::Null,
    }
}

/// The hcldec specs of hcl_conversions.go: the plain triple plus the shortcut operators.
static CONSTRAINT_SPEC: Def = Def {
    fields: &[
        a("attribute", T::Str),
        a("value", T::Str),
        a("operator", T::Str),
        a("distinct_property", T::Str),
        a("distinct_hosts", T::Bool),
        a("regexp", T::Str),
        a("version", T::Str),
        a("semver", T::Str),
        a("set_contains", T::Str),
        a("set_contains_all", T::Str),
        a("set_contains_any", T::Str),
        a("attribute_is_set", T::Str),
        a("attribute_is_not_set", T::Str),
    ],
};

static AFFINITY_SPEC: Def = Def {
    fields: &[
        a("attribute", T::Str),
        a("value", T::Str),
        a("operator", T::Str),
        a("weight", T::Int),
        a("version", T::Str),
        a("semver", T::Str),
        a("regexp", T::Str),
        a("set_contains", T::Str),
        a("set_contains_all", T::Str),
        a("set_contains_any", T::Str),
    ],
};

pub(super) fn route(b: &BlockRef, def: &'static Def, depth: usize) -> Option<(Value, Diags)> {
    let same = |d: &Def| std::ptr::eq(def, d);
    if same(&CONSTRAINT) {
        Some(constraint(b, depth))
    } else if same(&AFFINITY) {
        Some(affinity(b, depth))
    } else if same(&TASK_GROUP) {
        Some(group(b, depth))
    } else if same(&TASK) {
        Some(task(b, depth))
    } else {
        None
    }
}

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn triple(l: String, r: String, op: String) -> Value {
    let op = if op.is_empty() { "=".to_string() } else { op };
    serde_json::json!({ "LTarget": l, "RTarget": r, "Operand": op })
}

fn constraint(b: &BlockRef, depth: usize) -> (Value, Diags) {
    let (m, diags) = decode_fields(b, &CONSTRAINT_SPEC, Skip::default(), depth);
    let mut l = text(&m, "attribute").unwrap_or_default();
    let mut r = text(&m, "value").unwrap_or_default();
    let mut op = text(&m, "operator").unwrap_or_default();
    for key in ["version", "semver", "regexp", "set_contains"] {
        if let Some(v) = text(&m, key) {
            (op, r) = (key.to_string(), v);
        }
    }
    if let Some(Value::Bool(d)) = m.get("distinct_hosts") {
        (op, r) = ("distinct_hosts".to_string(), d.to_string());
    }
    if let Some(p) = text(&m, "distinct_property") {
        (op, l) = ("distinct_property".to_string(), p);
    }
    (triple(l, r, op), diags)
}

fn affinity(b: &BlockRef, depth: usize) -> (Value, Diags) {
    let (m, diags) = decode_fields(b, &AFFINITY_SPEC, Skip::default(), depth);
    let l = text(&m, "attribute").unwrap_or_default();
    let mut r = text(&m, "value").unwrap_or_default();
    let mut op = text(&m, "operator").unwrap_or_default();
    for key in [
        "version",
        "semver",
        "regexp",
        "set_contains_any",
        "set_contains_all",
        "set_contains",
    ] {
        if let Some(v) = text(&m, key) {
            (op, r) = (key.to_string(), v);
        }
    }
    let mut out = triple(l, r, op);
    out["Weight"] = m.get("weight").cloned().unwrap_or(Value::Null);
    (out, diags)
}

/// jobspec2 `decodeAsAttribute`: `meta = { ... }` (or `env = ...`) as an attribute. Returns the
/// map when the attribute form is used.
pub(super) fn attr_form(b: &BlockRef, name: &str, diags: &mut Diags) -> Option<Value> {
    let v = view(b).ok()?;
    let (attr, cx) = v.attrs.iter().find(|(a, _)| a.key.as_str() == name)?;
    if let Some(blk) = v.blocks.iter().find(|x| x.ty == name) {
        let at = range_string(b.cx.src, &hcl_edit::Span::span(*attr).unwrap_or(0..0));
        let detail = format!(
            "{name} may not be defined more than once. Another definition is defined at {at}."
        );
        diags.push(Diag::new(
            format!("Duplicate {name} block"),
            detail,
            Some(blk.def_range()),
        ));
        return None;
    }
    eval_conv(attr, cx, to_str_map, diags)
}

/// Decodes the `vault` and `secret` blocks a job or group may carry for its tasks.
pub(super) fn vault_and_secrets(
    b: &BlockRef,
    depth: usize,
    diags: &mut Diags,
) -> (Option<Value>, Vec<Value>) {
    let Ok(v) = view(b) else {
        return (None, Vec::new());
    };
    let mut vault: Option<(Value, &BlockRef)> = None;
    let mut secrets = Vec::new();
    for blk in &v.blocks {
        match blk.ty.as_str() {
            "vault" if vault.is_some() => {
                diags.extend(vault.as_ref().map(|(_, first)| duplicate_block(first, blk)));
            }
            "vault" => {
                let (val, d) = decode_block(blk, &VAULT, depth + 1);
                diags.extend(d);
                vault = Some((val, blk));
            }
            "secret" => {
                let (val, d) = decode_block(blk, &SECRET, depth + 1);
                diags.extend(d);
                secrets.push(val);
            }
            _ => {}
        }
    }
    (vault.map(|(val, _)| val), secrets)
}

fn group(b: &BlockRef, depth: usize) -> (Value, Diags) {
    let mut diags = Vec::new();
    let meta = attr_form(b, "meta", &mut diags);
    let (vault, secrets) = vault_and_secrets(b, depth, &mut diags);
    let skip = Skip {
        attrs: if meta.is_some() { &["meta"] } else { &[] },
        blocks: &["vault", "secret"],
    };
    let (mut m, d) = decode_fields(b, &TASK_GROUP, skip, depth);
    diags.extend(d);
    if let Some(meta) = meta {
        m.insert("Meta".into(), meta);
    }
    if let Some(Value::Array(tasks)) = m.get_mut("Tasks") {
        for t in tasks.iter_mut() {
            if t["Vault"].is_null()
                && let Some(v) = &vault
            {
                t["Vault"] = v.clone();
            }
            group_secrets(t, &secrets);
        }
    }
    if let Some(scaling) = m.get_mut("Scaling").filter(|s| s.is_object()) {
        diags.extend(group_scaling(b, scaling));
    }
    (Value::Object(m), diags)
}

/// Group secrets go to tasks without their own; a task with its own gets its list doubled,
/// which is what decodeTaskGroup's `append(t.Secrets, t.Secrets...)` does.
fn group_secrets(t: &mut Value, secrets: &[Value]) {
    if secrets.is_empty() {
        return;
    }
    match t.get_mut("Secrets") {
        Some(Value::Array(own)) if !own.is_empty() => {
            let copy = own.clone();
            own.extend(copy);
        }
        _ => t["Secrets"] = Value::Array(secrets.to_vec()),
    }
}

fn group_scaling(b: &BlockRef, scaling: &mut Value) -> Diags {
    if scaling["Type"] == "" {
        scaling["Type"] = Value::from("horizontal");
    }
    if !scaling["Max"].is_null() && scaling["Type"] == "horizontal" {
        return Vec::new();
    }
    let Some(blk) = view(b)
        .ok()
        .and_then(|v| v.blocks.into_iter().find(|x| x.ty == "scaling"))
    else {
        return Vec::new();
    };
    let Ok(sv) = view(&blk) else {
        return Vec::new();
    };
    let mut diags = Vec::new();
    if !sv.attrs.iter().any(|(a, _)| a.key.as_str() == "max") {
        diags.push(missing_arg("max", sv.open));
    }
    if scaling["Type"] != "horizontal"
        && let Some((a, _)) = sv.attrs.iter().find(|(a, _)| a.key.as_str() == "type")
    {
        let detail = format!(
            "task group scaling policy had invalid type: {}",
            scaling["Type"]
        );
        diags.push(Diag::new(
            "Invalid group scaling type",
            detail,
            hcl_edit::Span::span(&a.value),
        ));
    }
    diags
}

fn task(b: &BlockRef, depth: usize) -> (Value, Diags) {
    let mut diags = Vec::new();
    let env = attr_form(b, "env", &mut diags);
    let meta = attr_form(b, "meta", &mut diags);
    let mut hidden: Vec<&str> = Vec::new();
    hidden.extend(env.as_ref().map(|_| "env"));
    hidden.extend(meta.as_ref().map(|_| "meta"));
    let skip = Skip {
        attrs: &hidden,
        blocks: &["scaling"],
    };
    let policies = task_scaling(b, depth, &mut diags);
    let (mut m, d) = decode_fields(b, &TASK, skip, depth);
    diags.extend(d);
    for (key, val) in [("Env", env), ("Meta", meta)] {
        if let Some(val) = val {
            m.insert(key.into(), val);
        }
    }
    if !policies.is_empty() {
        m.insert("ScalingPolicies".into(), Value::Array(policies));
    }
    (Value::Object(m), diags)
}

/// jobspec2 `decodeTaskScalingPolicies`: `scaling "cpu"` / `scaling "mem"` blocks.
fn task_scaling(b: &BlockRef, depth: usize, diags: &mut Diags) -> Vec<Value> {
    let Ok(v) = view(b) else { return Vec::new() };
    let mut seen: Vec<(String, &BlockRef)> = Vec::new();
    let mut out = Vec::new();
    for blk in v.blocks.iter().filter(|x| x.ty == "scaling") {
        let Some((label, label_range)) = blk.labels.first() else {
            diags.push(Diag::new(
                "Missing name for scaling",
                "All scaling blocks must have 1 labels (name).",
                Some(blk.open..blk.open + 1),
            ));
            continue;
        };
        let label = label.to_lowercase();
        let policy_type = match label.as_str() {
            "cpu" => "vertical_cpu",
            "mem" => "vertical_mem",
            _ => {
                let detail = "scaling policy name must be \"cpu\" or \"mem\"";
                diags.push(Diag::new(
                    "Invalid scaling policy name",
                    detail,
                    Some(label_range.clone()),
                ));
                continue;
            }
        };
        if let Some((_, prev)) = seen.iter().find(|(l, _)| *l == label) {
            let detail = format!(
                "Only one scaling {label} block is allowed. Another was defined at {}.",
                range_string(b.cx.src, &prev.def_range())
            );
            diags.push(Diag::new(
                format!("Duplicate scaling \"{label}\" block"),
                detail,
                Some(blk.def_range()),
            ));
            continue;
        }
        seen.push((label, blk));
        let mut unlabeled = blk.clone();
        unlabeled.labels.clear();
        let (mut p, d) = decode_block(&unlabeled, &SCALING_POLICY, depth + 1);
        diags.extend(d);
        if p["Type"] == "" {
            p["Type"] = Value::from(policy_type);
        } else if p["Type"] != policy_type {
            let detail = format!(
                "Invalid policy type, expected {} but found \"{policy_type}\"",
                p["Type"]
            );
            diags.push(Diag::new(
                "Invalid scaling policy type",
                detail,
                Some(blk.def_range()),
            ));
            continue;
        }
        out.push(p);
    }
    out
}
