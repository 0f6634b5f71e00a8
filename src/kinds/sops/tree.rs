//! A SOPS document as a tree: maps in the file's key order, lists, and scalars typed the way
//! SOPS's YAML library types them, each node with its line and column. Reads YAML and JSON
//! (JSON is read as the YAML 1.2 it is). Never decrypts and never looks at what a value means.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use crate::render::Position;

/// One node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Node {
    pub at: Position,
    pub value: Value,
}

/// One key of a map, where the key starts, and its value.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Entry {
    pub key: String,
    pub at: Position,
    pub node: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Map(Vec<Entry>),
    List(Vec<Node>),
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// A document that could not be read, at `at` when the parser knows where.
#[derive(Debug, PartialEq)]
pub(super) struct TreeError {
    pub at: Option<Position>,
    pub message: String,
}

impl TreeError {
    fn at(at: Position, message: impl Into<String>) -> Self {
        Self {
            at: Some(at),
            message: message.into(),
        }
    }
}

impl From<ScanError> for TreeError {
    fn from(e: ScanError) -> Self {
        TreeError::at(position(e.marker()), format!("not YAML: {}", e.info()))
    }
}

fn position(marker: &saphyr_parser::Marker) -> Position {
    Position {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

/// The root map of a one-document YAML (or JSON) text, as a list of its entries. SOPS refuses
/// a document that is a list or a scalar, keys that are not strings and repeated keys
/// (`stores/yaml/store.go`), and so does this.
pub(super) fn parse(text: &str) -> Result<Vec<Entry>, TreeError> {
    let mut loader = Loader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
    };
    let mut root = None;
    loop {
        let (event, span) = loader.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart(_) if root.is_some() => {
                let at = position(&span.start);
                return Err(TreeError::at(at, "a SOPS file holds one document"));
            }
            Event::DocumentStart(_) => root = Some(loader.node()?),
            Event::StreamEnd => break,
            _ => {
                let at = position(&span.start);
                return Err(TreeError::at(at, "unexpected YAML event"));
            }
        }
    }
    match root {
        Some(Node {
            value: Value::Map(entries),
            ..
        }) => Ok(entries),
        Some(node) => Err(TreeError::at(node.at, "the document must be a map")),
        None => Err(TreeError {
            at: None,
            message: "the file is empty".into(),
        }),
    }
}

struct Loader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
}

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), TreeError> {
        match self.parser.next_event() {
            Some(result) => Ok(result?),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    /// The node the next event starts.
    fn node(&mut self) -> Result<Node, TreeError> {
        let (event, span) = self.next()?;
        let at = position(&span.start);
        let (anchor, value) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let as_string = style != ScalarStyle::Plain
                    || tag.is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let value = if as_string {
                    Value::Str(text.into_owned())
                } else {
                    resolve(&text)
                };
                (anchor, value)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                while !self.ends(&Event::SequenceEnd)? {
                    items.push(self.node()?);
                }
                (anchor, Value::List(items))
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<Entry> = Vec::new();
                while !self.ends(&Event::MappingEnd)? {
                    let key = self.node()?;
                    let Value::Str(key_text) = key.value else {
                        return Err(TreeError::at(key.at, "a key must be a string"));
                    };
                    if entries.iter().any(|e| e.key == key_text) {
                        let message = format!("the key {key_text:?} is repeated");
                        return Err(TreeError::at(key.at, message));
                    }
                    let node = self.node()?;
                    entries.push(Entry {
                        key: key_text,
                        at: key.at,
                        node,
                    });
                }
                (anchor, Value::Map(entries))
            }
            Event::Alias(id) => {
                return match self.anchors.get(&id) {
                    Some(node) => Ok(Node {
                        at,
                        value: node.value.clone(),
                    }),
                    None => Err(TreeError::at(at, "an alias to an unknown anchor")),
                };
            }
            _ => return Err(TreeError::at(at, "unexpected YAML event")),
        };
        let node = Node { at, value };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// Whether the next event is `end` (and consumes it if so).
    fn ends(&mut self, end: &Event) -> Result<bool, TreeError> {
        match self.parser.peek() {
            Some(Ok((event, _))) if event == end => {
                self.next()?;
                Ok(true)
            }
            Some(Err(e)) => Err(e.into()),
            _ => Ok(false),
        }
    }
}

