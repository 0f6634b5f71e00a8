//! Free-form `map[string]any` blocks (task `config`, scaling `policy`, proxy `config`), decoded
//! the way jobspec2's hclutil/blockattrs.go turns them into values.
//!
//! Nested blocks become lists of objects grouped by type (labels nest as `{label: [obj]}`), and
//! an attribute written as an object constructor is wrapped in a one-element list. It never
//! consults the schema tables.

use super::body::{BlockRef, MAX_BLOCK_DEPTH, view};
use super::diag::{Diag, Diags};
use super::eval::eval;
use hcl_edit::expr::Expression;
use serde_json::{Map, Value};

pub(super) fn block(b: &BlockRef, diags: &mut Diags) -> Option<Value> {
    object(b, 0, diags).map(Value::Object)
}

fn object(b: &BlockRef, depth: usize, diags: &mut Diags) -> Option<Map<String, Value>> {
    if depth > MAX_BLOCK_DEPTH {
        diags.push(Diag::new(
            "Nesting too deep",
            format!("Blocks may nest at most {MAX_BLOCK_DEPTH} levels."),
            Some(b.def_range()),
        ));
        return None;
    }
    let v = view(b).map_err(|d| diags.extend(d)).ok()?;
    let mut out = Map::new();
    for (a, cx) in &v.attrs {
        match eval(&a.value, cx) {
            Ok(x) if matches!(a.value, Expression::Object(_)) => {
                out.insert(a.key.as_str().to_string(), Value::Array(vec![x]))
            }
            Ok(x) => out.insert(a.key.as_str().to_string(), x),
            Err(d) => {
                diags.push(d);
                None
            }
        };
    }
    for nested in &v.blocks {
        let Some(mut item) = object(nested, depth + 1, diags) else {
            continue;
        };
        for (label, _) in nested.labels.iter().rev() {
            let mut wrapper = Map::new();
            wrapper.insert(label.clone(), Value::Array(vec![Value::Object(item)]));
            item = wrapper;
        }
        if let Value::Array(list) = out
            .entry(nested.ty.clone())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(Value::Object(item));
        }
    }
    Some(out)
}
