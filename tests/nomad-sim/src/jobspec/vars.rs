//! Input variables, locals and var-file values (jobspec2 types.variables.go and types.config.go):
//! declaration, default and var-file assignment with type conversion, validation rules, the
//! unset-variable error, and locals evaluated in dependency order.
//!
//! It produces the `var` and `local` objects; it never decodes the `job` block.

use super::body::{BlockRef, block_ref};
use super::diag::{Diag, Diags, range_string};
use super::eval::{Ctx, eval};
use super::value::{convert_to_type, to_bool, to_str};
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Body, Structure};
use serde_json::{Map, Value};

struct Var<'a> {
    name: String,
    ty: Option<String>,
    value: Option<Value>,
    /// Where the value came from ("default" or "varfile") and its range in its own source.
    from: &'static str,
    validations: Vec<BlockRef<'a>>,
}

pub(super) struct Scope {
    pub vars: Map<String, Value>,
    pub locals: Map<String, Value>,
    /// The warnings of a non-strict parse (variables set but not declared): jobspec2 keeps
    /// them with the body's diagnostics, so they lead the text of any error found later.
    pub warnings: Diags,
}

/// Evaluates variables and locals. `var_file` is the parsed var content and its source text.
pub(super) fn evaluate(
    src: &str,
    top: &Body,
    var_file: Option<(&Body, &str)>,
) -> Result<Scope, Diags> {
    let bare = Ctx::bare(src);
    let mut diags = Vec::new();
    let mut vars = declare(top, &bare, &mut diags);
    if let Some((body, vsrc)) = var_file {
        assign(&mut vars, body, vsrc, &mut diags);
    }
    let mut scope = Scope {
        vars: Map::new(),
        locals: Map::new(),
        warnings: Vec::new(),
    };
    for v in &vars {
        match &v.value {
            Some(x) => {
                diags.extend(validate(v, x, src));
                scope.vars.insert(v.name.clone(), x.clone());
            }
            None => diags.push(Diag::new(
                format!("Unset variable \"{}\"", v.name),
                "A used variable must be set or have a default value; see https://developer.hashicorp.com/nomad/docs/job-specification/hcl2/variables for details.",
                None,
            )),
        }
    }
    locals(top, src, &mut scope, &mut diags);
    if super::diag::has_errors(&diags) {
        Err(diags)
    } else {
        scope.warnings = diags;
        Ok(scope)
    }
}

fn declare<'a>(top: &'a Body, bare: &Ctx<'a>, diags: &mut Diags) -> Vec<Var<'a>> {
    let mut vars: Vec<Var> = Vec::new();
    for blk in top.iter().filter_map(Structure::as_block) {
        let name = blk
            .labels
            .first()
            .map(|l| l.as_str().to_string())
            .unwrap_or_default();
        match blk.ident.as_str() {
            "variable" if vars.iter().any(|v| v.name == name) => diags.push(duplicate(&name)),
            "variable" => vars.push(variable_block(name, &block_ref(blk, bare), diags)),
            "variables" => {
                for a in blk.body.iter().filter_map(Structure::as_attribute) {
                    let name = a.key.as_str().to_string();
                    if vars.iter().any(|v| v.name == name) {
                        diags.push(duplicate(&name));
                        continue;
                    }
                    let value = eval(&a.value, bare).map_err(|d| diags.push(d)).ok();
                    vars.push(Var {
                        name,
                        ty: None,
                        value,
                        from: "default",
                        validations: Vec::new(),
                    });
                }
            }
            _ => {}
        }
    }
    vars
}

fn duplicate(name: &str) -> Diag {
    Diag::new(
        "Duplicate variable",
        format!("Duplicate {name} variable definition found."),
        None,
    )
}

fn variable_block<'a>(name: String, b: &BlockRef<'a>, diags: &mut Diags) -> Var<'a> {
    let mut var = Var {
        name,
        ty: None,
        value: None,
        from: "default",
        validations: Vec::new(),
    };
    for s in b.body.iter() {
        match s {
            Structure::Attribute(a) => match a.key.as_str() {
                "type" => {
                    var.ty = a
                        .value
                        .span()
                        .and_then(|r| b.cx.src.get(r))
                        .map(str::to_string)
                }
                "default" => var.value = eval(&a.value, &b.cx).map_err(|d| diags.push(d)).ok(),
                "description" => {}
                other => diags.push(Diag::new(
                    "Unsupported argument",
                    format!("An argument named \"{other}\" is not expected here."),
                    a.key.span(),
                )),
            },
            Structure::Block(v) if v.ident.as_str() == "validation" => {
                var.validations.push(block_ref(v, &b.cx))
            }
            Structure::Block(v) => diags.push(Diag::new(
                "Unsupported block type",
                format!(
                    "Blocks of type \"{}\" are not expected here.",
                    v.ident.as_str()
                ),
                v.ident.span(),
            )),
        }
    }
    if let (Some(ty), Some(v)) = (&var.ty, &var.value) {
        match convert_to_type(v, ty) {
            Ok(x) => var.value = Some(x),
            Err(m) => diags.push(Diag::new(
                "Invalid default value for variable",
                format!(
                    "This default value is not compatible with the variable's type constraint: {m}."
                ),
                None,
            )),
        }
    }
    var
}

