//! Reading one object file, HCL or JSON, into a tree of values that remembers where each key
//! and value starts, and the checks every kind shares: unknown and repeated keys, literal
//! strings, lists and maps of strings, names and descriptions. Knows no kind's fields, and
//! evaluates nothing: a template, a function call or a reference in HCL is refused, not
//! computed.

use std::collections::BTreeMap;

use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{BlockLabel, Body, Structure};
use hcl_edit::template::Element;
use serde_json::{Map, Value as Json};

use super::KindError;
use crate::render::{Position, position, syntax_message};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Hcl,
    Json,
}

/// One value of the file and the byte offset it starts at.
#[derive(Debug)]
pub(super) struct Node {
    pub at: usize,
    pub value: Value,
}

#[derive(Debug)]
pub(super) enum Value {
    /// A literal string. `heredoc` is how many columns a `<<-` heredoc's lines lost (0 for
    /// `<<`); `None` for a quoted string.
    Text {
        text: String,
        heredoc: Option<usize>,
    },
    Bool(bool),
    /// A number as written.
    Number(String),
    Null,
    List(Vec<Node>),
    /// An HCL body, block or object, or a JSON object, in file order.
    Map(Vec<Entry>),
    /// Any other HCL expression.
    Expression,
}

/// One attribute or block of an HCL body, or one member of an object.
#[derive(Debug)]
pub(super) struct Entry {
    pub key: String,
    pub at: usize,
    /// An HCL block's labels with their offsets.
    pub labels: Vec<(String, usize)>,
    pub node: Node,
}

/// A field of a kind's file: its HCL name, its JSON name (the API's, which is also its name in
/// [`super::Spec::fields`]) and what it holds. `""` where a format has no such field.
#[derive(Debug, Clone, Copy)]
pub(super) struct Field {
    pub hcl: &'static str,
    pub json: &'static str,
    pub shape: Shape,
}

impl Field {
    /// The name [`Fields::get`] knows it by: the JSON name, or the HCL name of a field only HCL
    /// has.
    fn key(self) -> &'static str {
        match self.json {
            "" => self.hcl,
            json => json,
        }
    }
}

pub(super) const fn field(hcl: &'static str, json: &'static str, shape: Shape) -> Field {
    Field { hcl, json, shape }
}

/// What a field holds, for [`Doc::object`].
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// Read by the kind itself (the identity, and fields with rules of their own).
    Own,
    /// Accepted and dropped: what Nomad's own output holds besides the object (`CreateIndex`).
    Ignored,
    Text,
    /// A string of at most 256 bytes, as Nomad limits every kind's description.
    Description,
    /// A string from a fixed list.
    OneOf(&'static [&'static str]),
    Texts,
    Bool,
    /// A map of strings.
    Map,
    /// A map of strings without `drover.*` keys, which are drover's ownership stamp.
    Meta,
    Block(&'static [Field]),
}

/// The fields an object sets, by [`Field::key`].
pub(super) struct Fields<'n>(Vec<(&'static str, &'n Entry)>);

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Entry> {
        self.0
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, e)| *e)
    }
}

/// One file being read, and the problems found so far.
pub(super) struct Doc<'a> {
    pub path: &'a str,
    text: &'a str,
    pub format: Format,
    errors: Vec<KindError>,
}

