//! The `?filter=` of list endpoints: Nomad evaluates a go-bexpr expression on each full object.
//! The simulator reads the part of that language drover sends — comparisons of a top-level
//! field with a string (`Status == "running"`, `!=`), joined by `and` and `or` (`and` binds
//! tighter), without parentheses — and refuses anything else the way Nomad refuses an
//! expression it cannot read: a 500 whose text starts `failed to read filter expression`.

use serde_json::Value;

use crate::http::ApiError;

/// `a == "x" and b != "y" or c == "z"`: alternatives of conjunctions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter(Vec<Vec<Comparison>>);

#[derive(Debug, Clone, PartialEq)]
struct Comparison {
    field: String,
    equal: bool,
    value: String,
}

impl Filter {
    pub(crate) fn parse(text: &str) -> Result<Self, ApiError> {
        let refuse = |why: &str| {
            ApiError::internal(format!(
                "failed to read filter expression: {why} (the simulator reads `Field == \"value\"` \
                 and `!=`, joined by `and` and `or`)"
            ))
        };
        let tokens = tokens(text).ok_or_else(|| refuse("unterminated string"))?;
        let mut alternatives = vec![Vec::new()];
        let mut rest = tokens.as_slice();
        loop {
            let [field, op, value, tail @ ..] = rest else {
                return Err(refuse("expected a comparison"));
            };
            let equal = match op.as_str() {
                "==" => true,
                "!=" => false,
                _ => return Err(refuse("expected == or !=")),
            };
            let Some(value) = value.strip_prefix('"') else {
                return Err(refuse("expected a quoted value"));
            };
            alternatives.last_mut().expect("one").push(Comparison {
                field: field.clone(),
                equal,
                value: value.to_owned(),
            });
            match tail {
                [] => return Ok(Self(alternatives)),
                [join, more @ ..] if join == "and" => rest = more,
                [join, more @ ..] if join == "or" => {
                    alternatives.push(Vec::new());
                    rest = more;
                }
                _ => return Err(refuse("expected `and` or `or`")),
            }
        }
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.0.iter().any(|all| {
            all.iter().all(|c| {
                let actual = object.get(&c.field).and_then(Value::as_str);
                (actual == Some(c.value.as_str())) == c.equal
            })
        })
    }
}

/// Words, operators and strings (kept with their opening quote); `None` for an open string.
fn tokens(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut value = String::from('"');
            loop {
                match chars.next()? {
                    '"' => break,
                    c => value.push(c),
                }
            }
            out.push(value);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek().filter(|c| !c.is_whitespace() && **c != '"') {
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_comparisons_joined_by_and_and_or() {
        let active = Filter::parse(
            r#"Status != "successful" and Status != "failed" and Status != "cancelled""#,
        )
        .expect("parse");
        assert!(active.matches(&json!({"Status": "running"})));
        assert!(!active.matches(&json!({"Status": "failed"})));
        let either = Filter::parse(r#"JobID == "a" or JobID == "b""#).expect("parse");
        assert!(either.matches(&json!({"JobID": "b"})));
        assert!(!either.matches(&json!({"JobID": "c"})));
    }

    #[test]
    fn refuses_what_it_cannot_read_as_nomad_does() {
        for text in [
            "Status",
            r#"Status matches "r.*""#,
            r#"Status == "open"#,
            "(a == \"b\")",
        ] {
            let e = Filter::parse(text).expect_err(text);
            assert_eq!(e.status.as_u16(), 500, "{text}");
            assert!(
                e.text.starts_with("failed to read filter expression"),
                "{text}"
            );
        }
    }
}
