//! What can go wrong while rendering a job file, always naming the file and, where there is
//! one, the line and column. Also turns Nomad's parse diagnostics (`input.hcl:3,5-9: ...`) into
//! errors that name the real file, and tells its warnings (a [`Warning`]) apart from them.

use crate::nomad;
use crate::policy::Violation;
use crate::source::FileError;

/// A line and column, both one-based, as editors and compilers print them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One problem with one job file. `path` is repository-relative: the job file itself, or the
/// var file a problem was found in. A warning of Nomad's reads `path: warning: ...`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}{kind}", self.location(), if self.warning().is_some() { "warning: " } else { "" })]
pub struct RenderError {
    pub path: String,
    pub position: Option<Position>,
    pub kind: ErrorKind,
}

/// What went wrong; callers match on it (see [`RenderError::is_transient`]).
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The job file itself cannot be read (a link, too large, gone).
    #[error("cannot read the job file: {0}")]
    Unreadable(FileError),
    #[error("not valid UTF-8 text")]
    NotUtf8,
    /// hcl-edit's syntax message (HCL1-only syntax lands here too).
    #[error("{0}")]
    Syntax(String),
    #[error("no job block: a job file holds exactly one top-level `job \"ID\"` block")]
    NoJob,
    #[error(
        "{count} job blocks (lines {lines}): a job file holds exactly one top-level `job \"ID\"` block"
    )]
    SeveralJobs { count: usize, lines: String },
    #[error("the job block needs exactly one label, its ID: `job \"ID\" {{ ... }}`")]
    BadJobLabel,
    /// A `file()`-family call drover cannot inline.
    #[error("{function}(): {reason}")]
    FileCall { function: String, reason: String },
    /// The file a `file()`-family call names cannot be read.
    #[error("{function}({argument:?}): {source}")]
    Inline {
        function: String,
        argument: String,
        source: FileError,
    },
    /// A var file of the source cannot be read.
    #[error("var file: {0}")]
    VarFile(FileError),
    #[error("var file: {0}")]
    VarContent(String),
    /// A string from the source's variables (or `--var`) for a variable whose declared type
    /// makes Nomad read it as an HCL expression, and it is not one. Never holds the value.
    #[error(
        "variable {name:?} is declared `{declared}`, so its string value from the source's variables is read as an HCL expression (as `nomad job run -var` reads it), and it is not one: {problem}; give it as a TOML array or table, or as HCL text of that type"
    )]
    VariableValue {
        name: String,
        declared: String,
        problem: String,
    },
    /// Nomad rejected the job (its parse diagnostics, with this file's name).
    #[error("{0}")]
    Nomad(String),
    /// A diagnostic of Nomad's parse that is no error; `message` is Nomad's text.
    #[error("{message}")]
    Warning { warning: Warning, message: String },
    /// Nomad could not be asked (unreachable, no leader, ACL): not the file's fault.
    #[error("Nomad: {0}")]
    Unavailable(nomad::Error),
    #[error("job {id:?} in namespace {namespace:?} is also declared by {other}; both are blocked")]
    Duplicate {
        id: String,
        namespace: String,
        other: String,
    },
    #[error("{0}")]
    Policy(Box<Violation>),
}

/// What a warning is about. A warning never blocks a job by itself: Nomad tells its warnings
/// only with the errors that made a parse fail, and a report folds each kind into one line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Warning {
    /// A variable set that the job does not declare. A source sets its variables for all its
    /// jobs, and Nomad's non-strict parse warns once for each that a job does not declare.
    UndeclaredVariable(String),
}

impl RenderError {
    pub(crate) fn new(path: &str, position: Option<Position>, kind: ErrorKind) -> Self {
        Self {
            path: path.to_owned(),
            position,
            kind,
        }
    }

    /// `path:LINE:COL`, or `path` when the problem has no position.
    pub fn location(&self) -> String {
        match self.position {
            Some(p) => format!("{}:{}:{}", self.path, p.line, p.column),
            None => self.path.clone(),
        }
    }

    /// True when the file is not at fault and the same inputs may render later (Nomad was
    /// unreachable or refused the token): such a job is neither blocked nor recorded as bad.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable(_))
    }

    /// The warning this is, if it is no error.
    pub fn warning(&self) -> Option<&Warning> {
        match &self.kind {
            ErrorKind::Warning { warning, .. } => Some(warning),
            _ => None,
        }
    }
}

/// Where an edited line's columns moved: inlining replaces a call on one line by a literal on
/// the same line, so only columns after it on that line shift.
#[derive(Debug, Clone, Default)]
pub(crate) struct ColumnShifts {
    /// In file order: (line, start column in the edited text, length of the new text,
    /// characters added), all in characters.
    shifts: Vec<(usize, usize, usize, isize)>,
}

impl ColumnShifts {
    pub(crate) fn push(&mut self, line: usize, start: usize, new_len: usize, added: isize) {
        self.shifts.push((line, start, new_len, added));
    }

    /// The position in the original file of a position in the edited text; a position inside
    /// an inlined literal maps to the call it replaced.
    fn original(&self, p: Position) -> Position {
        let mut moved = 0isize;
        for &(line, start, new_len, added) in &self.shifts {
            if line != p.line || p.column < start {
                continue;
            }
            if p.column < start + new_len {
                let column = (start as isize - moved).max(1) as usize;
                return Position { column, ..p };
            }
            moved += added;
        }
        let column = (p.column as isize - moved).max(1) as usize;
        Position { column, ..p }
    }
}

