//! Turning source text into an hcl-edit body, with syntax diagnostics worded like HCL's native
//! syntax parser (hclsyntax): unclosed blocks, invalid expressions, redefined arguments.
//!
//! hcl-edit reports a single failure position; the summary is chosen to match what hclsyntax says
//! for the same mistake in the common cases. It never evaluates anything.

use super::diag::{Diag, Diags, range_string};
use hcl_edit::structure::Body;

pub(super) fn parse(src: &str) -> Result<Body, Diags> {
    hcl_edit::parser::parse_body(src).map_err(|e| {
        let mut offset = e.location().offset().min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let diag = if e.message().contains("redefined attribute") {
            redefined(src, offset)
        } else {
            from_error(src, offset)
        };
        vec![diag]
    })
}

/// hclsyntax rejects an argument set twice in one body, naming where it was first set.
fn redefined(src: &str, offset: usize) -> Diag {
    let name_len = src[offset..]
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(src.len() - offset);
    let name = &src[offset..offset + name_len];
    let first = src[..offset]
        .match_indices(name)
        .map(|(i, _)| i)
        .filter(|&i| {
            let line_start = src[..i].rfind('\n').map_or(0, |p| p + 1);
            src[line_start..i].trim().is_empty()
                && src[i + name.len()..].trim_start().starts_with('=')
        })
        .last()
        .unwrap_or(offset);
    Diag::new(
        "Attribute redefined",
        format!(
            "The argument \"{name}\" was already set at {}. Each argument may be set only once.",
            range_string(src, &(first..first + name.len()))
        ),
        Some(offset..offset + name_len),
    )
}

fn from_error(src: &str, offset: usize) -> Diag {
    let unclosed = unclosed_braces(src);
    if src[offset.min(src.len())..].trim().is_empty()
        && let Some(open) = unclosed.last()
    {
        return Diag::new(
            "Unclosed configuration block",
            "There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.",
            Some(*open..*open + 1),
        );
    }
    let at = offset.min(src.len());
    let end = src[at..].chars().next().map_or(at, |c| at + c.len_utf8());
    let line_start = src[..at].rfind('\n').map_or(0, |i| i + 1);
    if src[line_start..at].trim().is_empty() {
        return Diag::new(
            "Argument or block definition required",
            "An argument or block definition is required here.",
            Some(at..end),
        );
    }
    Diag::new(
        "Invalid expression",
        "Expected the start of an expression, but found an invalid expression token.",
        Some(at..end),
    )
}

/// Offsets of `{` left open at the end of the file, skipping strings, comments and heredocs
/// roughly; the innermost is last.
fn unclosed_braces(src: &str) -> Vec<usize> {
    let b = src.as_bytes();
    let mut stack = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = skip_string(b, i + 1),
            b'#' => {
                i = b[i..]
                    .iter()
                    .position(|c| *c == b'\n')
                    .map_or(b.len(), |p| i + p)
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = b[i..]
                    .iter()
                    .position(|c| *c == b'\n')
                    .map_or(b.len(), |p| i + p)
            }
            b'{' => stack.push(i),
            b'}' => {
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    stack
}

fn skip_string(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i
}
