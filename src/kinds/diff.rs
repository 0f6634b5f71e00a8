//! What differs between an object's file and the object Nomad returns, field by field, for
//! the fields the file sets. Pure; never decides whether a difference is worth a write.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{Change, Spec};

/// What differs between `spec` and `live` (the object as Nomad returns it), comparing only the
/// fields the file sets. Meta: only the file's keys, `drover.*` keys on either side ignored.
/// Items (and a namespace's extra claims): compared as a map, every key both ways. Rules: as
/// text, ignoring only trailing whitespace at line ends and at the end. Policies (roles): as a
/// set of names. Lists of drivers, modes and pools: as sets. A block (`Capabilities`) is
/// compared whole, since writing it replaces it whole. Absent, `null`, `""`, `[]` and `{}` are
/// alike. Empty: in step. A secret's values are never in a change (see [`Change::secret`]).
pub fn changes(spec: &Spec, live: &Value) -> Vec<Change> {
    let mut out = compare(spec, live);
    if spec.secret.is_some() {
        for change in &mut out {
            change.live = None;
            change.desired = None;
            change.secret = true;
        }
    }
    out
}

fn compare(spec: &Spec, live: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    for (field, desired) in &spec.fields {
        let live = live.get(field);
        match field.as_str() {
            "Meta" => meta(desired, live, &mut out),
            "Items" | "RequiredExtraClaims" | "OptionalExtraClaims" => {
                let keys = keys(Some(desired)).union(&keys(live)).cloned().collect();
                compare_keys(field, keys, desired, live, &mut out);
            }
            "Rules" => {
                let text = |v: Option<&Value>| v.and_then(Value::as_str).map(rules_text);
                if text(Some(desired)) != text(live) {
                    out.push(change(field, live, Some(desired)));
                }
            }
            "Policies" => {
                let (desired, live) = (policy_names(Some(desired)), policy_names(live));
                if desired != live {
                    out.push(Change {
                        field: field.clone(),
                        live: live.map(|names| names_text(&names)),
                        desired: desired.map(|names| names_text(&names)),
                        secret: false,
                    });
                }
            }
            _ if desired.is_object() => {
                let keys = keys(Some(desired)).union(&keys(live)).cloned().collect();
                compare_keys(field, keys, desired, live, &mut out);
            }
            _ => {
                if !alike(Some(desired), live) {
                    out.push(change(field, live, Some(desired)));
                }
            }
        }
    }
    out
}

fn meta(desired: &Value, live: Option<&Value>, out: &mut Vec<Change>) {
    let keys = keys(Some(desired))
        .into_iter()
        .filter(|k| !k.starts_with("drover."))
        .collect();
    compare_keys("Meta", keys, desired, live, out);
}

/// Compares `keys` of two objects, each as `parent.key`.
fn compare_keys(
    parent: &str,
    keys: BTreeSet<String>,
    desired: &Value,
    live: Option<&Value>,
    out: &mut Vec<Change>,
) {
    for key in keys {
        let (d, l) = (desired.get(&key), live.and_then(|l| l.get(&key)));
        if !alike(d, l) {
            out.push(change(&format!("{parent}.{key}"), l, d));
        }
    }
}

fn keys(value: Option<&Value>) -> BTreeSet<String> {
    value
        .and_then(Value::as_object)
        .map(Map::keys)
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

/// Equal, with lists as sets and every kind of empty alike.
fn alike(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (normal(a), normal(b)) {
        (None, None) => true,
        (Some(Value::Array(a)), Some(Value::Array(b))) => set(a) == set(b),
        (a, b) => a == b,
    }
}

fn normal(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    })
}

fn set(items: &[Value]) -> BTreeSet<String> {
    items.iter().map(Value::to_string).collect()
}

/// Rules as Nomad's parser sees them: trailing whitespace at line ends and at the end does not
/// count.
fn rules_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim_end().to_owned()
}

/// The names of a role's policies: links `{"Name": ...}`, or names.
fn policy_names(value: Option<&Value>) -> Option<BTreeSet<String>> {
    let names: BTreeSet<String> = value?
        .as_array()?
        .iter()
        .filter_map(|p| p.get("Name").unwrap_or(p).as_str())
        .map(str::to_owned)
        .collect();
    (!names.is_empty()).then_some(names)
}

fn names_text(names: &BTreeSet<String>) -> String {
    Value::from(names.iter().cloned().collect::<Vec<_>>()).to_string()
}

fn change(field: &str, live: Option<&Value>, desired: Option<&Value>) -> Change {
    Change {
        field: field.to_owned(),
        live: show(live),
        desired: show(desired),
        secret: false,
    }
}

