//! Evaluation of HCL expressions (hcl-edit syntax trees) against the job's variables, locals and
//! iterator bindings, following the HCL fork Nomad uses.
//!
//! Owns operators, traversals, conditionals, `for` expressions and the undefined-root rule
//! (jobspec2 parse.go `EvalContext`: a reference to an undeclared root evaluates to its own
//! `${...}` source text). It never decides how a value maps into the job JSON.

use super::diag::Diag;
use super::functions;
use super::value::{num, to_bool, to_num, to_str, type_name};
use hcl_edit::Span;
use hcl_edit::expr::{
    BinaryOperator, Expression, ForExpr, ObjectKey, TraversalOperator, UnaryOperator,
};
use serde_json::{Map, Value};
use std::ops::Range;

/// Expressions nested deeper than this are refused instead of risking the stack.
const MAX_DEPTH: usize = 64;

pub(super) type R<T> = Result<T, Diag>;

/// What names an expression may reference.
#[derive(Clone)]
pub(super) struct Ctx<'a> {
    /// The source the spans point into (undefined roots are copied from it).
    pub src: &'a str,
    /// Declared roots (`var`, `local`, iterators), innermost binding last.
    pub roots: Vec<(String, Value)>,
    /// False for var-file values, which HCL evaluates without any context.
    pub allow_refs: bool,
    pub depth: usize,
}

impl<'a> Ctx<'a> {
    pub(super) fn bare(src: &'a str) -> Self {
        Ctx {
            src,
            roots: Vec::new(),
            allow_refs: false,
            depth: 0,
        }
    }

    pub(super) fn with(&self, name: &str, value: Value) -> Self {
        let mut c = self.clone();
        c.roots.push((name.to_string(), value));
        c
    }

    fn lookup(&self, name: &str) -> Option<&Value> {
        self.roots
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn deeper(&self, at: Option<Range<usize>>) -> R<Ctx<'a>> {
        if self.depth >= MAX_DEPTH {
            return Err(Diag::new(
                "Nesting too deep",
                "Expressions may nest at most 64 levels.",
                at,
            ));
        }
        let mut c = self.clone();
        c.depth += 1;
        Ok(c)
    }
}

pub(super) fn eval(e: &Expression, cx: &Ctx) -> R<Value> {
    let cx = &cx.deeper(e.span())?;
    match e {
        Expression::Null(_) => Ok(Value::Null),
        Expression::Bool(b) => Ok(Value::Bool(*b.value())),
        Expression::Number(n) => Ok(n.value().as_f64().map_or(Value::Null, num)),
        Expression::String(s) => Ok(Value::String(s.value().clone())),
        Expression::Array(a) => a
            .iter()
            .map(|i| eval(i, cx))
            .collect::<R<Vec<_>>>()
            .map(Value::Array),
        Expression::Object(o) => {
            let mut m = Map::new();
            for (k, v) in o.iter() {
                m.insert(object_key(k, cx)?, eval(v.expr(), cx)?);
            }
            Ok(Value::Object(m))
        }
        Expression::StringTemplate(t) => super::template::eval_template(t, cx),
        Expression::HeredocTemplate(h) => super::template::eval_template(&h.template, cx),
        Expression::Parenthesis(p) => eval(p.inner(), cx),
        Expression::Variable(v) => root(v.as_str(), v.span(), cx),
        Expression::Conditional(c) => {
            let cond = eval(&c.cond_expr, cx)?;
            let b = to_bool(&cond).map_err(|m| incorrect_cond(&m, c.cond_expr.span()))?;
            eval(if b { &c.true_expr } else { &c.false_expr }, cx)
        }
        Expression::FuncCall(f) => functions::call(f, cx),
        Expression::Traversal(t) => traversal(&t.expr, &t.operators, cx),
        Expression::UnaryOp(u) => unary(*u.operator.value(), &u.expr, cx),
        Expression::BinaryOp(b) => binary(&b.lhs_expr, *b.operator.value(), &b.rhs_expr, cx),
        Expression::ForExpr(f) => for_expr(f, cx),
    }
}

fn incorrect_cond(msg: &str, at: Option<Range<usize>>) -> Diag {
    Diag::new(
        "Incorrect condition type",
        format!("The condition expression must be of type bool: {msg}."),
        at,
    )
}

fn object_key(k: &ObjectKey, cx: &Ctx) -> R<String> {
    match k {
        ObjectKey::Ident(i) => Ok(i.as_str().to_string()),
        ObjectKey::Expression(e) => {
            let v = eval(e, cx)?;
            to_str(&v).map_err(|m| {
                Diag::new(
                    "Incorrect key type",
                    format!("Can't use this value as a key: {m}."),
                    e.span(),
                )
            })
        }
    }
}