/// A plain scalar's type as SOPS's YAML library (go-yaml v3, `resolve.go`) decodes it into an
/// untyped value: null, booleans, integers (decimal, `0x`, `0o`, `0b`, a leading `0` for octal,
/// `_` ignored), floats (`1.5`, `1e3`, `.inf`, `.nan`); timestamps and anything else stay
/// strings.
pub(super) fn resolve(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if !text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return Value::Str(text.to_owned());
    }
    let plain = text.replace('_', "");
    if let Some(int) = parse_int(&plain) {
        return Value::Int(int);
    }
    if is_float(&plain)
        && let Ok(float) = plain.parse::<f64>()
    {
        return Value::Float(float);
    }
    Value::Str(text.to_owned())
}

/// Go's `strconv.ParseInt(text, 0, 64)`: a sign, then a base prefix or a leading `0` for octal.
fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// go-yaml's float syntax: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_float(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let text = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn plain_scalars_resolve_as_sops_reads_them() {
        assert_eq!(resolve("~"), Value::Null);
        assert_eq!(resolve(""), Value::Null);
        assert_eq!(resolve("True"), Value::Bool(true));
        assert_eq!(
            resolve("yes"),
            Value::Str("yes".into()),
            "YAML 1.2: not a boolean"
        );
        assert_eq!(resolve("8080"), Value::Int(8080));
        assert_eq!(resolve("-0x1F"), Value::Int(-31));
        assert_eq!(resolve("0o17"), Value::Int(15));
        assert_eq!(resolve("017"), Value::Int(15));
        assert_eq!(resolve("0b101"), Value::Int(5));
        assert_eq!(resolve("1_000"), Value::Int(1000));
        assert_eq!(resolve("1.5"), Value::Float(1.5));
        assert_eq!(resolve("1e3"), Value::Float(1000.0));
        assert_eq!(resolve(".5"), Value::Float(0.5));
        assert_eq!(resolve("-.inf"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(resolve("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(resolve("2024-01-01"), Value::Str("2024-01-01".into()));
        assert_eq!(
            resolve("99999999999999999999"),
            Value::Float(1e20),
            "past 64 bits, an integer reads as a float"
        );
    }

    #[test]
    fn maps_keep_their_order_and_positions() {
        let entries = parse("b: 1\na:\n  - 'x'\n  - !!str 2\nc: {d: null}\n").expect("valid");
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!((entries[0].at, entries[0].node.at), (at(1, 1), at(1, 4)));
        assert_eq!(
            entries[1].node.value,
            Value::List(vec![
                Node {
                    at: at(3, 5),
                    value: Value::Str("x".into())
                },
                Node {
                    at: at(4, 5),
                    value: Value::Str("2".into())
                },
            ])
        );
        let json = parse("{\"a\": \"1\", \"b\": [1.5, true, null]}").expect("JSON");
        assert_eq!(json[0].node.value, Value::Str("1".into()));
    }

    #[test]
    fn what_sops_refuses_is_refused() {
        let message = |text: &str| parse(text).expect_err(text).message;
        assert_eq!(message("- a\n"), "the document must be a map");
        assert_eq!(message("a: 1\na: 2\n"), "the key \"a\" is repeated");
        assert_eq!(message("1: a\n"), "a key must be a string");
        assert_eq!(
            message("a: 1\n---\nb: 2\n"),
            "a SOPS file holds one document"
        );
        assert_eq!(message(""), "the file is empty");
        let e = parse("a: [1\n").expect_err("unclosed");
        assert!(e.message.starts_with("not YAML: "), "{e:?}");
        assert!(e.at.is_some());
    }

    #[test]
    fn aliases_copy_their_anchor() {
        let entries = parse("a: &x {b: 1}\nc: *x\n").expect("valid");
        assert_eq!(entries[0].node.value, entries[1].node.value);
    }
}