impl<'a> Doc<'a> {
    /// JSON when `path` ends in `.json`, else HCL. The root is a map; a syntax error ends the
    /// reading at once.
    pub fn parse(path: &'a str, text: &'a str) -> Result<(Self, Node), Vec<KindError>> {
        let format = match path.ends_with(".json") {
            true => Format::Json,
            false => Format::Hcl,
        };
        let mut doc = Doc {
            path,
            text,
            format,
            errors: Vec::new(),
        };
        let root = match format {
            Format::Hcl => {
                let body = hcl_edit::parser::parse_body(text).map_err(|e| {
                    let (at, message) = hcl_syntax(&e);
                    vec![doc.located(at, message)]
                })?;
                doc.body(&body, 0)
            }
            Format::Json => {
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
                    let (at, message) = json_syntax(&e);
                    return Err(vec![doc.located(at, message)]);
                }
                let root = JsonWalk { text, at: 0 }.value();
                if !matches!(root.value, Value::Map(_)) {
                    let at = Some(root.at);
                    doc.error(at, "the file must hold one JSON object");
                    return Err(doc.errors);
                }
                root
            }
        };
        Ok((doc, root))
    }

    fn located(&self, at: Position, message: String) -> KindError {
        KindError {
            path: self.path.to_owned(),
            position: Some(at),
            message,
        }
    }

    pub fn position(&self, at: usize) -> Position {
        position(self.text, at)
    }

    pub fn error(&mut self, at: Option<usize>, message: impl Into<String>) {
        let position = at.map(|a| self.position(a));
        self.errors.push(KindError {
            path: self.path.to_owned(),
            position,
            message: message.into(),
        });
    }

    /// A problem found in another file (an ACL policy's rules file).
    pub fn push(&mut self, error: KindError) {
        self.errors.push(error);
    }

    /// The object, or every problem found.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<KindError>> {
        match self.errors.is_empty() {
            true => Ok(value),
            false => Err(self.into_errors()),
        }
    }

    /// Every problem found, in file order.
    pub fn into_errors(mut self) -> Vec<KindError> {
        self.errors.sort_by_key(|e| e.position);
        self.errors
    }

    /// The entries of `node` that `schema` knows; every other key, a repeated key and a label
    /// are errors. JSON names match as Nomad's decoder matches them, ignoring case, and a JSON
    /// `null` is a field left out. `what` names the object in messages: "a namespace file",
    /// "`capabilities`".
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str, schema: &[Field]) -> Fields<'n> {
        let Value::Map(entries) = &node.value else {
            self.error(
                Some(node.at),
                format!("{what} must be a block or an object"),
            );
            return Fields(Vec::new());
        };
        let mut found: Vec<(&'static str, &'n Entry)> = Vec::new();
        for entry in entries {
            if matches!(entry.node.value, Value::Null) && self.format == Format::Json {
                continue;
            }
            let known = schema.iter().find(|f| match self.format {
                Format::Hcl => f.hcl == entry.key && !f.hcl.is_empty(),
                Format::Json => f.json.eq_ignore_ascii_case(&entry.key) && !f.json.is_empty(),
            });
            let Some(known) = known else {
                let names: Vec<String> = schema
                    .iter()
                    .map(|f| self.name_of(*f))
                    .filter(|n| !n.is_empty())
                    .map(|n| format!("`{n}`"))
                    .collect();
                let noun = self.noun(entry);
                let message = format!(
                    "unknown {noun} `{}`: {what} takes {}",
                    entry.key,
                    names.join(", ")
                );
                self.error(Some(entry.at), message);
                continue;
            };
            if let Some((_, first)) = found.iter().find(|(name, _)| *name == known.key()) {
                let line = self.position(first.at).line;
                let message = format!("`{}` is set twice (first on line {line})", entry.key);
                self.error(Some(entry.at), message);
                continue;
            }
            if let Some((_, at)) = entry.labels.first() {
                self.error(Some(*at), format!("`{}` takes no label", entry.key));
                continue;
            }
            found.push((known.key(), entry));
        }
        Fields(found)
    }

    /// The fields of `node` that `schema` knows, and the values of those it reads itself (all
    /// but [`Shape::Own`] and [`Shape::Ignored`]), in schema order, by JSON name.
    pub fn object<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        schema: &[Field],
    ) -> (Fields<'n>, Map<String, Json>) {
        let fields = self.fields(node, what, schema);
        let mut values = Map::new();
        for field in schema {
            let Some(entry) = fields.get(field.key()) else {
                continue;
            };
            if let Some(value) = self.shaped(entry, field.shape) {
                values.insert(field.json.to_owned(), value);
            }
        }
        (fields, values)
    }

    fn shaped(&mut self, entry: &Entry, shape: Shape) -> Option<Json> {
        let (node, key) = (&entry.node, entry.key.as_str());
        match shape {
            Shape::Own | Shape::Ignored => None,
            Shape::Text => self.text(node, key).map(Json::String),
            Shape::Description => self.description(entry).map(Json::String),
            Shape::OneOf(allowed) => {
                let text = self.text(node, key)?;
                if allowed.contains(&text.as_str()) {
                    return Some(Json::String(text));
                }
                let allowed: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
                let message = format!("`{key}` must be one of {}", allowed.join(", "));
                self.error(Some(node.at), message);
                None
            }
            Shape::Texts => {
                let texts = self.texts(node, key)?;
                Some(Json::Array(texts.into_iter().map(Json::String).collect()))
            }
            Shape::Bool => self.boolean(node, key).map(Json::Bool),
            Shape::Map | Shape::Meta => {
                let map = self.string_map(node, key)?;
                let mut ok = true;
                if matches!(shape, Shape::Meta) {
                    for (name, (at, _)) in map.iter().filter(|(k, _)| k.starts_with("drover.")) {
                        let message = format!(
                            "`{key}.{name}`: `drover.*` keys are drover's own ownership stamp; choose another key"
                        );
                        self.error(Some(*at), message);
                        ok = false;
                    }
                }
                let map = map.into_iter().map(|(k, (_, v))| (k, Json::String(v)));
                ok.then(|| Json::Object(map.collect()))
            }
            Shape::Block(schema) => {
                let (_, values) = self.object(node, &format!("`{key}`"), schema);
                Some(Json::Object(values))
            }
        }
    }

    /// The object's name, which the file must set.
    pub fn name(&mut self, entry: Option<&Entry>, noun: &str, underscore: bool) -> Option<String> {
        let Some(entry) = entry else {
            let key = match self.format {
                Format::Hcl => "name",
                Format::Json => "Name",
            };
            self.error(None, format!("no `{key}`: the file must name its {noun}"));
            return None;
        };
        let name = self.text(&entry.node, &entry.key)?;
        self.named(name, entry.at, noun, underscore)
    }

    /// `name`, if Nomad takes it; else an error at `at`.
    pub fn named(
        &mut self,
        name: String,
        at: usize,
        noun: &str,
        underscore: bool,
    ) -> Option<String> {
        if let Err(problem) = check_name(&name, underscore) {
            self.error(Some(at), format!("invalid {noun} name {name:?}: {problem}"));
            return None;
        }
        Some(name)
    }

    fn name_of(&self, field: Field) -> &'static str {
        match self.format {
            Format::Hcl => field.hcl,
            Format::Json => field.json,
        }
    }

    fn noun(&self, entry: &Entry) -> &'static str {
        match (self.format, &entry.node.value) {
            (Format::Json, _) => "field",
            (Format::Hcl, Value::Map(_)) => "block or attribute",
            (Format::Hcl, _) => "attribute",
        }
    }

    /// A literal string.
    pub fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Text { text, .. } => Some(text.clone()),
            other => {
                let message = self.expected(other, what, "a string");
                self.error(Some(node.at), message);
                None
            }
        }
    }

    /// A list of literal strings.
    pub fn texts(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let Value::List(items) = &node.value else {
            let message = self.expected(&node.value, what, "a list of strings");
            self.error(Some(node.at), message);
            return None;
        };
        let texts: Vec<Option<String>> = items.iter().map(|i| self.text(i, what)).collect();
        texts.into_iter().collect()
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            other => {
                let message = self.expected(other, what, "true or false");
                self.error(Some(node.at), message);
                None
            }
        }
    }

    /// A map of strings, from a block (`meta { k = "v" }`), an HCL object (`meta = { "k.x" =
    /// "v" }`) or a JSON object; each value with the offset of its key.
    pub fn string_map(
        &mut self,
        node: &Node,
        what: &str,
    ) -> Option<BTreeMap<String, (usize, String)>> {
        let Value::Map(entries) = &node.value else {
            let message = self.expected(&node.value, what, "a map of strings");
            self.error(Some(node.at), message);
            return None;
        };
        let mut map = BTreeMap::new();
        let mut ok = true;
        for entry in entries {
            let label = format!("{what}.{}", entry.key);
            if let Some((_, at)) = entry.labels.first() {
                self.error(Some(*at), format!("`{label}` takes no label"));
                ok = false;
                continue;
            }
            let value = match &entry.node.value {
                Value::Text { text, .. } => text.clone(),
                Value::Number(n) => {
                    let message = format!(
                        "`{label}` must be a string: quote it (`\"{n}\"`); Nomad keeps only strings here"
                    );
                    self.error(Some(entry.node.at), message);
                    ok = false;
                    continue;
                }
                Value::Bool(b) => {
                    let message = format!(
                        "`{label}` must be a string: quote it (`\"{b}\"`); Nomad keeps only strings here"
                    );
                    self.error(Some(entry.node.at), message);
                    ok = false;
                    continue;
                }
                other => {
                    let message = self.expected(other, &label, "a string");
                    self.error(Some(entry.node.at), message);
                    ok = false;
                    continue;
                }
            };
            if let Some((first, _)) = map.get(&entry.key) {
                let line = self.position(*first).line;
                let message = format!("`{label}` is set twice (first on line {line})");
                self.error(Some(entry.at), message);
                ok = false;
                continue;
            }
            map.insert(entry.key.clone(), (entry.at, value));
        }
        ok.then_some(map)
    }

    fn expected(&self, found: &Value, what: &str, wanted: &str) -> String {
        match found {
            Value::Expression => format!(
                "`{what}` must be {wanted} written out: drover evaluates no expressions, templates or function calls in these files"
            ),
            _ => format!("`{what}` must be {wanted}"),
        }
    }

    /// A description, at most 256 bytes for every kind (`max*DescriptionLength` in
    /// `nomad/structs`).
    fn description(&mut self, entry: &Entry) -> Option<String> {
        const LIMIT: usize = 256;
        let text = self.text(&entry.node, &entry.key)?;
        if text.len() > LIMIT {
            let message = format!(
                "the description is {} bytes, over Nomad's limit of {LIMIT}",
                text.len()
            );
            self.error(Some(entry.at), message);
            return None;
        }
        Some(text)
    }

    /// Reads an HCL body; `at` is where it starts.
    fn body(&mut self, body: &Body, at: usize) -> Node {
        let entries = body
            .iter()
            .map(|structure| match structure {
                Structure::Attribute(attr) => Entry {
                    key: attr.key.as_str().to_owned(),
                    at: start(attr.span()),
                    labels: Vec::new(),
                    node: self.expr(&attr.value),
                },
                Structure::Block(block) => {
                    let at = start(block.span());
                    Entry {
                        key: block.ident.as_str().to_owned(),
                        at,
                        labels: block.labels.iter().map(label).collect(),
                        node: self.body(&block.body, at),
                    }
                }
            })
            .collect();
        Node {
            at,
            value: Value::Map(entries),
        }
    }

    fn expr(&mut self, expr: &Expression) -> Node {
        let at = start(expr.span());
        let value = match expr {
            Expression::String(s) => Value::Text {
                text: s.as_str().to_owned(),
                heredoc: None,
            },
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Number(n) => Value::Number(n.value().to_string()),
            Expression::Null(_) => Value::Null,
            Expression::Array(items) => Value::List(items.iter().map(|e| self.expr(e)).collect()),
            Expression::Object(object) => {
                let mut entries = Vec::new();
                for (key, value) in object.iter() {
                    let key_at = start(key.span());
                    let key = match key {
                        ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                        ObjectKey::Expression(Expression::String(s)) => s.as_str().to_owned(),
                        ObjectKey::Expression(_) => {
                            let message = "an object key must be a name or a quoted string";
                            self.error(Some(key_at), message);
                            continue;
                        }
                    };
                    entries.push(Entry {
                        key,
                        at: key_at,
                        labels: Vec::new(),
                        node: self.expr(value.expr()),
                    });
                }
                Value::Map(entries)
            }
            Expression::StringTemplate(template) => match literal(template.iter()) {
                Some(text) => Value::Text {
                    text,
                    heredoc: None,
                },
                None => Value::Expression,
            },
            Expression::HeredocTemplate(heredoc) => match literal(heredoc.template.iter()) {
                Some(text) => Value::Text {
                    text,
                    heredoc: Some(heredoc.indent().unwrap_or(0)),
                },
                None => Value::Expression,
            },
            _ => Value::Expression,
        };
        Node { at, value }
    }
}

