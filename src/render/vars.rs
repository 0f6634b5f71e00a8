//! Step 3, variables: a source's `var_files` (HCL `name = value` files in the repository) and
//! its inline `variables`, merged into the one var-file text Nomad's parse request takes, as
//! `nomad job run -var-file A -var-file B -var k=v` would apply them: later entries win.
//!
//! Var-file values are copied by span, never re-serialized. Inline values come from TOML (or
//! `drover validate --var`): a TOML value of any other type than string is written as the HCL
//! value of the same shape, as a var file would hold it. A string is read the way Nomad's
//! `-var NAME=VALUE` reads one, which depends on the type the job file declares for the
//! variable: for `string`, `number` or no type it is the string itself; for any other type
//! (`list(string)`, `map(any)`, `bool`...) it is HCL expression text. So the var-file text is
//! made per job file ([`Variables::content_for`]). Runtime interpolations are not touched here
//! or anywhere: only Nomad evaluates the job.

use std::collections::{BTreeMap, BTreeSet};

use hcl_edit::Span;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{BlockLabel, Body, Structure};

use super::check::position;
use super::error::{ErrorKind, RenderError};
use super::inline::quote;
use crate::source::RepoFiles;

/// A job variable's value as the configuration or the command line gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Given {
    /// A TOML string or a `--var NAME=VALUE`: how it reads depends on the declared type.
    Text(String),
    /// Any other TOML value, as HCL text of the same shape.
    Hcl(String),
}

impl Given {
    /// The value of a `[source.variables]` entry. Floats are finite: the configuration
    /// refuses the others (HCL has no NaN or infinity).
    pub fn from_toml(value: &toml::Value) -> Self {
        match value {
            toml::Value::String(s) => Self::Text(s.clone()),
            other => Self::Hcl(hcl_text(other)),
        }
    }
}

/// `value` as HCL expression text: strings quoted (with `${`/`%{` escaped, so that Nomad
/// never interpolates a configured value), tables as objects with quoted keys.
fn hcl_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => quote(s),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => quote(&d.to_string()),
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(hcl_text).collect();
            format!("[{}]", items.join(", "))
        }
        toml::Value::Table(table) => {
            let entries: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{} = {}", quote(k), hcl_text(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

/// One variable's value after merging: var-file text, or an inline value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Assigned {
    /// HCL text: from a var file, or a non-string inline value.
    Hcl(String),
    /// An inline string, read by the declared type.
    Text(String),
}

/// A source's merged variables, and the var files they came from (for the fingerprint).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Variables {
    /// Name → value, in first-set order (a later file overrides the value, not the order).
    merged: Vec<(String, Assigned)>,
    pub(crate) inputs: Vec<(String, Vec<u8>)>,
    /// The names set, for the local unset-variable check.
    pub(crate) names: BTreeSet<String>,
}

/// Reads and merges the var files, then the inline variables.
pub(crate) fn load(
    files: &dyn RepoFiles,
    var_files: &[String],
    inline: &BTreeMap<String, Given>,
) -> Result<Variables, Vec<RenderError>> {
    let mut out = Variables::default();
    let mut errors = Vec::new();
    for path in var_files {
        let bytes = match files.read(path) {
            Ok(b) => b,
            Err(e) => {
                errors.push(RenderError::new(path, None, ErrorKind::VarFile(e)));
                continue;
            }
        };
        match assignments(path, &bytes) {
            Ok(values) => values
                .into_iter()
                .for_each(|(n, v)| out.set(&n, Assigned::Hcl(v))),
            Err(e) => errors.push(e),
        }
        out.inputs.push((path.clone(), bytes));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for (name, value) in inline {
        let value = match value {
            Given::Text(s) => Assigned::Text(s.clone()),
            Given::Hcl(h) => Assigned::Hcl(h.clone()),
        };
        out.set(name, value);
    }
    out.names = out.merged.iter().map(|(n, _)| n.clone()).collect();
    Ok(out)
}

impl Variables {
    fn set(&mut self, name: &str, value: Assigned) {
        match self.merged.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.merged.push((name.to_owned(), value)),
        }
    }

    /// The var-file text for the job file at `path` (its `text`, parsed as `body`): each
    /// inline string written as the type the file declares for it asks. Empty when nothing is
    /// set. An error names the variable and its declared type, never the value (it may be a
    /// secret).
    pub(crate) fn content_for(
        &self,
        path: &str,
        text: &str,
        body: &Body,
    ) -> Result<String, Vec<RenderError>> {
        let mut content = String::new();
        let mut errors = Vec::new();
        for (name, value) in &self.merged {
            let value = match value {
                Assigned::Hcl(hcl) => hcl.clone(),
                Assigned::Text(s) => match declared_type(body, name) {
                    Some(ty) if !reads_literally(ty) => match expression(s) {
                        Ok(()) => s.trim().to_owned(),
                        Err(problem) => {
                            errors.push(not_an_expression(path, text, body, name, ty, &problem));
                            continue;
                        }
                    },
                    _ => quote(s),
                },
            };
            content.push_str(name);
            content.push_str(" = ");
            content.push_str(&value);
            content.push('\n');
        }
        if errors.is_empty() {
            Ok(content)
        } else {
            Err(errors)
        }
    }
}

