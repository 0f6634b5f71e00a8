//! Step 2, `file()` inlining. Nomad's parse endpoint has filesystem functions switched off, so
//! each `file("path")`, `filebase64("path")` and `fileexists("path")` with a literal path is
//! replaced by its value, read from the same commit, resolved against the job file's directory
//! as `nomad job run` does, and confined to the repository.
//!
//! The job file is edited by span: every byte outside the replaced calls stays as it was (the
//! hcl-rs writer corrupts `<<-` heredocs and escaped quotes, so nothing is re-serialized). A call
//! on one line becomes a literal on that line; a call over several lines becomes a parenthesized
//! literal followed by as many newlines, so line numbers never move.

use base64::Engine;
use hcl_edit::Span;
use hcl_edit::expr::{Expression, FuncCall};
use hcl_edit::structure::Body;
use hcl_edit::visit::{Visit, visit_func_call};

use super::check::position;
use super::error::{ColumnShifts, ErrorKind, RenderError};
use crate::source::{FileError, RepoFiles, join};

const FUNCTIONS: [&str; 3] = ["file", "filebase64", "fileexists"];

/// The job text with calls inlined, and what was read to do it.
#[derive(Debug, Default)]
pub(crate) struct Inlined {
    pub text: String,
    pub shifts: ColumnShifts,
    /// Repository paths read, with their content (`None`: `fileexists` found nothing).
    pub inputs: Vec<(String, Option<Vec<u8>>)>,
}

struct Call {
    function: String,
    span: std::ops::Range<usize>,
    argument: Option<String>,
}

#[derive(Default)]
struct Finder {
    calls: Vec<Call>,
}

impl Visit for Finder {
    fn visit_func_call(&mut self, call: &FuncCall) {
        let name = call.name.name.as_str();
        if call.name.is_namespaced() || !FUNCTIONS.contains(&name) {
            return visit_func_call(self, call);
        }
        let Some(span) = call.span() else {
            return;
        };
        let argument = match call.args.iter().collect::<Vec<_>>().as_slice() {
            [Expression::String(s)] => Some(s.as_str().to_owned()),
            _ => None,
        };
        self.calls.push(Call {
            function: name.to_owned(),
            span,
            argument,
        });
    }
}