/// Applies var-file attributes; undeclared names are only warnings (non-strict parsing).
fn assign(vars: &mut [Var], body: &Body, vsrc: &str, diags: &mut Diags) {
    let bare = Ctx::bare(vsrc);
    for s in body.iter() {
        let Structure::Attribute(a) = s else {
            if let Some(b) = s.as_block() {
                let d = Diag::new(
                    format!("Unexpected \"{}\" block", b.ident.as_str()),
                    "Blocks are not allowed here.",
                    b.ident.span(),
                );
                diags.push(d.located_in(vsrc));
            }
            continue;
        };
        let name = a.key.as_str();
        let Some(var) = vars.iter_mut().find(|v| v.name == name) else {
            let mut d = Diag::new(
                "Undefined variable",
                format!(
                    "A \"{name}\" variable was set but was not found in known variables. To declare variable \"{name}\", place this block in your job files"
                ),
                None,
            );
            d.warning = true;
            diags.push(d);
            continue;
        };
        let value = match eval(&a.value, &bare) {
            Ok(v) => v,
            Err(d) => {
                diags.push(d.located_in(vsrc));
                continue;
            }
        };
        let converted = match &var.ty {
            Some(ty) => convert_to_type(&value, ty),
            None => Ok(value),
        };
        match converted {
            Ok(v) => {
                var.value = Some(v);
                var.from = "varfile";
            }
            Err(m) => diags.push(
                Diag::new(
                    "Invalid value for variable",
                    format!("The value for {name} is not compatible with the variable's type constraint: {m}."),
                    a.value.span(),
                )
                .located_in(vsrc),
            ),
        }
    }
}

fn validate(v: &Var, value: &Value, src: &str) -> Diags {
    let mut obj = Map::new();
    obj.insert(v.name.clone(), value.clone());
    let mut cx = Ctx::bare(src).with("var", Value::Object(obj));
    cx.allow_refs = true;
    let mut diags = Vec::new();
    for rule in &v.validations {
        let attr = |n: &str| {
            rule.body
                .iter()
                .find_map(|s| s.as_attribute().filter(|a| a.key.as_str() == n))
        };
        let (Some(cond), Some(msg)) = (attr("condition"), attr("error_message")) else {
            continue;
        };
        let ok = match eval(&cond.value, &cx).and_then(|r| {
            to_bool(&r)
                .map_err(|m| Diag::new("Invalid variable validation result", m, cond.value.span()))
        }) {
            Ok(ok) => ok,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        if !ok {
            let text = eval(&msg.value, &Ctx::bare(src))
                .ok()
                .and_then(|m| to_str(&m).ok())
                .unwrap_or_default();
            let at = range_string(src, &rule.def_range());
            let detail = format!("{text}\n\nThis was checked by the validation rule at {at}.");
            diags.push(Diag::new(
                format!("Invalid value for {} variable", v.from),
                detail,
                None,
            ));
        }
    }
    diags
}

/// Evaluates locals, retrying those that reference a local not yet known (types.config.go
/// `evaluateLocalVariables`, which gives up after 100 rounds without progress).
fn locals(top: &Body, src: &str, scope: &mut Scope, diags: &mut Diags) {
    let mut pending: Vec<(&str, &Expression)> = Vec::new();
    for blk in top
        .iter()
        .filter_map(Structure::as_block)
        .filter(|b| b.ident.as_str() == "locals")
    {
        for a in blk.body.iter().filter_map(Structure::as_attribute) {
            if pending.iter().any(|(n, _)| *n == a.key.as_str()) {
                diags.push(Diag::new(
                    "Duplicate value in locals",
                    format!("Duplicate {} definition found.", a.key.as_str()),
                    a.key.span(),
                ));
                return;
            }
            pending.push((a.key.as_str(), &a.value));
        }
    }
    let mut stalled = 0;
    while !pending.is_empty() {
        let cx = scope_ctx(src, scope);
        let (name, expr) = pending.remove(0);
        match eval(expr, &cx) {
            Ok(v) => {
                scope.locals.insert(name.to_string(), v);
                stalled = 0;
            }
            Err(d) if pending.is_empty() || stalled > 100 * (pending.len() + 1) => {
                diags.push(d);
                return;
            }
            Err(_) => {
                stalled += 1;
                pending.push((name, expr));
            }
        }
    }
}

pub(super) fn scope_ctx<'a>(src: &'a str, scope: &Scope) -> Ctx<'a> {
    let mut cx = Ctx::bare(src)
        .with("var", Value::Object(scope.vars.clone()))
        .with("local", Value::Object(scope.locals.clone()));
    cx.allow_refs = true;
    cx
}
