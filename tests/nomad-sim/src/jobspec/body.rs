//! A body as the decoder sees it: attributes and blocks, each with the evaluation context it is
//! evaluated in, after `dynamic` blocks are expanded (HCL's `ext/dynblock`, which jobspec2 applies
//! to the whole job body).
//!
//! Owns block header geometry (type/label/open-brace ranges). It never maps anything to JSON.

use super::diag::{Diag, Diags};
use super::eval::{Ctx, eval, iter_pairs};
use super::value::to_str;
use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, BlockLabel, Body, Structure};
use serde_json::{Map, Value};
use std::ops::Range;

/// Blocks nested deeper than this are refused instead of risking the stack.
pub(super) const MAX_BLOCK_DEPTH: usize = 32;

#[derive(Clone)]
pub(super) struct BlockRef<'a> {
    pub ty: String,
    pub type_range: Range<usize>,
    pub labels: Vec<(String, Range<usize>)>,
    pub body: &'a Body,
    /// Offset of the opening brace: HCL's "missing item" range for this block's body.
    pub open: usize,
    pub cx: Ctx<'a>,
}

pub(super) struct View<'a> {
    pub attrs: Vec<(&'a Attribute, Ctx<'a>)>,
    pub blocks: Vec<BlockRef<'a>>,
    pub open: usize,
}

impl BlockRef<'_> {
    /// hcl.Block.DefRange: from the type name to the end of the last label.
    pub(super) fn def_range(&self) -> Range<usize> {
        let end = self
            .labels
            .last()
            .map_or(self.type_range.end, |(_, r)| r.end);
        self.type_range.start..end
    }
}

pub(super) fn block_ref<'a>(b: &'a Block, cx: &Ctx<'a>) -> BlockRef<'a> {
    let type_range = b.ident.span().unwrap_or(0..0);
    let labels: Vec<(String, Range<usize>)> = b
        .labels
        .iter()
        .map(|l| {
            let span = match l {
                BlockLabel::String(s) => s.span(),
                BlockLabel::Ident(i) => i.span(),
            };
            (l.as_str().to_string(), span.unwrap_or(0..0))
        })
        .collect();
    let header_end = labels.last().map_or(type_range.end, |(_, r)| r.end);
    let open = cx
        .src
        .get(header_end..)
        .and_then(|rest| rest.find('{'))
        .map_or(header_end, |i| header_end + i);
    BlockRef {
        ty: b.ident.as_str().to_string(),
        type_range,
        labels,
        body: &b.body,
        open,
        cx: cx.clone(),
    }
}

/// Lists a block's body items, expanding `dynamic` blocks.
pub(super) fn view<'a>(b: &BlockRef<'a>) -> Result<View<'a>, Diags> {
    let mut v = View {
        attrs: Vec::new(),
        blocks: Vec::new(),
        open: b.open,
    };
    let mut diags = Vec::new();
    for s in b.body.iter() {
        match s {
            Structure::Attribute(a) => v.attrs.push((a, b.cx.clone())),
            Structure::Block(blk) if blk.ident.as_str() == "dynamic" => {
                match expand_dynamic(&block_ref(blk, &b.cx)) {
                    Ok(mut more) => v.blocks.append(&mut more),
                    Err(d) => diags.push(d),
                }
            }
            Structure::Block(blk) => v.blocks.push(block_ref(blk, &b.cx)),
        }
    }
    if diags.is_empty() { Ok(v) } else { Err(diags) }
}

fn expand_dynamic<'a>(d: &BlockRef<'a>) -> Result<Vec<BlockRef<'a>>, Diag> {
    let Some((ty, ty_range)) = d.labels.first().cloned() else {
        return Err(Diag::new(
            "Missing name for dynamic",
            "All dynamic blocks must have 1 labels (name).",
            Some(d.open..d.open + 1),
        ));
    };
    let attr = |name: &str| {
        d.body
            .iter()
            .find_map(|s| s.as_attribute().filter(|a| a.key.as_str() == name))
    };
    let Some(for_each) = attr("for_each") else {
        return Err(missing_arg("for_each", d.open));
    };
    let Some(content) = d
        .body
        .iter()
        .find_map(|s| s.as_block().filter(|b| b.ident.as_str() == "content"))
    else {
        return Err(Diag::new(
            "Missing content block",
            "A dynamic block must have a nested block of type \"content\" to describe the body of each generated block.",
            Some(d.def_range()),
        ));
    };
    let iterator = match attr("iterator").map(|a| &a.value) {
        Some(Expression::Variable(v)) => v.as_str().to_string(),
        Some(other) => {
            return Err(Diag::new(
                "Invalid dynamic iterator name",
                "Dynamic iterator must be a single variable name.",
                other.span(),
            ));
        }
        None => ty.clone(),
    };
    let coll = eval(&for_each.value, &d.cx)?;
    let template = block_ref(content, &d.cx);
    let mut out = Vec::new();
    for (key, value) in iter_pairs(&coll, for_each.value.span())? {
        let mut it = Map::new();
        it.insert("key".into(), key);
        it.insert("value".into(), value);
        let cx = d.cx.with(&iterator, Value::Object(it));
        let labels = match attr("labels") {
            Some(l) => dynamic_labels(&l.value, &cx)?,
            None => Vec::new(),
        };
        out.push(BlockRef {
            ty: ty.clone(),
            type_range: ty_range.clone(),
            labels,
            cx,
            ..template.clone()
        });
    }
    Ok(out)
}

fn dynamic_labels(e: &Expression, cx: &Ctx) -> Result<Vec<(String, Range<usize>)>, Diag> {
    let at = e.span().unwrap_or(0..0);
    let v = eval(e, cx)?;
    let Value::Array(items) = v else {
        return Err(Diag::new(
            "Invalid dynamic block labels",
            "The labels argument must be a list of strings.",
            Some(at),
        ));
    };
    items
        .iter()
        .map(|i| {
            to_str(i)
                .map(|s| (s, at.clone()))
                .map_err(|m| Diag::new("Invalid dynamic block label", m, Some(at.clone())))
        })
        .collect()
}

/// HCL's "Missing required argument" for a body whose block opens at `open`.
pub(super) fn missing_arg(name: &str, open: usize) -> Diag {
    Diag::new(
        "Missing required argument",
        format!("The argument \"{name}\" is required, but no definition was found."),
        Some(open..open),
    )
}
