//! The generic block decoder: checks a body against a struct table from `schema/` the way HCL's
//! `Body.Content` and gohcl do (unsupported/missing/duplicate diagnostics), converts attribute
//! values to the field types and assembles the api-shaped JSON object, unset fields included.
//!
//! Per-block quirks (constraint shortcuts, `meta = {}` attributes, task scaling labels) are
//! delegated to `special.rs`; normalisation after decoding lives in `normalize.rs`.

use super::body::{BlockRef, MAX_BLOCK_DEPTH, View, missing_arg, view};
use super::diag::{Diag, Diags, suggestion};
use super::eval::eval;
use super::freeform;
use super::schema::{Def, Field, K, T};
use super::special;
use super::value::{
    parse_duration, to_bool, to_int, to_int_list, to_str, to_str_list, to_str_map, type_name,
};
use hcl_edit::Span;
use hcl_edit::structure::Attribute;
use serde_json::{Map, Value};

/// Names a caller handles itself, hidden from the generic schema check.
#[derive(Default, Clone, Copy)]
pub(super) struct Skip<'s> {
    pub attrs: &'s [&'s str],
    pub blocks: &'s [&'s str],
}

/// Decodes one block into its api JSON object, routing blocks with quirks to `special.rs`.
pub(super) fn decode_block(b: &BlockRef, def: &'static Def, depth: usize) -> (Value, Diags) {
    if depth > MAX_BLOCK_DEPTH {
        let d = Diag::new(
            "Nesting too deep",
            format!("Blocks may nest at most {MAX_BLOCK_DEPTH} levels."),
            Some(b.def_range()),
        );
        return (Value::Null, vec![d]);
    }
    match special::route(b, def, depth) {
        Some(done) => done,
        None => {
            let (m, d) = decode_fields(b, def, Skip::default(), depth);
            (Value::Object(m), d)
        }
    }
}

/// Decodes `b` against `def`, leaving out what `skip` names.
pub(super) fn decode_fields(
    b: &BlockRef,
    def: &'static Def,
    skip: Skip,
    depth: usize,
) -> (Map<String, Value>, Diags) {
    let v = match view(b) {
        Ok(v) => v,
        Err(d) => return (Map::new(), d),
    };
    let mut diags = check_schema(&v, def, skip);
    let mut out = Map::new();
    for fd in def.fields {
        let value = match fd.kind {
            K::Label => b.labels.first().map(|(l, _)| Value::String(l.clone())),
            K::Attr(t) | K::Req(t) => attr_value(&v, fd, t, &mut diags),
            K::Hidden => None,
            _ if skip.blocks.contains(&fd.hcl) => None,
            _ => block_value(&v, fd, depth, &mut diags),
        };
        match value.or_else(|| fd.zero.value()) {
            Some(x) => out.insert(fd.json.to_string(), x),
            None => None,
        };
    }
    (out, diags)
}