/// Where an HCL syntax error is, and what it is.
pub(super) fn hcl_syntax(e: &hcl_edit::parser::Error) -> (Position, String) {
    let at = Position {
        line: e.location().line(),
        column: e.location().column(),
    };
    (at, syntax_message(e.message(), e.line()))
}

/// Where a JSON syntax error is, and what it is, without serde_json's own "at line" suffix.
pub(super) fn json_syntax(e: &serde_json::Error) -> (Position, String) {
    let at = Position {
        line: e.line().max(1),
        column: e.column().max(1),
    };
    let message = e.to_string();
    let message = message
        .rfind(" at line ")
        .map_or(&*message, |i| &message[..i]);
    (at, format!("invalid JSON: {message}"))
}

/// Checks a name against Nomad's rule for namespaces, ACL policies and roles, or (with
/// `underscore`) node pools: `^[a-zA-Z0-9-]{1,128}$` in `nomad/structs/structs.go` and
/// `acl.go`, with `_` in `node_pool.go`.
pub(super) fn check_name(name: &str, underscore: bool) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || (underscore && c == '_');
    match (name.len(), name.chars().all(allowed)) {
        (1..=128, true) => Ok(()),
        _ if underscore => {
            Err("Nomad takes 1 to 128 ASCII letters, digits, dashes and underscores".into())
        }
        _ => Err("Nomad takes 1 to 128 ASCII letters, digits and dashes".into()),
    }
}

