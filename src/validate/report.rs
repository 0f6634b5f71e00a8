//! How `drover validate` prints what it found: `path:LINE:COL: error: message` lines on stderr
//! and a summary on stdout, or one JSON document on stdout.

use serde::Serialize;

use crate::render::{Position, RenderError};

/// One problem, with the path as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Diagnostic {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub severity: &'static str,
    pub message: String,
}

impl Diagnostic {
    /// `err` reported against `path` (the job file as given, or the var file as given).
    pub fn from_render(path: &str, err: &RenderError) -> Self {
        let Position { line, column } = err.position.unwrap_or(Position { line: 0, column: 0 });
        Self {
            path: path.to_owned(),
            line: err.position.map(|_| line),
            column: err.position.map(|_| column),
            severity: "error",
            message: err.kind.to_string(),
        }
    }

    pub fn text(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}: error: {}", self.path, self.message),
            _ => format!("{}: error: {}", self.path, self.message),
        }
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    files: usize,
    errors: usize,
    diagnostics: &'a [Diagnostic],
}

/// Prints the result; `json` selects the machine-readable form.
pub fn print(files: usize, diagnostics: &[Diagnostic], json: bool) -> anyhow::Result<()> {
    if json {
        let summary = Summary {
            files,
            errors: diagnostics.len(),
            diagnostics,
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    for d in diagnostics {
        eprintln!("{}", d.text());
    }
    let failed: std::collections::BTreeSet<&str> =
        diagnostics.iter().map(|d| d.path.as_str()).collect();
    println!(
        "{files} job file(s) checked: {} error(s) in {} file(s)",
        diagnostics.len(),
        failed.len()
    );
    Ok(())
}
