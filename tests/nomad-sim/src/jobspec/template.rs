//! String templates (quoted strings with `${...}`/`%{...}` and heredocs) and the text an
//! undeclared reference stands for.
//!
//! Owns interpolation, `if`/`for` directives and `~` whitespace stripping. It never evaluates
//! the expressions inside itself: that is `eval.rs`.

use super::diag::Diag;
use super::eval::{Ctx, R, eval, iter_pairs};
use super::value::{to_bool, to_str, type_name};
use hcl_edit::Span;
use hcl_edit::template::{Directive, Element, Template};
use serde_json::Value;

/// Evaluates a template. A template that is exactly one interpolation yields the inner value
/// unchanged (HCL's "template wrap"), so `count = "${var.n}"` stays a number.
pub(super) fn eval_template(t: &Template, cx: &Ctx) -> R<Value> {
    let elements: Vec<&Element> = t.iter().collect();
    if let [Element::Interpolation(i)] = elements.as_slice() {
        return eval(&i.expr, cx);
    }
    let mut out = String::new();
    render(t, cx, &mut out, &mut false)?;
    Ok(Value::String(out))
}

/// Appends the rendering of `t` to `out`. `strip_next` carries a `~}` marker over to the
/// following literal.
fn render(t: &Template, cx: &Ctx, out: &mut String, strip_next: &mut bool) -> R<()> {
    for el in t.iter() {
        match el {
            Element::Literal(lit) => {
                let text: &str = lit.value();
                out.push_str(if std::mem::take(strip_next) {
                    text.trim_start()
                } else {
                    text
                });
            }
            Element::Interpolation(i) => {
                strip_before(out, i.strip.strip_start());
                let v = eval(&i.expr, cx)?;
                out.push_str(&interp_string(&v, i.expr.span())?);
                *strip_next = i.strip.strip_end();
            }
            Element::Directive(d) => directive(d, cx, out, strip_next)?,
        }
    }
    Ok(())
}

fn strip_before(out: &mut String, yes: bool) {
    if yes {
        let kept = out.trim_end().len();
        out.truncate(kept);
    }
}

fn directive(d: &Directive, cx: &Ctx, out: &mut String, strip_next: &mut bool) -> R<()> {
    match d {
        Directive::If(ifd) => {
            strip_before(out, ifd.if_expr.strip.strip_start());
            *strip_next = ifd.if_expr.strip.strip_end();
            let cond = eval(&ifd.if_expr.cond_expr, cx)?;
            let yes = to_bool(&cond).map_err(|m| {
                Diag::new(
                    "Invalid 'if' condition",
                    format!("The 'if' condition must be a bool: {m}."),
                    ifd.if_expr.cond_expr.span(),
                )
            })?;
            if yes {
                render(&ifd.if_expr.template, cx, out, strip_next)?;
            } else if let Some(e) = &ifd.else_expr {
                render(&e.template, cx, out, strip_next)?;
            }
            strip_before(out, ifd.endif_expr.strip.strip_start());
            *strip_next = ifd.endif_expr.strip.strip_end();
        }
        Directive::For(ford) => {
            let fe = &ford.for_expr;
            strip_before(out, fe.strip.strip_start());
            *strip_next = fe.strip.strip_end();
            let coll = eval(&fe.collection_expr, cx)?;
            for (k, v) in iter_pairs(&coll, fe.collection_expr.span())? {
                let mut inner = cx.with(fe.value_var.as_str(), v);
                if let Some(kv) = &fe.key_var {
                    inner = inner.with(kv.as_str(), k);
                }
                render(&fe.template, &inner, out, strip_next)?;
            }
            strip_before(out, ford.endfor_expr.strip.strip_start());
            *strip_next = ford.endfor_expr.strip.strip_end();
        }
    }
    Ok(())
}

fn interp_string(v: &Value, at: Option<std::ops::Range<usize>>) -> R<String> {
    if v.is_null() {
        return Err(Diag::new(
            "Invalid template interpolation value",
            "The expression result is null. Cannot include a null value in a string template.",
            at,
        ));
    }
    to_str(v).map_err(|_| {
        Diag::new(
            "Invalid template interpolation value",
            format!("Cannot include the given value in a string template: string required, but have {}.", type_name(v)),
            at,
        )
    })
}

/// The text Nomad substitutes for a traversal with an undeclared root (jobspec2 types.config.go
/// `UndefinedVariable`): the traversal's source, widened to the enclosing `${ ... }` when it sits
/// directly inside one, otherwise wrapped in `${}`. Byte-for-byte the same scan Nomad does,
/// including its quirk of appending text before each further `}`.
pub(super) fn undefined_root_text(src: &str, span: std::ops::Range<usize>) -> String {
    let b = src.as_bytes();
    let (start, end) = (span.start.min(b.len()), span.end.min(b.len()));
    let text = |r: std::ops::Range<usize>| String::from_utf8_lossy(&b[r]).into_owned();
    let mut v = text(start..end);
    let mut bracketed = false;
    let mut i = start;
    while i >= 2 {
        i -= 1;
        if b[i] == b'{' && b[i - 1] == b'$' {
            bracketed = true;
            v = text(i - 1..start) + &v;
            break;
        } else if b[i] != b' ' {
            break;
        }
    }
    if !bracketed {
        return format!("${{{v}}}");
    }
    for (j, c) in b.iter().enumerate().skip(end + 1) {
        if *c == b'}' {
            v += &text(end..j);
        } else if *c != b' ' {
            v.push('}');
            break;
        }
    }
    v
}