/// The `type` of the file's `variable "name"` block, when it declares one.
fn declared_type<'a>(body: &'a Body, name: &str) -> Option<&'a Expression> {
    body.get_blocks("variable")
        .find(|b| label(b.labels.first()) == Some(name))?
        .body
        .get_attribute("type")
        .map(|a| &a.value)
}

fn label(label: Option<&BlockLabel>) -> Option<&str> {
    match label? {
        BlockLabel::String(s) => Some(s.as_str()),
        BlockLabel::Ident(i) => Some(i.as_str()),
    }
}

/// Whether Nomad takes a `-var` string for a variable of this type as the string itself:
/// for `string` and `number` (converted later); any other type parses it as an expression.
fn reads_literally(ty: &Expression) -> bool {
    matches!(ty, Expression::Variable(v) if matches!(v.as_str(), "string" | "number"))
}

/// Whether `s` is exactly one HCL expression (so that it cannot add a second assignment to
/// the var file). The problem is worded without the text itself.
fn expression(s: &str) -> Result<(), String> {
    hcl_edit::parser::parse_expr(s).map(drop).map_err(|e| {
        let at = e.location();
        format!(
            "{} at line {}, column {}",
            e.message(),
            at.line(),
            at.column()
        )
    })
}

fn not_an_expression(
    path: &str,
    text: &str,
    body: &Body,
    name: &str,
    ty: &Expression,
    problem: &str,
) -> RenderError {
    let block = body
        .get_blocks("variable")
        .find(|b| label(b.labels.first()) == Some(name));
    let at = block
        .and_then(|b| b.span())
        .map(|s| position(text, s.start));
    let declared = ty
        .span()
        .and_then(|s| text.get(s))
        .unwrap_or("?")
        .trim()
        .to_owned();
    RenderError::new(
        path,
        at,
        ErrorKind::VariableValue {
            name: name.to_owned(),
            declared,
            problem: problem.to_owned(),
        },
    )
}
/// The `name = value` lines of one var file, each value as its source text.
#[allow(clippy::result_large_err)] // one error, pushed onto the caller's list
fn assignments(path: &str, bytes: &[u8]) -> Result<Vec<(String, String)>, RenderError> {
    let bad = |at, message: String| RenderError::new(path, at, ErrorKind::VarContent(message));
    let text =
        std::str::from_utf8(bytes).map_err(|_| RenderError::new(path, None, ErrorKind::NotUtf8))?;
    let body = hcl_edit::parser::parse_body(text).map_err(|e| {
        let at = super::error::Position {
            line: e.location().line(),
            column: e.location().column(),
        };
        bad(Some(at), format!("syntax error: {}", e.message()))
    })?;
    let mut out = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let span = attr.value.span().unwrap_or_default();
                let value = text.get(span).unwrap_or_default().trim().to_owned();
                out.push((attr.key.as_str().to_owned(), value));
            }
            Structure::Block(block) => {
                let at = block.span().map(|s| position(text, s.start));
                let message = format!(
                    "a var file holds only `name = value` lines, not a `{}` block",
                    block.ident.as_str()
                );
                return Err(bad(at, message));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileError;

    struct Mem(BTreeMap<&'static str, &'static str>);

    impl RepoFiles for Mem {
        fn read(&self, path: &str) -> Result<Vec<u8>, FileError> {
            self.0
                .get(path)
                .map(|s| s.as_bytes().to_vec())
                .ok_or_else(|| FileError::Missing { path: path.into() })
        }
    }

    fn files() -> Mem {
        Mem(BTreeMap::from([
            (
                "vars/common.hcl",
                "region = \"eu\"\ntags = [\n  \"a\",\n  \"b\",\n]\nmotd = <<EOT\nhi ${x}\nEOT\n",
            ),
            ("vars/prod.hcl", "region = \"eu-prod\" # later wins\n"),
            ("vars/bad.hcl", "variable \"x\" {}\n"),
        ]))
    }

    /// The var-file text for `job` (HCL) with `inline` set.
    fn content(job: &str, inline: &[(&str, Given)]) -> Result<String, Vec<RenderError>> {
        let inline = inline
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        let vars = load(&files(), &[], &inline).expect("loads");
        let body: Body = job.parse().expect("job HCL");
        vars.content_for("j.nomad.hcl", job, &body)
    }

    #[test]
    fn later_files_and_inline_values_win() {
        let vars = load(
            &files(),
            &["vars/common.hcl".into(), "vars/prod.hcl".into()],
            &BTreeMap::from([("tags".into(), Given::Text("x\"y".into()))]),
        )
        .expect("loads");
        let body = Body::default();
        assert_eq!(
            vars.content_for("j.nomad.hcl", "", &body).expect("content"),
            "region = \"eu-prod\"\ntags = \"x\\\"y\"\nmotd = <<EOT\nhi ${x}\nEOT\n"
        );
        assert_eq!(vars.inputs.len(), 2);
    }

    #[test]
    fn toml_values_become_hcl_values_of_the_same_shape() {
        let cases = [
            ("1", "1"),
            ("-42", "-42"),
            ("2.5", "2.5"),
            ("1e3", "1000"),
            ("true", "true"),
            ("'plain'", "\"plain\""),
            (
                r#""q\"uote\\back\nline\ttab""#,
                r#""q\"uote\\back\nline\ttab""#,
            ),
            ("'${not} %{interpolated}'", "\"$${not} %%{interpolated}\""),
            ("1979-05-27T07:32:00Z", "\"1979-05-27T07:32:00Z\""),
            ("[]", "[]"),
            ("['dc1', 'dc2']", "[\"dc1\", \"dc2\"]"),
            ("[[1, 2], ['a']]", "[[1, 2], [\"a\"]]"),
            ("{}", "{}"),
            (
                "{ http = 8080, 'with space' = { tls = true, names = ['a'] } }",
                "{\"http\" = 8080, \"with space\" = {\"names\" = [\"a\"], \"tls\" = true}}",
            ),
            ("[{ a = 1 }, { b = 'x' }]", "[{\"a\" = 1}, {\"b\" = \"x\"}]"),
        ];
        for (toml_text, hcl) in cases {
            let table: toml::Table = format!("v = {toml_text}").parse().expect(toml_text);
            let given = Given::from_toml(&table["v"]);
            let line = content("job \"j\" {}\n", &[("v", given)]).expect("content");
            assert_eq!(line, format!("v = {hcl}\n"), "from TOML {toml_text}");
            hcl_edit::parser::parse_body(&line).expect("the line is HCL");
        }
    }

    #[test]
    fn a_string_reads_as_nomads_var_flag_reads_it_by_the_declared_type() {
        let job = r#"
variable "dcs" { type = list(string) }
variable "labels" { type = map(string) }
variable "count" { type = number }
variable "debug" { type = bool }
variable "name" { type = string }
variable "anything" {}
job "j" {}
"#;
        let text = |s: &str| Given::Text(s.to_owned());
        let got = content(
            job,
            &[
                ("dcs", text(r#"["dc1", "dc2"]"#)),
                ("labels", text(r#"{ team = "ops" }"#)),
                ("count", text("3")),
                ("debug", text("true")),
                ("name", text(r#"["not", "a list"]"#)),
                ("anything", text("[1]")),
                ("undeclared", text("[1]")),
            ],
        )
        .expect("content");
        let expected = [
            r#"anything = "[1]""#,
            "count = \"3\"",
            r#"dcs = ["dc1", "dc2"]"#,
            "debug = true",
            r#"labels = { team = "ops" }"#,
            r#"name = "[\"not\", \"a list\"]""#,
            r#"undeclared = "[1]""#,
        ];
        assert_eq!(got, expected.map(|l| format!("{l}\n")).concat());
    }

    #[test]
    fn a_string_that_is_no_expression_names_the_variable_and_type_never_the_value() {
        let job = "job \"j\" {}\n\nvariable \"dcs\" {\n  type = list(string)\n}\n";
        for secret in ["[\"s3cr3t\"", "[\"s3cr3t\"]\nother = 1", "s3cr3t ="] {
            let errs =
                content(job, &[("dcs", Given::Text(secret.to_owned()))]).expect_err("refused");
            let message = errs[0].to_string();
            assert!(
                message.starts_with("j.nomad.hcl:3:1: variable \"dcs\" is declared `list(string)`"),
                "{message}"
            );
            assert!(!message.contains("s3cr3t"), "the value leaked: {message}");
        }
    }

    #[test]
    fn missing_and_malformed_var_files_are_named() {
        let errs = load(
            &files(),
            &["vars/nope.hcl".into(), "vars/bad.hcl".into()],
            &BTreeMap::new(),
        )
        .expect_err("rejected");
        assert_eq!(
            errs[0].to_string(),
            "vars/nope.hcl: var file: vars/nope.hcl: no such file in the repository"
        );
        assert!(
            errs[1]
                .to_string()
                .starts_with("vars/bad.hcl:1:1: var file: a var file holds only")
        );
    }
}