/// HCL `Body.Content`: missing required arguments, then unsupported arguments, then
/// unsupported blocks; wrong label counts are reported per block.
fn check_schema(v: &View, def: &Def, skip: Skip) -> Diags {
    let mut diags = Vec::new();
    for fd in def.fields.iter().filter(|fd| matches!(fd.kind, K::Req(_))) {
        if !v.attrs.iter().any(|(a, _)| a.key.as_str() == fd.hcl) {
            diags.push(missing_arg(fd.hcl, v.open));
        }
    }
    let attr_names = || {
        def.fields
            .iter()
            .filter(|f| matches!(f.kind, K::Attr(_) | K::Req(_)))
            .map(|f| f.hcl)
    };
    let block_names = || {
        def.fields
            .iter()
            .filter(|f| is_block(f.kind))
            .map(|f| f.hcl)
    };
    for (a, _) in &v.attrs {
        let name = a.key.as_str();
        if skip.attrs.contains(&name) || attr_names().any(|n| n == name) {
            continue;
        }
        let unset = attr_names().filter(|n| !v.attrs.iter().any(|(x, _)| x.key.as_str() == *n));
        let hint = match suggestion(name, sorted(unset)) {
            Some(s) => format!(" Did you mean \"{s}\"?"),
            None if block_names().any(|n| n == name) => {
                format!(" Did you mean to define a block of type \"{name}\"?")
            }
            None => String::new(),
        };
        let detail = format!("An argument named \"{name}\" is not expected here.{hint}");
        diags.push(Diag::new("Unsupported argument", detail, a.key.span()));
    }
    for blk in &v.blocks {
        let name = blk.ty.as_str();
        if skip.blocks.contains(&name) {
            continue;
        }
        match def
            .fields
            .iter()
            .find(|f| f.hcl == name && is_block(f.kind))
        {
            Some(fd) => diags.extend(check_labels(blk, fd)),
            None => {
                let hint = match suggestion(name, sorted(block_names())) {
                    Some(s) => format!(" Did you mean \"{s}\"?"),
                    None if attr_names().any(|n| n == name) => {
                        format!(
                            " Did you mean to define argument \"{name}\"? If so, use the equals sign to assign it a value."
                        )
                    }
                    None => String::new(),
                };
                let detail = format!("Blocks of type \"{name}\" are not expected here.{hint}");
                diags.push(Diag::new(
                    "Unsupported block type",
                    detail,
                    Some(blk.type_range.clone()),
                ));
            }
        }
    }
    diags
}

/// gohcl builds its schema from sorted field names, so suggestions are tried alphabetically.
fn sorted<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = names.collect();
    v.sort_unstable();
    v
}

fn is_block(k: K) -> bool {
    !matches!(k, K::Attr(_) | K::Req(_) | K::Label | K::Hidden)
}