fn start(span: Option<std::ops::Range<usize>>) -> usize {
    span.map_or(0, |s| s.start)
}

fn label(label: &BlockLabel) -> (String, usize) {
    let text = match label {
        BlockLabel::String(s) => s.as_str(),
        BlockLabel::Ident(i) => i.as_str(),
    };
    (text.to_owned(), start(label.span()))
}

/// The text of a template that holds only literal parts.
fn literal<'t>(mut elements: impl Iterator<Item = &'t Element>) -> Option<String> {
    elements.try_fold(String::new(), |mut text, element| match element {
        Element::Literal(part) => {
            text.push_str(part.as_str());
            Some(text)
        }
        _ => None,
    })
}

/// Walks JSON that serde_json already accepted, keeping the offset of every key and value.
struct JsonWalk<'t> {
    text: &'t str,
    at: usize,
}

impl JsonWalk<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip(&mut self) {
        while matches!(
            self.peek(),
            Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b':')
        ) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Node {
        self.skip();
        let at = self.at;
        let value = match self.peek() {
            Some(b'{') => {
                self.at += 1;
                let mut entries = Vec::new();
                loop {
                    self.skip();
                    if matches!(self.peek(), Some(b'}') | None) {
                        self.at += 1;
                        break;
                    }
                    let key_at = self.at;
                    let key = self.string();
                    let node = self.value();
                    entries.push(Entry {
                        key,
                        at: key_at,
                        labels: Vec::new(),
                        node,
                    });
                }
                Value::Map(entries)
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip();
                    if matches!(self.peek(), Some(b']') | None) {
                        self.at += 1;
                        break;
                    }
                    items.push(self.value());
                }
                Value::List(items)
            }
            Some(b'"') => Value::Text {
                text: self.string(),
                heredoc: None,
            },
            Some(b't') => {
                self.at += 4;
                Value::Bool(true)
            }
            Some(b'f') => {
                self.at += 5;
                Value::Bool(false)
            }
            Some(b'n') => {
                self.at += 4;
                Value::Null
            }
            _ => {
                let rest = &self.text[self.at..];
                let len = rest
                    .find(|c: char| !matches!(c, '0'..='9' | '-' | '+' | '.' | 'e' | 'E'))
                    .unwrap_or(rest.len())
                    .max(1);
                self.at += len;
                Value::Number(rest[..len].to_owned())
            }
        };
        Node { at, value }
    }

    /// The string starting at the current offset, unescaped.
    fn string(&mut self) -> String {
        let start = self.at;
        self.at += 1;
        while let Some(b) = self.peek() {
            self.at += match b {
                b'\\' => 2,
                _ => 1,
            };
            if b == b'"' {
                break;
            }
        }
        let end = self.at.min(self.text.len());
        serde_json::from_str(&self.text[start..end]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(path: &'static str, text: &'static str) -> (Doc<'static>, Node) {
        Doc::parse(path, text).expect("parses")
    }

    #[test]
    fn json_keeps_the_offsets_of_keys_and_values() {
        let text =
            "{\n  \"Name\": \"a\\\"b\",\n  \"Meta\": {\"k\": \"v\"},\n  \"L\": [1, true, null]\n}";
        let (doc, node) = root("x.json", text);
        let Value::Map(entries) = &node.value else {
            panic!("a map")
        };
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].key, "Name");
        assert_eq!(doc.position(entries[0].at), Position { line: 2, column: 3 });
        assert!(matches!(&entries[0].node.value, Value::Text { text, .. } if text == "a\"b"));
        let Value::Map(meta) = &entries[1].node.value else {
            panic!("a map")
        };
        assert_eq!(
            doc.position(meta[0].at),
            Position {
                line: 3,
                column: 12
            }
        );
        let Value::List(items) = &entries[2].node.value else {
            panic!("a list")
        };
        assert!(matches!(&items[0].value, Value::Number(n) if n == "1"));
        assert!(matches!(items[1].value, Value::Bool(true)));
        assert!(matches!(items[2].value, Value::Null));
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = |path, text| match Doc::parse(path, text) {
            Ok(_) => panic!("{text:?} parsed"),
            Err(e) => e[0].to_string(),
        };
        let e = err("a.json", "{\n  \"Name\": \"a\",,\n}");
        assert!(e.starts_with("a.json:2:15: invalid JSON: "), "{e}");
        assert!(!e.contains("at line"), "{e}");
        assert_eq!(
            err("a.json", "[1]"),
            "a.json:1:1: the file must hold one JSON object"
        );
        let e = err("a.hcl", "name = \n");
        assert!(e.starts_with("a.hcl:1:8: syntax error: "), "{e}");
    }

    #[test]
    fn hcl_templates_and_references_are_not_literals() {
        let (mut doc, node) = root("a.hcl", "a = \"x${y}\"\nb = \"$${y}\"\nc = upper(\"x\")\n");
        let Value::Map(entries) = &node.value else {
            panic!("a map")
        };
        assert_eq!(doc.text(&entries[1].node, "b").as_deref(), Some("${y}"));
        assert_eq!(doc.text(&entries[0].node, "a"), None);
        assert_eq!(doc.text(&entries[2].node, "c"), None);
        let errors = doc.finish(()).expect_err("refused");
        assert_eq!(
            errors[0].to_string(),
            "a.hcl:1:5: `a` must be a string written out: drover evaluates no expressions, templates or function calls in these files"
        );
        assert_eq!(errors[1].location(), "a.hcl:3:5");
    }

    #[test]
    fn names_follow_nomads_rules() {
        assert!(check_name("ops-read", false).is_ok());
        assert!(check_name("gpu_a", false).is_err());
        assert!(check_name("gpu_a", true).is_ok());
        assert!(check_name("", true).is_err());
        assert!(check_name(&"a".repeat(129), false).is_err());
        assert!(check_name("é", true).is_err());
    }
}