fn root(name: &str, at: Option<Range<usize>>, cx: &Ctx) -> R<Value> {
    if !cx.allow_refs {
        return Err(Diag::new(
            "Variables not allowed",
            "Variables may not be used here.",
            at,
        ));
    }
    match cx.lookup(name) {
        Some(v) => Ok(v.clone()),
        None => Ok(Value::String(super::template::undefined_root_text(
            cx.src,
            at.unwrap_or(0..0),
        ))),
    }
}

/// A traversal whose root is undeclared keeps its static part (`attr.a.b`, `env["x"]`) as text.
fn traversal(
    base: &Expression,
    ops: &[hcl_edit::Decorated<TraversalOperator>],
    cx: &Ctx,
) -> R<Value> {
    if let Expression::Variable(v) = base
        && cx.allow_refs
        && cx.lookup(v.as_str()).is_none()
    {
        let static_len = ops.iter().take_while(|op| is_static(op.value())).count();
        let start = v.span().map_or(0, |s| s.start);
        let end = static_len
            .checked_sub(1)
            .and_then(|i| ops[i].span())
            .or_else(|| v.span())
            .map_or(start, |s| s.end);
        let text = super::template::undefined_root_text(cx.src, start..end);
        return apply_ops(Value::String(text), &ops[static_len..], cx);
    }
    let v = eval(base, cx)?;
    apply_ops(v, ops, cx)
}

fn is_static(op: &TraversalOperator) -> bool {
    match op {
        TraversalOperator::GetAttr(_) | TraversalOperator::LegacyIndex(_) => true,
        TraversalOperator::Index(e) => matches!(e, Expression::String(_) | Expression::Number(_)),
        _ => false,
    }
}

fn apply_ops(mut v: Value, ops: &[hcl_edit::Decorated<TraversalOperator>], cx: &Ctx) -> R<Value> {
    for (i, op) in ops.iter().enumerate() {
        let at = op.span();
        v = match op.value() {
            TraversalOperator::GetAttr(name) => get_attr(&v, name.as_str(), at)?,
            TraversalOperator::LegacyIndex(n) => index(&v, &Value::from(*n.value()), at)?,
            TraversalOperator::Index(e) => index(&v, &eval(e, cx)?, at)?,
            TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                let items = match v {
                    Value::Array(items) => items,
                    Value::Null => Vec::new(),
                    other => vec![other],
                };
                let rest = &ops[i + 1..];
                return items
                    .into_iter()
                    .map(|item| apply_ops(item, rest, cx))
                    .collect::<R<Vec<_>>>()
                    .map(Value::Array);
            }
        };
    }
    Ok(v)
}

fn get_attr(v: &Value, name: &str, at: Option<Range<usize>>) -> R<Value> {
    match v {
        Value::Object(m) => m.get(name).cloned().ok_or_else(|| {
            Diag::new(
                "Unsupported attribute",
                format!("This object does not have an attribute named \"{name}\"."),
                at,
            )
        }),
        Value::Null => Err(Diag::new(
            "Attempt to get attribute from null value",
            "This value is null, so it does not have any attributes.",
            at,
        )),
        other => Err(Diag::new(
            "Unsupported attribute",
            format!(
                "Can't access attributes on a primitive-typed value ({}).",
                type_name(other)
            ),
            at,
        )),
    }
}

pub(super) fn index(v: &Value, key: &Value, at: Option<Range<usize>>) -> R<Value> {
    let missing = || {
        Diag::new(
            "Invalid index",
            "The given key does not identify an element in this collection value.",
            at.clone(),
        )
    };
    match v {
        Value::Array(items) => {
            let i = to_num(key).map_err(|_| missing())?;
            if i < 0.0 || i.fract() != 0.0 {
                return Err(missing());
            }
            items.get(i as usize).cloned().ok_or_else(missing)
        }
        Value::Object(m) => m
            .get(&to_str(key).map_err(|_| missing())?)
            .cloned()
            .ok_or_else(missing),
        _ => Err(Diag::new(
            "Invalid index",
            "This value does not have any indices.",
            at.clone(),
        )),
    }
}

fn unary(op: UnaryOperator, e: &Expression, cx: &Ctx) -> R<Value> {
    let v = eval(e, cx)?;
    let at = e.span();
    match op {
        UnaryOperator::Neg => to_num(&v).map(|n| num(-n)).map_err(|m| operand(&m, at)),
        UnaryOperator::Not => to_bool(&v)
            .map(|b| Value::Bool(!b))
            .map_err(|m| operand(&m, at)),
    }
}

