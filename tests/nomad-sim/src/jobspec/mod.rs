//! The simulator's `POST /v1/jobs/parse`: an HCL2 job file (plus var-file content) to api-style
//! Job JSON, following Nomad's `jobspec2` package (parse.go, types.config.go, parse_job.go).
//!
//! Owns parsing, evaluation and the HCL → api mapping, with Nomad's error texts. It never applies
//! api `Canonicalize()` defaults (that is `canonical.rs`) and never reads files: the parse
//! endpoint disables filesystem functions.
//!
//! Functions available to job files: abs, base64decode, base64encode, can, ceil, chomp, coalesce,
//! coalescelist, compact, concat, contains, distinct, element, flatten, floor, format, index,
//! indent, join, jsondecode, jsonencode, keys, length, lookup, lower, max, merge, min, parseint,
//! pow, range, regex_replace, replace, reverse, signum, slice, sort, split, strlen, strrev,
//! substr, title, trim, trimprefix, trimspace, trimsuffix, try, upper, values, zipmap.

mod body;
mod decode;
mod diag;
mod eval;
mod format;
mod freeform;
mod functions;
mod normalize;
mod schema;
mod special;
mod syntax;
mod template;
mod value;
mod vars;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_errors;

use body::{BlockRef, block_ref, view};
use decode::{Skip, decode_block, decode_fields};
use diag::{Diag, Diags, first_and_count, has_errors, joined, range_string};
use hcl_edit::Span;
use hcl_edit::structure::{Body, Structure};
use serde_json::Value;

/// Parses an HCL2 job file as Nomad's parse endpoint does (file name `input.hcl`, no filesystem
/// functions, variables applied non-strictly). `variables` is HCL var-file content (may be empty).
/// Ok: the api-style Job JSON (api.Job field names; unset pointer fields as Nomad returns them without
/// canonicalisation). Err: the full response body text for a 400, e.g.
/// `Failed to parse job: input.hcl:3,5-9: Unsupported argument; An argument named "foo" is not expected here.`
pub fn parse(hcl: &str, variables: &str) -> Result<serde_json::Value, String> {
    let fail = |text: String| format!("Failed to parse job: {text}");
    let parsed = syntax::parse(hcl);
    // jobspec2 decode(): bad var content is reported before the job's own syntax errors.
    let var_body = match variables {
        "" => None,
        v => Some(syntax::parse(v).map_err(|d| {
            fail(format!(
                "unable to parse var content: {}",
                first_and_count(&d, v)
            ))
        })?),
    };
    let top = parsed.map_err(|d| fail(first_and_count(&d, hcl)))?;
    decode_file(hcl, &top, var_body.as_ref().map(|b| (b, variables)))
        .map_err(|d| fail(joined(&d, hcl)))
}

fn decode_file(src: &str, top: &Body, var_file: Option<(&Body, &str)>) -> Result<Value, Diags> {
    top_level_schema(top)?;
    let mut scope = vars::evaluate(src, top, var_file)?;
    let mut diags = std::mem::take(&mut scope.warnings);
    let cx = vars::scope_ctx(src, &scope);
    let jobs: Vec<BlockRef> = top
        .iter()
        .filter_map(Structure::as_block)
        .filter(|b| b.ident.as_str() == "job")
        .map(|b| block_ref(b, &cx))
        .collect();
    let Some(first) = jobs.first() else {
        diags.push(Diag::new(
            "Missing job block",
            "A job block is required",
            None,
        ));
        return Err(diags);
    };
    diags.extend(jobs[1..].iter().map(|dup| {
        let prev = range_string(src, &first.def_range());
        let detail = format!(
            "Only one block of type \"job\" is allowed. Previous definition was at {prev}."
        );
        Diag::new("Duplicate job block", detail, Some(dup.def_range()))
    }));
    let job = decode_job(first, &mut diags);
    if has_errors(&diags) {
        Err(diags)
    } else {
        Ok(job)
    }
}

/// jobspec2 `jobConfigSchema`: only `variable`, `variables`, `locals` and `job` at the top.
fn top_level_schema(top: &Body) -> Result<(), Diags> {
    let mut diags = Vec::new();
    for s in top.iter() {
        match s {
            Structure::Attribute(a) => diags.push(Diag::new(
                "Unsupported argument",
                format!(
                    "An argument named \"{}\" is not expected here.",
                    a.key.as_str()
                ),
                a.key.span(),
            )),
            Structure::Block(b) => {
                let ty = b.ident.as_str();
                let labels = b.labels.len();
                let want = match ty {
                    "variable" | "job" => 1,
                    "variables" | "locals" => 0,
                    _ => {
                        let detail = format!("Blocks of type \"{ty}\" are not expected here.");
                        diags.push(Diag::new("Unsupported block type", detail, b.ident.span()));
                        continue;
                    }
                };
                if labels < want {
                    let at = b.ident.span().map(|r| r.end..r.end + 1);
                    diags.push(Diag::new(
                        format!("Missing name for {ty}"),
                        format!("All {ty} blocks must have 1 labels (name)."),
                        at,
                    ));
                } else if labels > want {
                    let detail = format!("No labels are expected for {ty} blocks.");
                    diags.push(Diag::new(
                        format!("Extraneous label for {ty}"),
                        detail,
                        b.labels[want].span(),
                    ));
                }
            }
        }
    }
    if diags.is_empty() { Ok(()) } else { Err(diags) }
}

/// The job block: `meta` in attribute form, job-level `vault`/`secret`/`task`, then the table.
fn decode_job(b: &BlockRef, diags: &mut Diags) -> Value {
    let meta = special::attr_form(b, "meta", diags);
    let (vault, secrets) = special::vault_and_secrets(b, 0, diags);
    let tasks = match view(b) {
        Ok(v) => v
            .blocks
            .iter()
            .filter(|t| t.ty == "task" && t.labels.len() == 1)
            .map(|t| collect(decode_block(t, &schema::TASK, 1), diags))
            .collect(),
        Err(d) => {
            diags.extend(d);
            Vec::new()
        }
    };
    let attrs: &[&str] = if meta.is_some() { &["meta"] } else { &[] };
    let skip = Skip {
        attrs,
        blocks: &["vault", "secret", "task"],
    };
    let (mut job, d) = decode_fields(b, &schema::JOB, skip, 0);
    diags.extend(d);
    if let Some(meta) = meta {
        job.insert("Meta".into(), meta);
    }
    let id = b.labels.first().map(|(l, _)| l.clone()).unwrap_or_default();
    normalize::job(
        &mut job,
        normalize::JobExtras {
            id,
            vault,
            secrets,
            tasks,
        },
    );
    Value::Object(job)
}

fn collect(done: (Value, Diags), diags: &mut Diags) -> Value {
    diags.extend(done.1);
    done.0
}
