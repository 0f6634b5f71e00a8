//! Step 3, variables: a source's `var_files` (HCL `name = value` files in the repository) and
//! its inline `variables`, merged into the one var-file text Nomad's parse request takes, as
//! `nomad job run -var-file A -var-file B -var k=v` would apply them: later entries win.
//!
//! Values are copied by span, never re-serialized. Runtime interpolations are not touched here
//! or anywhere: only Nomad evaluates the job.

use std::collections::{BTreeMap, BTreeSet};

use hcl_edit::Span;
use hcl_edit::structure::Structure;

use super::check::position;
use super::error::{ErrorKind, RenderError};
use super::inline::quote;
use crate::source::RepoFiles;

/// A source's merged variables, and the var files they came from (for the fingerprint).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Variables {
    /// HCL var-file content for the parse request's `Variables`; empty when there are none.
    pub(crate) content: String,
    pub(crate) inputs: Vec<(String, Vec<u8>)>,
    /// The names set, for the local unset-variable check.
    pub(crate) names: BTreeSet<String>,
}

/// Reads and merges the var files, then the inline variables.
pub(crate) fn load(
    files: &dyn RepoFiles,
    var_files: &[String],
    inline: &BTreeMap<String, String>,
) -> Result<Variables, Vec<RenderError>> {
    // Name → value text, in first-set order (a later file overrides the value, not the order).
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: String| match merged.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value,
        None => merged.push((name.to_owned(), value)),
    };
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
            Ok(values) => values.into_iter().for_each(|(n, v)| set(&n, v)),
            Err(e) => errors.push(e),
        }
        out.inputs.push((path.clone(), bytes));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for (name, value) in inline {
        set(name, quote(value));
    }
    out.names = merged.iter().map(|(n, _)| n.clone()).collect();
    out.content = merged
        .iter()
        .map(|(name, value)| format!("{name} = {value}\n"))
        .collect();
    Ok(out)
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

    #[test]
    fn later_files_and_inline_values_win() {
        let vars = load(
            &files(),
            &["vars/common.hcl".into(), "vars/prod.hcl".into()],
            &BTreeMap::from([("tags".into(), "x\"y".into())]),
        )
        .expect("loads");
        assert_eq!(
            vars.content,
            "region = \"eu-prod\"\ntags = \"x\\\"y\"\nmotd = <<EOT\nhi ${x}\nEOT\n"
        );
        assert_eq!(vars.inputs.len(), 2);
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
