//! The two variable mistakes Nomad rejects that need no evaluation, found locally so that
//! `drover validate` reports them without a server: a `var.NAME` the file never declares, and
//! a declared variable without a default that nothing sets.

use std::collections::BTreeSet;

use hcl_edit::Span;
use hcl_edit::expr::{Expression, Traversal, TraversalOperator};
use hcl_edit::structure::{BlockLabel, Body};
use hcl_edit::visit::{Visit, visit_traversal};

use super::check::position;
use super::error::{ErrorKind, RenderError};

#[derive(Default)]
struct Uses {
    /// (name, byte offset) of each `var.NAME`.
    found: Vec<(String, usize)>,
}

impl Visit for Uses {
    fn visit_traversal(&mut self, t: &Traversal) {
        if let (Expression::Variable(root), Some(first)) = (&t.expr, t.operators.first())
            && root.as_str() == "var"
            && let TraversalOperator::GetAttr(name) = first.value()
        {
            let at = t.span().map_or(0, |s| s.start);
            self.found.push((name.as_str().to_owned(), at));
        }
        visit_traversal(self, t);
    }
}

/// Errors for undeclared references and unset variables; `set` are the names the var files
/// and inline variables give.
pub(crate) fn check(
    path: &str,
    text: &str,
    body: &Body,
    set: &BTreeSet<String>,
) -> Vec<RenderError> {
    let mut errors = Vec::new();
    let mut declared = BTreeSet::new();
    for block in body.get_blocks("variable") {
        let name = match block.labels.first() {
            Some(BlockLabel::String(s)) => s.as_str().to_owned(),
            Some(BlockLabel::Ident(i)) => i.as_str().to_owned(),
            None => continue,
        };
        if block.body.get_attribute("default").is_none() && !set.contains(&name) {
            let at = block.span().map(|s| position(text, s.start));
            let message = format!(
                "Unset variable {name:?}; a variable without a default must be set by a var file or the source's variables"
            );
            errors.push(RenderError::new(path, at, ErrorKind::Nomad(message)));
        }
        declared.insert(name);
    }
    let mut uses = Uses::default();
    uses.visit_body(body);
    for (name, at) in uses.found {
        if !declared.contains(&name) {
            let message = format!(
                "Reference to undeclared input variable; an input variable with the name {name:?} has not been declared"
            );
            let at = Some(position(text, at));
            errors.push(RenderError::new(path, at, ErrorKind::Nomad(message)));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_and_undeclared_variables() {
        let text = "variable \"a\" {}\nvariable \"b\" { default = 1 }\nvariable \"c\" {}\njob \"j\" {\n  x = \"${var.a}-${var.nope}\"\n  y = var.c\n}\n";
        let body: Body = text.parse().expect("hcl");
        let set = BTreeSet::from(["c".to_owned()]);
        let errs: Vec<String> = check("j.hcl", text, &body, &set)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("j.hcl:1:1: Unset variable \"a\""),
            "{}",
            errs[0]
        );
        assert!(
            errs[1].starts_with("j.hcl:5:19: Reference to undeclared input variable"),
            "{}",
            errs[1]
        );
    }
}
