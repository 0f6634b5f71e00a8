//! The building blocks of nomad/structs/diff.go: diff types, primitive flattening
//! (helper/flatmap), field diffs, string-set diffs and primitive object diffs, with Nomad's sort
//! orders and JSON shapes.
//!
//! Owns: value → string rendering as Go's `fmt.Sprintf("%v")` does it. Never: knowledge of which
//! job fields exist (see `job`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub(crate) type Flat = BTreeMap<String, String>;

/// Fields of type `map[string]string` that flatmap expands into `Name[key]` entries.
const STRING_MAPS: &[&str] = &[
    "Meta",
    "Env",
    "CanaryMeta",
    "TaggedAddresses",
    "GetterOptions",
    "GetterHeaders",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DiffType {
    Added,
    Deleted,
    Edited,
    None,
}

impl DiffType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DiffType::Added => "Added",
            DiffType::Deleted => "Deleted",
            DiffType::Edited => "Edited",
            DiffType::None => "None",
        }
    }

    /// diff.go's reverse sort: Edited, Added, Deleted, None.
    fn rank(self) -> u8 {
        match self {
            DiffType::Edited => 0,
            DiffType::Added => 1,
            DiffType::Deleted => 2,
            DiffType::None => 3,
        }
    }

    /// Added when only `new` exists, Deleted when only `old`, else Edited.
    pub(crate) fn of(old: Option<&Value>, new: Option<&Value>) -> DiffType {
        match (old, new) {
            (None, Some(_)) => DiffType::Added,
            (Some(_), None) => DiffType::Deleted,
            _ => DiffType::Edited,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct FieldDiff {
    pub typ: DiffType,
    pub name: String,
    pub old: String,
    pub new: String,
    pub annotations: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct ObjectDiff {
    pub typ: DiffType,
    pub name: String,
    pub fields: Vec<FieldDiff>,
    pub objects: Vec<ObjectDiff>,
}

/// A JSON object of `fields` in their order, the values moved in: `json!` would serialize each
/// interpolated `Value` again, once per level of a nested diff.
pub(crate) fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Go nil slices encode as `null`.
pub(crate) fn list_json<T>(items: &[T], f: impl Fn(&T) -> Value) -> Value {
    if items.is_empty() {
        return Value::Null;
    }
    Value::Array(items.iter().map(f).collect())
}

impl FieldDiff {
    pub(crate) fn to_json(&self) -> Value {
        object([
            ("Type", self.typ.as_str().into()),
            ("Name", self.name.as_str().into()),
            ("Old", self.old.as_str().into()),
            ("New", self.new.as_str().into()),
            (
                "Annotations",
                list_json(&self.annotations, |a| a.as_str().into()),
            ),
        ])
    }

    fn cmp(&self, other: &FieldDiff) -> Ordering {
        (&self.name, &self.old, &self.new).cmp(&(&other.name, &other.old, &other.new))
    }
}

impl ObjectDiff {
    pub(crate) fn to_json(&self) -> Value {
        object([
            ("Type", self.typ.as_str().into()),
            ("Name", self.name.as_str().into()),
            ("Fields", list_json(&self.fields, FieldDiff::to_json)),
            ("Objects", list_json(&self.objects, ObjectDiff::to_json)),
        ])
    }

    fn cmp(&self, other: &ObjectDiff) -> Ordering {
        self.name
            .cmp(&other.name)
            .then(self.typ.rank().cmp(&other.typ.rank()))
            .then(self.fields.len().cmp(&other.fields.len()))
            .then(self.objects.len().cmp(&other.objects.len()))
            .then_with(|| {
                let pairs = self.fields.iter().zip(&other.fields);
                pairs
                    .map(|(a, b)| a.cmp(b))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
    }
}

pub(crate) fn sort_objects(objects: &mut [ObjectDiff]) {
    objects.sort_by(ObjectDiff::cmp);
}

/// A JSON primitive as Go's `%v` prints it; `None` for objects, arrays and null.
pub(crate) fn go_string(v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => Some(b.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_f64() => n.as_f64().map(go_float),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `%v` of a float64 (strconv 'g' with shortest precision): exponent form when the decimal
/// exponent is below -4 or at least 6, so 1000000.0 prints as `1e+06`.
fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// flatmap.Flatten(obj, skip, true): the primitive fields of one struct, plus string maps.
pub(crate) fn flatten(v: &Value, skip: &[&str]) -> Flat {
    let mut out = Flat::new();
    let Some(m) = v.as_object() else { return out };
    for (key, val) in m.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
        if let Some(s) = go_string(val) {
            out.insert(key.clone(), s);
        } else if let (true, Some(map)) = (STRING_MAPS.contains(&key.as_str()), val.as_object()) {
            for (k, x) in map {
                out.insert(format!("{key}[{k}]"), go_string(x).unwrap_or_default());
            }
        }
    }
    out
}

/// flatmap.Flatten(obj, nil, false): every leaf, maps as `a[b]`, slices as `a[0]`, nil as "nil".
pub(crate) fn flatten_full(v: &Value, prefix: &str, out: &mut Flat) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}[{k}]")
                };
                flatten_full(x, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                flatten_full(x, &format!("{prefix}[{i}]"), out);
            }
        }
        Value::Null => {
            out.insert(prefix.to_string(), "nil".into());
        }
        _ => {
            out.insert(prefix.to_string(), go_string(v).unwrap_or_default());
        }
    }
}

fn field_diff(old: &str, new: &str, name: &str, contextual: bool) -> Option<FieldDiff> {
    let typ = match (old, new) {
        _ if old == new && !contextual => return None,
        _ if old == new => DiffType::None,
        ("", _) => DiffType::Added,
        (_, "") => DiffType::Deleted,
        _ => DiffType::Edited,
    };
    let annotations = Vec::new();
    Some(FieldDiff {
        typ,
        name: name.into(),
        old: old.into(),
        new: new.into(),
        annotations,
    })
}

pub(crate) fn field_diffs(old: &Flat, new: &Flat, contextual: bool) -> Vec<FieldDiff> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut out: Vec<FieldDiff> = keys
        .into_iter()
        .filter_map(|k| {
            let (o, n) = (
                old.get(k).map_or("", String::as_str),
                new.get(k).map_or("", String::as_str),
            );
            field_diff(o, n, k, contextual)
        })
        .collect();
    out.sort_by(FieldDiff::cmp);
    out
}

