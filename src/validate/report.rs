//! How `drover validate` prints what it found: per file, its `path:LINE:COL: error: message`
//! lines and then its warnings (each kind folded into one line unless `--verbose`, see
//! [`crate::render::report`]) on stderr, and a summary on stdout; or one JSON document on
//! stdout with every diagnostic and its severity.

use serde::Serialize;

use crate::render::{self, Detail, Diagnosed, Position, RenderError, Warning};

/// One problem, with the path as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Diagnostic {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// `error`, or `warning` for what never fails a file by itself.
    pub severity: &'static str,
    pub message: String,
    /// What the warning is about, for folding; the JSON has `severity` and `message`.
    #[serde(skip)]
    pub warning: Option<Warning>,
}

impl Diagnostic {
    /// `err` reported against `path` (the job file as given, or the var file as given).
    pub fn from_render(path: &str, err: &RenderError) -> Self {
        let Position { line, column } = err.position.unwrap_or(Position { line: 0, column: 0 });
        let warning = err.warning().cloned();
        Self {
            path: path.to_owned(),
            line: err.position.map(|_| line),
            column: err.position.map(|_| column),
            severity: if warning.is_some() {
                "warning"
            } else {
                "error"
            },
            message: err.kind.to_string(),
            warning,
        }
    }

    pub fn is_error(&self) -> bool {
        self.warning.is_none()
    }

    pub fn text(&self) -> String {
        let (path, severity, message) = (&self.path, self.severity, &self.message);
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{path}:{l}:{c}: {severity}: {message}"),
            _ => format!("{path}: {severity}: {message}"),
        }
    }
}

impl Diagnosed for Diagnostic {
    fn path(&self) -> &str {
        &self.path
    }

    fn warning(&self) -> Option<&Warning> {
        self.warning.as_ref()
    }

    fn line(&self) -> String {
        self.text()
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    files: usize,
    /// Errors only: a warning fails no file.
    errors: usize,
    warnings: usize,
    diagnostics: &'a [Diagnostic],
}

/// Prints the result of `diagnostics` sorted by path: `json` selects the machine-readable form
/// (every diagnostic), `detail` how the text shows warnings.
pub fn print(
    files: usize,
    diagnostics: &[Diagnostic],
    json: bool,
    detail: Detail,
) -> anyhow::Result<()> {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if json {
        let summary = Summary {
            files,
            errors,
            warnings,
            diagnostics,
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    for file in diagnostics.chunk_by(|a, b| a.path == b.path) {
        eprintln!("{}", render::report(file, detail));
    }
    let failed: std::collections::BTreeSet<&str> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.path.as_str())
        .collect();
    let warned = if warnings > 0 {
        format!(", {warnings} warning(s)")
    } else {
        String::new()
    };
    println!(
        "{files} job file(s) checked: {errors} error(s) in {} file(s){warned}",
        failed.len()
    );
    Ok(())
}