/// How many labels the block type takes: one for labelled structs and keyed maps.
pub(super) fn label_names(fd: &Field) -> Vec<&'static str> {
    match fd.kind {
        K::Block(d) | K::Blocks(d) | K::BlockMap(d) => d
            .label_field()
            .map(|l| if l.hcl.is_empty() { "name" } else { l.hcl })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

pub(super) fn check_labels(blk: &BlockRef, fd: &Field) -> Option<Diag> {
    let want = label_names(fd);
    let name = &blk.ty;
    let got = blk.labels.len();
    if got > want.len() {
        let detail = if want.is_empty() {
            format!("No labels are expected for {name} blocks.")
        } else {
            format!(
                "Only {} labels ({}) are expected for {name} blocks.",
                want.len(),
                want.join(", ")
            )
        };
        return Some(Diag::new(
            format!("Extraneous label for {name}"),
            detail,
            Some(blk.labels[want.len()].1.clone()),
        ));
    }
    (got < want.len()).then(|| {
        Diag::new(
            format!("Missing {} for {name}", want[got]),
            format!(
                "All {name} blocks must have {} labels ({}).",
                want.len(),
                want.join(", ")
            ),
            Some(blk.open..blk.open + 1),
        )
    })
}

fn attr_value(v: &View, fd: &Field, t: T, diags: &mut Diags) -> Option<Value> {
    let (a, cx) = v.attrs.iter().find(|(a, _)| a.key.as_str() == fd.hcl)?;
    let value = match eval(&a.value, cx) {
        Ok(x) => x,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    if value.is_null() && t != T::Dur {
        return None;
    }
    match convert_attr(&value, t) {
        Ok(x) => Some(x),
        Err((summary, detail)) => {
            diags.push(Diag::new(summary, detail, a.value.span()));
            None
        }
    }
}

/// gohcl's conversion into the field type; durations follow jobspec2 `decodeDuration`.
pub(super) fn convert_attr(v: &Value, t: T) -> Result<Value, (&'static str, String)> {
    let unsuitable = |m: String| ("Unsuitable value type", format!("Unsuitable value: {m}"));
    match t {
        T::Str => to_str(v).map(Value::String).map_err(unsuitable),
        T::Int => to_int(v).map_err(unsuitable),
        T::Bool => to_bool(v).map(Value::Bool).map_err(unsuitable),
        T::StrList => to_str_list(v).map_err(unsuitable),
        T::IntList => to_int_list(v).map_err(unsuitable),
        T::StrMap => to_str_map(v).map_err(unsuitable),
        T::Dur => match v {
            Value::Null => Err((
                "Unsuitable value",
                "Unsuitable duration value: nil".to_string(),
            )),
            Value::String(s) => parse_duration(s).map(Value::from).map_err(|e| {
                (
                    "Unsuitable value type",
                    format!("Unsuitable duration value: {e}"),
                )
            }),
            Value::Number(_) => to_int(v).map_err(unsuitable),
            other => Err(unsuitable(format!(
                "expected a string but found {}",
                type_name(other)
            ))),
        },
    }
}

fn block_value(v: &View, fd: &Field, depth: usize, diags: &mut Diags) -> Option<Value> {
    let blocks: Vec<&BlockRef> = v
        .blocks
        .iter()
        .filter(|b| b.ty == fd.hcl && check_labels(b, fd).is_none())
        .collect();
    let first = *blocks.first()?;
    let decode = |b: &BlockRef, def: &'static Def, diags: &mut Diags| {
        let (val, d) = decode_block(b, def, depth + 1);
        diags.extend(d);
        val
    };
    match fd.kind {
        K::Blocks(def) => Some(Value::Array(
            blocks.iter().map(|b| decode(b, def, diags)).collect(),
        )),
        K::BlockMap(def) => Some(Value::Object(
            blocks
                .iter()
                .map(|b| (b.labels[0].0.clone(), decode(b, def, diags)))
                .collect(),
        )),
        _ => {
            if let Some(second) = blocks.get(1) {
                diags.push(duplicate_block(first, second));
            }
            match fd.kind {
                K::Block(def) => Some(decode(first, def, diags)),
                K::AnyBlock => freeform::block(first, diags),
                K::StrMapBlock => attrs_map(first, diags, |x| to_str(x).map(Value::String)),
                K::ListMapBlock => attrs_map(first, diags, to_str_list),
                _ => None,
            }
        }
    }
}

pub(super) fn duplicate_block(first: &BlockRef, second: &BlockRef) -> Diag {
    let ty = &first.ty;
    let prev = super::diag::range_string(first.cx.src, &first.def_range());
    Diag::new(
        format!("Duplicate {ty} block"),
        format!("Only one {ty} block is allowed. Another was defined at {prev}."),
        Some(second.def_range()),
    )
}

/// A block read with `JustAttributes` into a map (`meta`, `env`, check `header`).
fn attrs_map(
    b: &BlockRef,
    diags: &mut Diags,
    conv: fn(&Value) -> Result<Value, String>,
) -> Option<Value> {
    let v = match view(b) {
        Ok(v) => v,
        Err(d) => {
            diags.extend(d);
            return None;
        }
    };
    for blk in &v.blocks {
        let detail = "Blocks are not allowed here.";
        diags.push(Diag::new(
            format!("Unexpected \"{}\" block", blk.ty),
            detail,
            Some(blk.type_range.clone()),
        ));
    }
    let mut out = Map::new();
    for (a, cx) in &v.attrs {
        if let Some(x) = eval_conv(a, cx, conv, diags) {
            out.insert(a.key.as_str().to_string(), x);
        }
    }
    Some(Value::Object(out))
}

pub(super) fn eval_conv(
    a: &Attribute,
    cx: &super::eval::Ctx,
    conv: fn(&Value) -> Result<Value, String>,
    diags: &mut Diags,
) -> Option<Value> {
    let value = eval(&a.value, cx).map_err(|d| diags.push(d)).ok()?;
    conv(&value)
        .map_err(|m| {
            diags.push(Diag::new(
                "Unsuitable value type",
                format!("Unsuitable value: {m}"),
                a.value.span(),
            ))
        })
        .ok()
}