/// A string as itself, anything else as JSON; `null` as absent.
fn show(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Kind;
    use super::*;

    fn spec(kind: Kind, fields: Value) -> Spec {
        let Value::Object(fields) = fields else {
            panic!("an object")
        };
        Spec {
            kind,
            name: "x".into(),
            namespace: None,
            path: "x.hcl".into(),
            fields,
            secret: None,
        }
    }

    fn fields(changes: &[Change]) -> Vec<&str> {
        changes.iter().map(|c| c.field.as_str()).collect()
    }

    #[test]
    fn in_step_when_only_unset_fields_differ() {
        let s = spec(Kind::Namespace, json!({"Description": "d"}));
        let live = json!({"Name": "x", "Description": "d", "Quota": "q", "Meta": {"a": "1"}, "CreateIndex": 4});
        assert_eq!(changes(&s, &live), []);
    }

    #[test]
    fn scalars_show_both_sides() {
        let s = spec(Kind::Namespace, json!({"Description": "new", "Quota": "q"}));
        let live = json!({"Description": "old"});
        assert_eq!(
            changes(&s, &live),
            [
                Change {
                    field: "Description".into(),
                    live: Some("old".into()),
                    desired: Some("new".into()),
                    secret: false,
                },
                Change {
                    field: "Quota".into(),
                    live: None,
                    desired: Some("q".into()),
                    secret: false,
                },
            ]
        );
    }

    #[test]
    fn meta_compares_the_files_keys_and_ignores_drovers() {
        let s = spec(
            Kind::NodePool,
            json!({"Meta": {"owner": "ops", "tier": "1"}}),
        );
        let live = json!({"Meta": {"owner": "ops", "tier": "2", "by-hand": "x", "drover.source": "infra"}});
        let c = changes(&s, &live);
        assert_eq!(fields(&c), ["Meta.tier"]);
        assert_eq!(
            (c[0].live.as_deref(), c[0].desired.as_deref()),
            (Some("2"), Some("1"))
        );
        let live = json!({"Meta": null});
        assert_eq!(fields(&changes(&s, &live)), ["Meta.owner", "Meta.tier"]);
    }

    #[test]
    fn items_compare_both_ways() {
        let s = spec(
            Kind::Variable,
            json!({"Items": {"greeting": "hi", "b": "1"}}),
        );
        let live =
            json!({"Path": "x", "Items": {"greeting": "hello", "b": "1", "added": "by hand"}});
        let c = changes(&s, &live);
        assert_eq!(fields(&c), ["Items.added", "Items.greeting"]);
        assert_eq!(
            (c[0].live.as_deref(), c[0].desired.as_deref()),
            (Some("by hand"), None)
        );
        let same = json!({"Items": {"b": "1", "greeting": "hi"}});
        assert_eq!(changes(&s, &same), []);
    }

    #[test]
    fn a_secrets_changes_name_the_items_and_never_hold_a_value() {
        let s = Spec {
            secret: Some(super::super::DigestKey::derive(b"key")),
            ..spec(Kind::Variable, json!({"Items": {"password": "new-secret"}}))
        };
        let live = json!({"Items": {"password": "old-secret"}});
        let c = changes(&s, &live);
        assert_eq!(fields(&c), ["Items.password"]);
        assert!(c[0].secret && c[0].live.is_none() && c[0].desired.is_none());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("new-secret") && !shown.contains("old-secret"),
            "{shown}"
        );
    }

    #[test]
    fn rules_ignore_only_trailing_whitespace() {
        let s = spec(
            Kind::AclPolicy,
            json!({"Rules": "namespace \"*\" {\n  policy = \"read\"\n}\n"}),
        );
        let padded = json!({"Rules": "namespace \"*\" {   \n  policy = \"read\"\t\n}\n\n  \n"});
        assert_eq!(changes(&s, &padded), []);
        let indented = json!({"Rules": "namespace \"*\" {\n    policy = \"read\"\n}\n"});
        assert_eq!(fields(&changes(&s, &indented)), ["Rules"]);
        assert_eq!(fields(&changes(&s, &json!({}))), ["Rules"]);
    }

    #[test]
    fn policies_are_a_set_of_names() {
        let s = spec(
            Kind::AclRole,
            json!({"Policies": [{"Name": "a"}, {"Name": "b"}]}),
        );
        let reordered = json!({"ID": "1", "Policies": [{"Name": "b"}, {"Name": "a"}]});
        assert_eq!(changes(&s, &reordered), []);
        let fewer = json!({"Policies": [{"Name": "a"}]});
        assert_eq!(
            changes(&s, &fewer),
            [Change {
                field: "Policies".into(),
                live: Some("[\"a\"]".into()),
                desired: Some("[\"a\",\"b\"]".into()),
                secret: false,
            }]
        );
    }

    #[test]
    fn blocks_compare_whole_with_lists_as_sets() {
        let s = spec(
            Kind::Namespace,
            json!({"Capabilities": {"EnabledTaskDrivers": ["docker", "exec"]}}),
        );
        let live = json!({"Capabilities": {"EnabledTaskDrivers": ["exec", "docker"], "DisabledTaskDrivers": null, "EnabledNetworkModes": []}});
        assert_eq!(changes(&s, &live), []);
        let live = json!({"Capabilities": {"EnabledTaskDrivers": ["docker"], "DisabledTaskDrivers": ["raw_exec"]}});
        let c = changes(&s, &live);
        assert_eq!(
            fields(&c),
            [
                "Capabilities.DisabledTaskDrivers",
                "Capabilities.EnabledTaskDrivers"
            ]
        );
        assert_eq!(c[0].desired, None);
        assert_eq!(c[1].desired.as_deref(), Some("[\"docker\",\"exec\"]"));
        assert_eq!(
            fields(&changes(&s, &json!({"Capabilities": null}))),
            ["Capabilities.EnabledTaskDrivers"]
        );
        let pool = spec(
            Kind::NodePool,
            json!({"SchedulerConfiguration": {"MemoryOversubscriptionEnabled": false}}),
        );
        let unset = json!({"SchedulerConfiguration": {"SchedulerAlgorithm": "", "MemoryOversubscriptionEnabled": null}});
        assert_eq!(
            fields(&changes(&pool, &unset)),
            ["SchedulerConfiguration.MemoryOversubscriptionEnabled"],
            "false is a choice, not an empty value"
        );
    }
}
