//! Finding things in the config text: the line and column of a byte offset, the key at an
//! offset (to name the key of a TOML deserialization error), and the place of a key (to give a
//! semantic error a line). Works on toml's spanned document tree; only used when reporting an
//! error, so it re-parses the text instead of keeping spans in every schema field.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A key in the document, such as `source[1].cluster` or `clusters.east.address`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct KeyPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    /// Zero-based position in an array (of tables): `source[0]` is the first `[[source]]`.
    Index(usize),
}

impl KeyPath {
    pub(super) fn root(key: &str) -> Self {
        Self(vec![Segment::Key(key.to_owned())])
    }

    pub(super) fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        Self(segments)
    }

    pub(super) fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Self(segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The innermost key whose name or value covers `offset`, if the text parses as TOML.
pub(super) fn path_at(text: &str, offset: usize) -> Option<KeyPath> {
    let doc = DeTable::parse(text).ok()?;
    find_in_table(doc.get_ref(), offset, &KeyPath::default())
}

fn find_in_table(table: &DeTable<'_>, offset: usize, at: &KeyPath) -> Option<KeyPath> {
    table.iter().find_map(|(key, value)| {
        let here = at.key(key.get_ref());
        if key.span().contains(&offset) {
            return Some(here);
        }
        find_in_value(value, offset, &here)
    })
}

fn find_in_value(value: &Spanned<DeValue<'_>>, offset: usize, at: &KeyPath) -> Option<KeyPath> {
    // Children first: a table's span is only its `[header]`, and an inline value's span covers
    // its children, so the innermost match is the precise one.
    let inner = match value.get_ref() {
        DeValue::Table(t) => find_in_table(t, offset, at),
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_in_value(item, offset, &at.index(i))),
        _ => None,
    };
    inner.or_else(|| value.span().contains(&offset).then(|| at.clone()))
}

/// Where `path` is written: the span of its key, or of the nearest enclosing table or array
/// element that is written (a missing key is reported at its table's header).
pub(super) fn span_of(text: &str, path: &KeyPath) -> Option<Range<usize>> {
    let doc = DeTable::parse(text).ok()?;
    let mut best = None;
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    let mut table = Some(doc.get_ref());
    for segment in &path.0 {
        let next = match (segment, table, value.map(Spanned::get_ref)) {
            (Segment::Key(k), Some(t), _) => {
                t.iter()
                    .find(|(key, _)| key.get_ref() == k)
                    .map(|(key, v)| {
                        best = Some(key.span());
                        v
                    })
            }
            (Segment::Index(i), _, Some(DeValue::Array(items))) => items.get(*i).inspect(|v| {
                best = Some(v.span());
            }),
            _ => None,
        };
        let Some(next) = next else { break };
        table = match next.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
        value = Some(next);
    }
    best
}
