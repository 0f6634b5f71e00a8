//! HCL diagnostics: source ranges, their `input.hcl:L,C-C` rendering, and the two ways Nomad's
//! parse endpoint joins several diagnostics into one error text.
//!
//! Owns only formatting; it never decides which diagnostic a construct produces.

use std::ops::Range;

/// The file name the parse endpoint gives the job (command/agent/job_endpoint.go).
pub(super) const FILE: &str = "input.hcl";

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Diag {
    pub summary: String,
    pub detail: String,
    /// Byte range in the job source; `None` renders as `<nil>` (a Go nil `*hcl.Range`).
    pub subject: Option<Range<usize>>,
    /// A location already rendered against another source (the var-file content).
    pub fixed_loc: Option<String>,
    pub warning: bool,
}

pub(super) type Diags = Vec<Diag>;

impl Diag {
    pub(super) fn new(
        summary: impl Into<String>,
        detail: impl Into<String>,
        at: Option<Range<usize>>,
    ) -> Self {
        Diag {
            summary: summary.into(),
            detail: detail.into(),
            subject: at,
            fixed_loc: None,
            warning: false,
        }
    }

    /// Pins the subject to `src` (the var-file content) so it renders against that text.
    pub(super) fn located_in(mut self, src: &str) -> Self {
        self.fixed_loc = self.subject.take().map(|r| range_string(src, &r));
        self
    }

    /// Renders like hcl.Diagnostic.Error(): `<subject>: <summary>; <detail>`.
    pub(super) fn render(&self, src: &str) -> String {
        let at = match (&self.fixed_loc, &self.subject) {
            (Some(loc), _) => loc.clone(),
            (None, Some(r)) => range_string(src, r),
            (None, None) => "<nil>".to_string(),
        };
        format!("{at}: {}; {}", self.summary, self.detail)
    }
}

/// 1-based line and column (counted in characters, as HCL does) of a byte offset.
pub(super) fn pos(src: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(src, offset.min(src.len()));
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(src: &str, mut i: usize) -> usize {
    while i > 0 && !src.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// hcl.Range.String(): `file:L,C-C` on one line, `file:L1,C1-L2,C2` across lines.
pub(super) fn range_string(src: &str, r: &Range<usize>) -> String {
    let (l1, c1) = pos(src, r.start);
    let (l2, c2) = pos(src, r.end);
    if l1 == l2 {
        format!("{FILE}:{l1},{c1}-{c2}")
    } else {
        format!("{FILE}:{l1},{c1}-{l2},{c2}")
    }
}

pub(super) fn has_errors(diags: &[Diag]) -> bool {
    diags.iter().any(|d| !d.warning)
}

/// hcl.Diagnostics.Error(): the first diagnostic plus a count of the others.
pub(super) fn first_and_count(diags: &[Diag], src: &str) -> String {
    match diags {
        [] => "no diagnostics".to_string(),
        [one] => one.render(src),
        [first, rest @ ..] => format!(
            "{}, and {} other diagnostic(s)",
            first.render(src),
            rest.len()
        ),
    }
}

/// What jobspec2's decode() does with body diagnostics: every one, warnings included, one per line.
pub(super) fn joined(diags: &[Diag], src: &str) -> String {
    diags
        .iter()
        .map(|d| d.render(src))
        .collect::<Vec<_>>()
        .join("\n")
}

/// HCL's nameSuggestion: the first candidate within Levenshtein distance 2.
pub(super) fn suggestion<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates.into_iter().find(|c| levenshtein(given, c) < 3)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