/// Inlines every call of `body` (parsed from `text`, the file at `path`).
pub(crate) fn inline(
    path: &str,
    text: &str,
    body: &Body,
    files: &dyn RepoFiles,
) -> Result<Inlined, Vec<RenderError>> {
    let mut finder = Finder::default();
    finder.visit_body(body);
    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut out = Inlined::default();
    let mut errors = Vec::new();
    let mut replacements = Vec::new();
    for call in finder.calls {
        let at = Some(position(text, call.span.start));
        match value(&call, dir, files, &mut out.inputs) {
            Ok(literal) => replacements.push((call.span, literal)),
            Err(kind) => errors.push(RenderError::new(path, at, kind)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    replacements.sort_by_key(|(span, _)| span.start);
    out.text = splice(text, &replacements, &mut out.shifts);
    Ok(out)
}

/// The HCL literal that replaces one call.
fn value(
    call: &Call,
    dir: &str,
    files: &dyn RepoFiles,
    inputs: &mut Vec<(String, Option<Vec<u8>>)>,
) -> Result<String, ErrorKind> {
    let Some(argument) = &call.argument else {
        let reason = "drover inlines only a literal path, such as file(\"files/app.conf\"); Nomad's parse endpoint cannot read files".to_owned();
        return Err(ErrorKind::FileCall {
            function: call.function.clone(),
            reason,
        });
    };
    let fail = |source: FileError| ErrorKind::Inline {
        function: call.function.clone(),
        argument: argument.clone(),
        source,
    };
    let target = join(dir, argument).map_err(fail)?;
    let read = files.read(&target);
    if call.function == "fileexists" {
        let exists = match read {
            Ok(_) | Err(FileError::TooLarge { .. }) => true,
            Err(FileError::Missing { .. }) => false,
            Err(e) => return Err(fail(e)),
        };
        inputs.push((target, exists.then(Vec::new)));
        return Ok(exists.to_string());
    }
    let bytes = read.map_err(fail)?;
    let literal = if call.function == "filebase64" {
        quote(&base64::engine::general_purpose::STANDARD.encode(&bytes))
    } else {
        let text = std::str::from_utf8(&bytes).map_err(|_| ErrorKind::FileCall {
            function: call.function.clone(),
            reason: format!("{target} is not valid UTF-8; use filebase64()"),
        })?;
        quote(text)
    };
    inputs.push((target, Some(bytes)));
    Ok(literal)
}

/// `s` as an HCL quoted string whose value is exactly `s`: no template sequence inside it is
/// ever evaluated (`file()` returns raw text).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Applies the replacements (sorted, non-overlapping) and records how columns moved.
fn splice(
    text: &str,
    replacements: &[(std::ops::Range<usize>, String)],
    shifts: &mut ColumnShifts,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    // Characters added so far on the current line of the edited text.
    let mut line_added: (usize, isize) = (0, 0);
    for (span, literal) in replacements {
        out.push_str(&text[copied..span.start]);
        let old = &text[span.clone()];
        let newlines = old.matches('\n').count();
        let start = position(text, span.start);
        let end = position(text, span.end);
        if line_added.0 != start.line {
            line_added = (start.line, 0);
        }
        let edited_start = (start.column as isize + line_added.1) as usize;
        if newlines == 0 {
            let (new_len, old_len) = (literal.chars().count(), old.chars().count());
            let added = new_len as isize - old_len as isize;
            shifts.push(start.line, edited_start, new_len, added);
            line_added.1 += added;
            out.push_str(literal);
        } else {
            // `(literal` + newlines + `)`: the text after the call keeps its line; on that last
            // line it now starts right after the `)`.
            out.push('(');
            out.push_str(literal);
            out.push_str(&"\n".repeat(newlines));
            out.push(')');
            let added = 2 - end.column as isize;
            shifts.push(end.line, 1, 1, added);
            line_added = (end.line, added);
        }
        copied = span.end;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Mem(BTreeMap<&'static str, &'static [u8]>);

    impl RepoFiles for Mem {
        fn read(&self, path: &str) -> Result<Vec<u8>, FileError> {
            self.0
                .get(path)
                .map(|b| b.to_vec())
                .ok_or_else(|| FileError::Missing { path: path.into() })
        }
    }

    fn run(path: &str, text: &str) -> Result<Inlined, Vec<RenderError>> {
        let files = Mem(BTreeMap::from([
            (
                "jobs/web/files/a.conf",
                &b"x = \"${y}\" %{ if }\\\n\tend\n"[..],
            ),
            ("jobs/shared.tpl", b"shared"),
        ]));
        let body = hcl_edit::parser::parse_body(text).expect("parse");
        inline(path, text, &body, &files)
    }

    #[test]
    fn calls_become_literals_and_nothing_else_moves() {
        let text = "job \"w\" {\n  a = file(\"files/a.conf\")\n  b = \"${filebase64(\"../shared.tpl\")}-x\"\n  c = fileexists(\"nope\") # keep\n  d = <<-EOT\n    ${NOMAD_ALLOC_DIR} \\\"q\\\"\n  EOT\n}\n";
        let out = run("jobs/web/w.nomad.hcl", text).expect("inlined");
        let expected = text
            .replace(
                "file(\"files/a.conf\")",
                r#""x = \"$${y}\" %%{ if }\\\n\tend\n""#,
            )
            .replace("filebase64(\"../shared.tpl\")", "\"c2hhcmVk\"")
            .replace("fileexists(\"nope\")", "false");
        assert_eq!(out.text, expected);
        assert_eq!(out.inputs.len(), 3);
        let value: hcl_edit::structure::Body = out.text.parse().expect("still HCL");
        assert!(value.iter().count() == 1);
    }

    #[test]
    fn multi_line_calls_keep_line_numbers() {
        let text = "job \"w\" {\n  a = file(\n    \"files/a.conf\"\n  )\n  b = 1\n}\n";
        let out = run("jobs/web/w.nomad.hcl", text).expect("inlined");
        assert_eq!(out.text.lines().count(), text.lines().count());
        assert!(out.text.contains("\n  b = 1\n"));
    }

    #[test]
    fn unreadable_or_escaping_paths_name_both_files() {
        let text = "job \"w\" {\n  a = file(\"../../../etc/passwd\")\n  b = file(\"missing.txt\")\n  c = file(var.p)\n}\n";
        let errs = run("jobs/web/w.nomad.hcl", text).expect_err("rejected");
        let texts: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert!(texts[0].starts_with("jobs/web/w.nomad.hcl:2:7: file(\"../../../etc/passwd\"): ../../../etc/passwd: leads outside"), "{}", texts[0]);
        assert!(
            texts[1].contains("jobs/web/missing.txt: no such file"),
            "{}",
            texts[1]
        );
        assert!(texts[2].contains("literal path"), "{}", texts[2]);
    }
}
