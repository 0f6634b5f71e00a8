//! A job's wave: the meta `drover.wave` as the file writes it, an integer in a string (default
//! 0, may be negative). A pass registers a job only after every job of a lower wave that
//! changed in the same pass has reached its end, so the wave must be known before anything is
//! sent to Nomad: it must be a literal, not an expression.

use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::Body;

use super::check::position;
use super::error::{ErrorKind, RenderError};

/// The meta key that orders jobs within a pass.
pub const WAVE_META: &str = "drover.wave";

/// The wave of the file's job block (0 without the key), or the one error that says why it
/// cannot be known.
pub(crate) fn wave(path: &str, text: &str, body: &Body) -> Result<i64, Vec<RenderError>> {
    let Some(job) = body.get_blocks("job").next() else {
        return Ok(0);
    };
    // A key with a dot is not an HCL identifier, so only the object form can hold it.
    let value = match job.body.get_attribute("meta").map(|a| &a.value) {
        Some(Expression::Object(o)) => o
            .iter()
            .find(|(k, _)| key_text(k).as_deref() == Some(WAVE_META))
            .map(|(_, v)| v.expr()),
        _ => None,
    };
    let Some(value) = value else {
        return Ok(0);
    };
    let literal = match value {
        Expression::String(s) => Some(s.as_str().to_owned()),
        _ => None,
    };
    literal
        .as_deref()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| {
            let at = value.span().map(|s| position(text, s.start));
            let message = format!(
                "meta \"{WAVE_META}\" must be an integer written as a literal string, such as \"1\" or \"-1\": the wave is read before the job is sent to Nomad"
            );
            vec![RenderError::new(path, at, ErrorKind::Syntax(message))]
        })
}

fn key_text(key: &ObjectKey) -> Option<String> {
    match key {
        ObjectKey::Ident(i) => Some(i.as_str().to_owned()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.as_str().to_owned()),
        ObjectKey::Expression(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave_of(text: &str) -> Result<i64, String> {
        let body: Body = text.parse().expect("HCL");
        wave("db.nomad.hcl", text, &body).map_err(|e| e[0].to_string())
    }

    #[test]
    fn the_wave_is_read_from_the_meta_object_and_defaults_to_zero() {
        assert_eq!(wave_of("job \"db\" {\n}\n"), Ok(0));
        let block = "job \"db\" {\n  meta {\n    owner = \"x\"\n  }\n}\n";
        assert_eq!(wave_of(block), Ok(0));
        let negative = "job \"db\" {\n  meta = { \"drover.wave\" = \"-2\" }\n}\n";
        assert_eq!(wave_of(negative), Ok(-2));
        let object = "job \"db\" {\n  meta = { \"drover.wave\" = \"3\", owner = \"x\" }\n}\n";
        assert_eq!(wave_of(object), Ok(3));
    }

    #[test]
    fn a_wave_that_is_not_a_literal_integer_is_refused_where_it_is_written() {
        let text = "job \"db\" {\n  meta = {\n    \"drover.wave\" = var.wave\n  }\n}\n";
        let error = wave_of(text).expect_err("refused");
        assert!(
            error.starts_with("db.nomad.hcl:3:21: meta \"drover.wave\" must be an integer"),
            "{error}"
        );
        let text = "job \"db\" {\n  meta = {\n    \"drover.wave\" = \"first\"\n  }\n}\n";
        assert!(wave_of(text).is_err());
    }
}
