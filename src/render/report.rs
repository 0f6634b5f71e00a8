//! A file's diagnostics as the text of its report: its errors first, in the order given (file
//! order), then its warnings, each kind folded into one line or, in full, every one as Nomad
//! wrote it. The one place that turns diagnostics into text, for `drover sync`, `/status`, the
//! events, `drover validate` and `drover diff`. Pure formatting; never decides what is an
//! error.

use super::error::{RenderError, Warning};

/// Names a folded line shows; the rest are counted.
const NAMES_SHOWN: usize = 5;

/// How a report shows warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// Each kind in one line: a source's fifty variables must not bury the one error.
    #[default]
    Folded,
    /// Every warning in full (`--verbose`, `/status`).
    Full,
}

/// A diagnostic as a report shows it: render's own errors, and `drover validate`'s.
pub trait Diagnosed {
    /// The file, as the report names it.
    fn path(&self) -> &str;
    /// The warning it is, if it is no error.
    fn warning(&self) -> Option<&Warning>;
    /// The whole diagnostic, as one line of a report.
    fn line(&self) -> String;
}

impl Diagnosed for RenderError {
    fn path(&self) -> &str {
        &self.path
    }

    fn warning(&self) -> Option<&Warning> {
        RenderError::warning(self)
    }

    fn line(&self) -> String {
        self.to_string()
    }
}

/// The report of one file's `diagnostics`, one line each: errors first, then warnings as
/// `detail` says. A folded line reads `path: warning: 49 variables of the source are not
/// declared by this job (a, b, c, d, e and 44 more)`: names, never values.
pub fn report<D: Diagnosed>(diagnostics: &[D], detail: Detail) -> String {
    let (warnings, errors): (Vec<&D>, Vec<&D>) =
        diagnostics.iter().partition(|d| d.warning().is_some());
    let mut lines: Vec<String> = errors.iter().map(|d| d.line()).collect();
    match detail {
        Detail::Full => lines.extend(warnings.iter().map(|d| d.line())),
        Detail::Folded => {
            if let Some(first) = warnings.first() {
                let kinds = warnings.iter().filter_map(|d| d.warning());
                lines.push(format!("{}: warning: {}", first.path(), undeclared(kinds)));
            }
        }
    }
    lines.join("\n")
}

/// One line for the variables set but not declared.
fn undeclared<'a>(warnings: impl Iterator<Item = &'a Warning>) -> String {
    let names: Vec<&str> = warnings
        .map(|w| match w {
            Warning::UndeclaredVariable(name) => name.as_str(),
        })
        .collect();
    let shown = names[..names.len().min(NAMES_SHOWN)].join(", ");
    let rest = names.len().saturating_sub(NAMES_SHOWN);
    let more = if rest > 0 {
        format!(" and {rest} more")
    } else {
        String::new()
    };
    match names.len() {
        1 => format!("1 variable of the source is not declared by this job ({shown})"),
        n => format!("{n} variables of the source are not declared by this job ({shown}{more})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nomad;
    use crate::render::error::{ColumnShifts, from_nomad};

    const PATH: &str = "jobs/web.nomad.hcl";

    /// Nomad's answer for a job that declares `v07` of the fifty variables its source sets and
    /// has one error: a warning for each of the other 49, first, then the error.
    fn fifty_variables_and_one_error() -> Vec<RenderError> {
        let mut text = "Failed to parse job: ".to_owned();
        for i in (1..=50).filter(|&i| i != 7) {
            let name = format!("v{i:02}");
            text.push_str(&format!(
                "<nil>: Undefined variable; A \"{name}\" variable was set but was not found in known variables. To declare variable \"{name}\", place this block in your job files\n"
            ));
        }
        text.push_str(
            "input.hcl:9,5-10: Unsupported argument; An argument named \"bogus\" is not expected here.",
        );
        let err = nomad::Error::Parse { text };
        from_nomad(PATH, err, &ColumnShifts::default())
    }

    #[test]
    fn one_error_of_a_job_using_one_of_fifty_variables_comes_first_and_the_warnings_fold() {
        let errors = fifty_variables_and_one_error();
        let text = report(&errors, Detail::Folded);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "jobs/web.nomad.hcl:9:5: Unsupported argument; An argument named \"bogus\" is not expected here.",
                "jobs/web.nomad.hcl: warning: 49 variables of the source are not declared by this job (v01, v02, v03, v04, v05 and 44 more)",
            ]
        );
    }

    #[test]
    fn in_full_every_warning_follows_the_errors() {
        let errors = fifty_variables_and_one_error();
        let text = report(&errors, Detail::Full);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 50);
        assert!(lines[0].starts_with("jobs/web.nomad.hcl:9:5: Unsupported argument"));
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with("jobs/web.nomad.hcl: warning: Undefined variable; A \"v"))
        );
        assert!(lines[49].contains("\"v50\""), "{}", lines[49]);
    }

    #[test]
    fn errors_keep_their_order_and_a_single_warning_reads_in_the_singular() {
        let text = "Failed to parse job: <nil>: Undefined variable; A \"dc\" variable was set but was not found in known variables. To declare variable \"dc\", place this block in your job files\ninput.hcl:3,1-2: B; b\ninput.hcl:2,1-2: A; a";
        let err = nomad::Error::Parse { text: text.into() };
        let errors = from_nomad("j.hcl", err, &ColumnShifts::default());
        assert_eq!(
            report(&errors, Detail::Folded),
            "j.hcl:3:1: B; b\nj.hcl:2:1: A; a\nj.hcl: warning: 1 variable of the source is not declared by this job (dc)"
        );
        let plain = &errors[1..];
        assert_eq!(
            report(plain, Detail::Folded),
            report(plain, Detail::Full),
            "without warnings nothing is folded"
        );
    }
}