fn operand(msg: &str, at: Option<Range<usize>>) -> Diag {
    Diag::new(
        "Invalid operand",
        format!("Unsuitable value for unary operand: {msg}."),
        at,
    )
}

fn binary(l: &Expression, op: BinaryOperator, r: &Expression, cx: &Ctx) -> R<Value> {
    use BinaryOperator as B;
    let lv = eval(l, cx)?;
    // && and || evaluate both sides in HCL too; no short-circuit is needed for correctness.
    let rv = eval(r, cx)?;
    let bad = |side: &Expression, m: String| {
        Diag::new(
            "Invalid operand",
            format!("Unsuitable value for operand: {m}."),
            side.span(),
        )
    };
    let nums = || -> R<(f64, f64)> {
        Ok((
            to_num(&lv).map_err(|m| bad(l, m))?,
            to_num(&rv).map_err(|m| bad(r, m))?,
        ))
    };
    let bools = || -> R<(bool, bool)> {
        Ok((
            to_bool(&lv).map_err(|m| bad(l, m))?,
            to_bool(&rv).map_err(|m| bad(r, m))?,
        ))
    };
    Ok(match op {
        B::Eq => Value::Bool(lv == rv),
        B::NotEq => Value::Bool(lv != rv),
        B::Less => nums().map(|(a, b)| Value::Bool(a < b))?,
        B::LessEq => nums().map(|(a, b)| Value::Bool(a <= b))?,
        B::Greater => nums().map(|(a, b)| Value::Bool(a > b))?,
        B::GreaterEq => nums().map(|(a, b)| Value::Bool(a >= b))?,
        B::Plus => nums().map(|(a, b)| num(a + b))?,
        B::Minus => nums().map(|(a, b)| num(a - b))?,
        B::Mul => nums().map(|(a, b)| num(a * b))?,
        B::Div => nums().map(|(a, b)| num(a / b))?,
        B::Mod => nums().map(|(a, b)| num(a % b))?,
        B::And => bools().map(|(a, b)| Value::Bool(a && b))?,
        B::Or => bools().map(|(a, b)| Value::Bool(a || b))?,
    })
}

/// Pairs of (key, value) to iterate, as HCL's `for` and `dynamic` see a collection.
pub(super) fn iter_pairs(v: &Value, at: Option<Range<usize>>) -> R<Vec<(Value, Value)>> {
    match v {
        Value::Array(items) => Ok(items
            .iter()
            .enumerate()
            .map(|(i, x)| (Value::from(i), x.clone()))
            .collect()),
        Value::Object(m) => Ok(m
            .iter()
            .map(|(k, x)| (Value::String(k.clone()), x.clone()))
            .collect()),
        other => Err(Diag::new(
            "Iteration over non-iterable value",
            format!(
                "A value of type {} cannot be used as the collection in a 'for' expression.",
                type_name(other)
            ),
            at,
        )),
    }
}

fn for_expr(f: &ForExpr, cx: &Ctx) -> R<Value> {
    let coll = eval(&f.intro.collection_expr, cx)?;
    let mut list = Vec::new();
    let mut obj = Map::new();
    for (k, v) in iter_pairs(&coll, f.intro.collection_expr.span())? {
        let mut inner = cx.with(f.intro.value_var.as_str(), v);
        if let Some(kv) = &f.intro.key_var {
            inner = inner.with(kv.as_str(), k);
        }
        if let Some(cond) = &f.cond
            && !to_bool(&eval(&cond.expr, &inner)?)
                .map_err(|m| incorrect_cond(&m, cond.expr.span()))?
        {
            continue;
        }
        let value = eval(&f.value_expr, &inner)?;
        match &f.key_expr {
            Some(ke) => {
                let key = to_str(&eval(ke, &inner)?)
                    .map_err(|m| Diag::new("Invalid object key", m, ke.span()))?;
                insert_for_item(&mut obj, key, value, f.grouping);
            }
            None => list.push(value),
        }
    }
    Ok(if f.key_expr.is_some() {
        Value::Object(obj)
    } else {
        Value::Array(list)
    })
}

fn insert_for_item(obj: &mut Map<String, Value>, key: String, value: Value, grouping: bool) {
    if grouping {
        if let Value::Array(items) = obj.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
            items.push(value);
        }
    } else {
        obj.insert(key, value);
    }
}