/// diff.go stringSetDiff over JSON string arrays.
pub(crate) fn string_set_diff(
    old: &[Value],
    new: &[Value],
    name: &str,
    contextual: bool,
) -> Option<ObjectDiff> {
    let set =
        |items: &[Value]| -> BTreeSet<String> { items.iter().filter_map(go_string).collect() };
    let (old, new) = (set(old), set(new));
    if old == new && !contextual {
        return None;
    }
    let mut fields: Vec<FieldDiff> = Vec::new();
    fields.extend(
        old.difference(&new)
            .filter_map(|k| field_diff(k, "", name, contextual)),
    );
    fields.extend(
        old.intersection(&new)
            .filter_map(|k| field_diff(k, k, name, contextual)),
    );
    fields.extend(
        new.difference(&old)
            .filter_map(|k| field_diff("", k, name, contextual)),
    );
    fields.sort_by(FieldDiff::cmp);
    let (added, removed) = (
        new.difference(&old).next().is_some(),
        old.difference(&new).next().is_some(),
    );
    let typ = match (added, removed) {
        (true, true) => DiffType::Edited,
        (true, false) => DiffType::Added,
        (false, true) => DiffType::Deleted,
        _ if fields.is_empty() => return None,
        _ => DiffType::None,
    };
    Some(ObjectDiff {
        typ,
        name: name.into(),
        fields,
        objects: Vec::new(),
    })
}

/// diff.go primitiveObjectDiff: the type follows from the field changes; no change → None.
pub(crate) fn primitive_object_diff(
    old: Option<&Value>,
    new: Option<&Value>,
    skip: &[&str],
    name: &str,
    contextual: bool,
) -> Option<ObjectDiff> {
    let flat = |v: Option<&Value>| v.map(|v| flatten(v, skip)).unwrap_or_default();
    let fields = field_diffs(&flat(old), &flat(new), contextual);
    let has = |t: DiffType| fields.iter().any(|f| f.typ == t);
    let typ = match (
        has(DiffType::Edited),
        has(DiffType::Added),
        has(DiffType::Deleted),
    ) {
        (true, _, _) | (_, true, true) => DiffType::Edited,
        (_, true, false) => DiffType::Added,
        (_, false, true) => DiffType::Deleted,
        _ => return None,
    };
    Some(ObjectDiff {
        typ,
        name: name.into(),
        fields,
        objects: Vec::new(),
    })
}

/// diff.go primitiveObjectSetDiff: objects matched by content, so an edit is a Deleted/Added pair.
pub(crate) fn primitive_set_diff(
    old: &[Value],
    new: &[Value],
    skip: &[&str],
    name: &str,
    contextual: bool,
) -> Vec<ObjectDiff> {
    let key = |v: &Value| v.to_string();
    let old_keys: BTreeSet<String> = old.iter().map(key).collect();
    let new_keys: BTreeSet<String> = new.iter().map(key).collect();
    let mut out: Vec<ObjectDiff> = Vec::new();
    for o in old.iter().filter(|o| !new_keys.contains(&key(o))) {
        out.extend(primitive_object_diff(Some(o), None, skip, name, contextual));
    }
    for n in new.iter().filter(|n| !old_keys.contains(&key(n))) {
        out.extend(primitive_object_diff(None, Some(n), skip, name, contextual));
    }
    sort_objects(&mut out);
    out
}

/// The common shape of diff.go's per-struct functions (serviceDiff, templateDiff, vaultDiff,
/// Resources.Diff, ...): nil when equal, the type from presence, all primitive fields.
pub(crate) fn struct_diff(
    old: Option<&Value>,
    new: Option<&Value>,
    skip: &[&str],
    name: &str,
    contextual: bool,
) -> Option<ObjectDiff> {
    if old == new {
        return None;
    }
    let flat = |v: Option<&Value>| v.map(|v| flatten(v, skip)).unwrap_or_default();
    let fields = field_diffs(&flat(old), &flat(new), contextual);
    Some(ObjectDiff {
        typ: DiffType::of(old, new),
        name: name.into(),
        fields,
        objects: Vec::new(),
    })
}