/// Nomad's parse errors as errors of `path`. Nomad's text is `Failed to parse job: ` followed by
/// diagnostics `input.hcl:L,C-E: Summary; Detail`, one per line, or `<nil>: ...` without a
/// location, or `unable to parse var content: ...` for the variables.
pub(crate) fn from_nomad(path: &str, err: nomad::Error, shifts: &ColumnShifts) -> Vec<RenderError> {
    let text = match err {
        nomad::Error::Parse { text } => text,
        other => return vec![RenderError::new(path, None, ErrorKind::Unavailable(other))],
    };
    let body = text
        .strip_prefix("Failed to parse job: ")
        .unwrap_or(&text)
        .to_owned();
    if let Some(vars) = body.strip_prefix("unable to parse var content: ") {
        let message = vars.replace("input.hcl", "(variables)");
        return vec![RenderError::new(path, None, ErrorKind::VarContent(message))];
    }
    let mut errors: Vec<RenderError> = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| diagnostic(path, line, shifts))
        .collect();
    // Nomad fails a parse only for an error; should its text hold none, the job is still
    // refused, and its report must not read as warnings alone.
    if errors.iter().all(|e| e.warning().is_some()) {
        let refused = "Nomad refused the job without naming an error".to_owned();
        errors.insert(0, RenderError::new(path, None, ErrorKind::Nomad(refused)));
    }
    errors
}

fn diagnostic(path: &str, line: &str, shifts: &ColumnShifts) -> RenderError {
    if let Some(error) = warning(path, line) {
        return error;
    }
    let plain = |message: &str| RenderError::new(path, None, ErrorKind::Nomad(message.to_owned()));
    if let Some(rest) = line.strip_prefix("<nil>: ") {
        return plain(rest);
    }
    let Some(rest) = line.strip_prefix("input.hcl:") else {
        return plain(&line.replace("input.hcl", path));
    };
    let Some((range, message)) = rest.split_once(": ") else {
        return plain(rest);
    };
    let start = range.split('-').next().unwrap_or_default();
    let position = start.split_once(',').and_then(|(l, c)| {
        Some(Position {
            line: l.parse().ok()?,
            column: c.parse().ok()?,
        })
    });
    let message = message.replace("input.hcl", path);
    RenderError::new(
        path,
        position.map(|p| shifts.original(p)),
        ErrorKind::Nomad(message),
    )
}

/// Nomad's `Undefined variable` warning (`<nil>: Undefined variable; A "NAME" variable was set
/// but was not found in known variables. ...`) as a warning of `path`. It is about the
/// variables, not the job file: a location, if Nomad gave one, is not kept.
fn warning(path: &str, line: &str) -> Option<RenderError> {
    const SUMMARY: &str = "Undefined variable; A \"";
    const SET: &str = "\" variable was set but was not found in known variables";
    let (_location, message) = line.split_once(": ")?;
    let (name, _) = message.strip_prefix(SUMMARY)?.split_once(SET)?;
    let kind = ErrorKind::Warning {
        warning: Warning::UndeclaredVariable(name.to_owned()),
        message: message.to_owned(),
    };
    Some(RenderError::new(path, None, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> nomad::Error {
        nomad::Error::Parse { text: text.into() }
    }

    #[test]
    fn nomad_diagnostics_name_the_file_and_map_columns_back() {
        let mut shifts = ColumnShifts::default();
        shifts.push(3, 10, 10, 5);
        let text = "Failed to parse job: input.hcl:3,35-38: Unsupported argument; An argument named \"foo\" is not expected here.\ninput.hcl:9,1-4: Unsupported block type; x";
        let errs = from_nomad("jobs/a.nomad.hcl", parse_err(text), &shifts);
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs[0].to_string(),
            "jobs/a.nomad.hcl:3:30: Unsupported argument; An argument named \"foo\" is not expected here."
        );
        assert_eq!(errs[1].position, Some(Position { line: 9, column: 1 }));
        let nil = from_nomad(
            "a.hcl",
            parse_err(
                "Failed to parse job: <nil>: Unset variable \"x\"; A used variable must be set",
            ),
            &shifts,
        );
        assert_eq!(
            nil[0].to_string(),
            "a.hcl: Unset variable \"x\"; A used variable must be set"
        );
    }

    #[test]
    fn undefined_variables_are_warnings_that_keep_nomads_text() {
        let text = "Failed to parse job: <nil>: Undefined variable; A \"region\" variable was set but was not found in known variables. To declare variable \"region\", place this block in your job files\ninput.hcl:4,3-6: Unsupported argument; An argument named \"foo\" is not expected here.";
        let errs = from_nomad("a.hcl", parse_err(text), &ColumnShifts::default());
        assert_eq!(
            errs[0].warning(),
            Some(&Warning::UndeclaredVariable("region".into()))
        );
        assert_eq!(
            errs[0].to_string(),
            "a.hcl: warning: Undefined variable; A \"region\" variable was set but was not found in known variables. To declare variable \"region\", place this block in your job files"
        );
        assert_eq!(errs[1].warning(), None, "{}", errs[1]);
        assert!(!errs[1].is_transient());
        let warnings_only = from_nomad(
            "a.hcl",
            parse_err(text.lines().next().unwrap_or_default()),
            &ColumnShifts::default(),
        );
        assert_eq!(warnings_only.len(), 2);
        assert_eq!(
            warnings_only[0].warning(),
            None,
            "a refused parse has an error"
        );
    }

    #[test]
    fn other_nomad_errors_are_transient() {
        let errs = from_nomad(
            "a.hcl",
            nomad::Error::NoLeader { text: "x".into() },
            &ColumnShifts::default(),
        );
        assert!(errs[0].is_transient());
    }
}
