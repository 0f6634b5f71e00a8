//! Step 1, the local check: the file is UTF-8 HCL2 with exactly one top-level `job "ID"` block.
//! Syntax errors come back as `path:LINE:COL: message` without asking Nomad. Evaluates nothing.

use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, BlockLabel, Body, Structure};

use super::error::{ErrorKind, Position, RenderError};

/// A job file that passed the local check.
#[derive(Debug)]
pub(crate) struct Checked {
    pub text: String,
    pub body: Body,
    /// From a literal `id` attribute, else the block's label.
    pub id: String,
    /// The job block sets `namespace` (to anything): the file, not the cluster, chooses.
    pub sets_namespace: bool,
    /// The literal `namespace`, if the file sets one.
    pub namespace: Option<String>,
}

/// Errors come as a list like every render step's, though this step stops at the first.
pub(crate) fn check(path: &str, bytes: &[u8]) -> Result<Checked, Vec<RenderError>> {
    check_one(path, bytes).map_err(|e| vec![e])
}

#[allow(clippy::result_large_err)] // one error, immediately wrapped by `check`
fn check_one(path: &str, bytes: &[u8]) -> Result<Checked, RenderError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = Some(position(
            &String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
            e.valid_up_to(),
        ));
        RenderError::new(path, at, ErrorKind::NotUtf8)
    })?;
    let body = hcl_edit::parser::parse_body(text).map_err(|e| {
        let at = Position {
            line: e.location().line(),
            column: e.location().column(),
        };
        let message = syntax_message(e.message(), e.line());
        RenderError::new(path, Some(at), ErrorKind::Syntax(message))
    })?;
    let jobs: Vec<&Block> = body
        .iter()
        .filter_map(Structure::as_block)
        .filter(|b| b.ident.as_str() == "job")
        .collect();
    let job = match jobs.as_slice() {
        [job] => *job,
        [] => return Err(RenderError::new(path, None, ErrorKind::NoJob)),
        several => {
            let lines: Vec<String> = several
                .iter()
                .filter_map(|b| b.span())
                .map(|s| position(text, s.start).line.to_string())
                .collect();
            let at = several[1].span().map(|s| position(text, s.start));
            let kind = ErrorKind::SeveralJobs {
                count: several.len(),
                lines: lines.join(", "),
            };
            return Err(RenderError::new(path, at, kind));
        }
    };
    let at = job.span().map(|s| position(text, s.start));
    let label = match job.labels.as_slice() {
        [BlockLabel::String(s)] => s.as_str(),
        [BlockLabel::Ident(i)] => i.as_str(),
        _ => return Err(RenderError::new(path, at, ErrorKind::BadJobLabel)),
    };
    let id = literal_attr(&job.body, "id").unwrap_or_else(|| label.to_owned());
    if id.trim().is_empty() {
        return Err(RenderError::new(path, at, ErrorKind::BadJobLabel));
    }
    let sets_namespace = job.body.get_attribute("namespace").is_some();
    let namespace = literal_attr(&job.body, "namespace");
    Ok(Checked {
        text: text.to_owned(),
        body,
        id,
        sets_namespace,
        namespace,
    })
}

/// The value of `name` in `body` when it is a plain string literal.
pub(crate) fn literal_attr(body: &Body, name: &str) -> Option<String> {
    match &body.get_attribute(name)?.value {
        Expression::String(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// The one-based line and column (in characters) of byte `offset` of `text`.
pub(crate) fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

/// hcl-edit's message, with a hint when the line looks like HCL1 (a quoted name where HCL2
/// wants an identifier, as in `env { "KEY" = "v" }`).
pub(crate) fn syntax_message(message: &str, line: &str) -> String {
    let message = match message.trim() {
        "" => "invalid HCL",
        m => m,
    };
    let hcl1 = line.trim_start().starts_with('"');
    match hcl1 {
        true => format!(
            "syntax error: {message} (HCL1 syntax: HCL2, the only syntax since Nomad 1.9, takes unquoted names, or `name = {{ \"key\" = value }}`)"
        ),
        false => format!("syntax error: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match check("j.nomad.hcl", text.as_bytes()) {
            Ok(_) => panic!("{text:?} passed"),
            Err(e) => e[0].to_string(),
        }
    }

    #[test]
    fn the_id_comes_from_the_label_or_a_literal_id() {
        let ok = check("j", b"job \"web\" {\n  group \"g\" {}\n}\n").expect("valid");
        assert_eq!(ok.id, "web");
        assert!(!ok.sets_namespace);
        let ok = check(
            "j",
            b"job \"web\" {\n id = \"web-2\"\n namespace = \"ops\"\n}\n",
        )
        .expect("valid");
        assert_eq!(
            (ok.id.as_str(), ok.namespace.as_deref()),
            ("web-2", Some("ops"))
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let e = err("job \"web\" {\n  group \"g\" {\n    count = \n  }\n}\n");
        assert!(e.starts_with("j.nomad.hcl:3:13: syntax error: "), "{e}");
        let e = err("job \"a\" {\n  env {\n    \"A\" = 1\n  }\n}\n");
        assert!(e.starts_with("j.nomad.hcl:3:5: syntax error: "), "{e}");
        assert!(e.contains("HCL1 syntax"), "{e}");
    }

    #[test]
    fn exactly_one_job_block() {
        assert_eq!(
            err("variable \"x\" {}\n"),
            "j.nomad.hcl: no job block: a job file holds exactly one top-level `job \"ID\"` block"
        );
        let e = err("job \"a\" {}\n\njob \"b\" {}\n");
        assert!(
            e.starts_with("j.nomad.hcl:3:1: 2 job blocks (lines 1, 3)"),
            "{e}"
        );
        assert!(err("job {}\n").contains("exactly one label"));
    }

    #[test]
    fn invalid_utf8_is_located() {
        let e = match check_one("j", b"job \"a\" {\n  x = \"\xff\"\n}\n") {
            Err(e) => e,
            Ok(_) => panic!("passed"),
        };
        assert_eq!(e.position, Some(Position { line: 2, column: 8 }));
    }
}
