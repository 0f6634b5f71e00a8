//! The variable file, the specification `nomad var put` reads (`command/var_put.go`, the
//! fields of `api/variables.go`), and the one constructor every variable goes through,
//! whichever file it comes from, with Nomad's offline checks (`nomad/structs/variables.go`).
//! Never decrypts, and never shows an item's value in an error.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::read::{Doc, Field, Shape, check_name, field};
use super::{Kind, KindError, Spec};
use crate::render::Position;

/// Nomad's `maxVariableSize`: the bytes of every key and value together.
pub(super) const MAX_SIZE: usize = 65536;

/// `create_*` and `modify_*` are what `nomad var get` prints and `nomad var put` accepts back.
const SCHEMA: &[Field] = &[
    field("path", "Path", Shape::Own),
    field("namespace", "Namespace", Shape::Own),
    field("items", "Items", Shape::Own),
    field("create_index", "CreateIndex", Shape::Ignored),
    field("modify_index", "ModifyIndex", Shape::Ignored),
    field("create_time", "CreateTime", Shape::Ignored),
    field("modify_time", "ModifyTime", Shape::Ignored),
];

/// A variable from any source (a variable file, or a decrypted one): `path_of_file` is the
/// repository file it comes from, `var_path` its path in Nomad, `namespace` `None` for
/// `default`. Runs the same checks as [`super::parse`], without positions.
pub fn variable(
    path_of_file: &str,
    var_path: &str,
    namespace: Option<&str>,
    items: BTreeMap<String, String>,
) -> Result<Spec, Vec<KindError>> {
    build(path_of_file, var_path, (namespace, None), items, &|_| None)
}

/// What a check is about, for its position in the file.
pub(super) enum Part<'a> {
    Path,
    Namespace,
    Items,
    Key(&'a str),
}

/// [`variable`], with `at` placing each problem in the file. `namespace`: the file's, and the
/// source's (its `namespace` setting, which pins the source's jobs there): a file naming none
/// is in the source's, and one naming another is refused, so that a file copied from one
/// environment to another cannot write the first one's variables.
pub(super) fn build(
    file: &str,
    var_path: &str,
    namespace: (Option<&str>, Option<&str>),
    items: BTreeMap<String, String>,
    at: &dyn Fn(Part) -> Option<Position>,
) -> Result<Spec, Vec<KindError>> {
    let mut errors = Vec::new();
    let mut error = |part: Part, message: String| {
        errors.push(KindError {
            path: file.to_owned(),
            position: at(part),
            message,
        })
    };
    if let Err(problem) = check_path(var_path) {
        error(
            Part::Path,
            format!("invalid variable path {var_path:?}: {problem}"),
        );
    }
    let namespace = match namespace {
        (Some(own), Some(source)) if own != source => {
            let message = format!(
                "variable {var_path:?} is in namespace {own:?}, but this source's namespace is \
                 {source:?} (its `namespace` setting): leave the file's namespace out, or move the \
                 file to the source of {own:?}"
            );
            error(Part::Namespace, message);
            own
        }
        (Some(own), _) => own,
        (None, source) => source.unwrap_or("default"),
    };
    if let Err(problem) = check_name(namespace, false) {
        let message = format!("invalid namespace name {namespace:?}: {problem}");
        error(Part::Namespace, message);
    }
    if items.is_empty() {
        let message =
            format!("variable {var_path:?} has no items: Nomad refuses an empty variable");
        error(Part::Items, message);
    }
    if items.contains_key("") {
        error(Part::Key(""), "an item's key is empty".into());
    }
    let size = size(&items);
    if size > MAX_SIZE {
        let message = format!(
            "variable {var_path:?}: its items are {size} bytes (keys and values), over Nomad's limit of {MAX_SIZE} bytes (64 KiB)"
        );
        error(Part::Items, message);
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.position);
        return Err(errors);
    }
    let items: Map<String, Json> = items.into_iter().map(|(k, v)| (k, v.into())).collect();
    Ok(Spec {
        kind: Kind::Variable,
        name: var_path.to_owned(),
        namespace: Some(namespace.to_owned()),
        path: file.to_owned(),
        fields: Map::from_iter([("Items".to_owned(), Json::Object(items))]),
        secret: None,
    })
}

/// What Nomad counts against [`MAX_SIZE`]: the bytes of every key and value.
pub(super) fn size(items: &BTreeMap<String, String>) -> usize {
    items.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// Nomad's `ValidatePath`: 1 to 128 of `a-zA-Z0-9-_~/` (so no `.`, and no `..` segment), and
/// under the reserved top-level `nomad` only `nomad/jobs/...`, `nomad/sentinel/...` and
/// `nomad/job-templates/NAME`.
fn check_path(path: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '~' | '/');
    if path.is_empty() || path.len() > 128 || !path.chars().all(allowed) {
        return Err(
            "Nomad takes 1 to 128 ASCII letters, digits and `-`, `_`, `~`, `/` (no `.`)".into(),
        );
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["nomad"] => Err("`nomad` is reserved; variables go under `nomad/jobs`, `nomad/job-templates` or `nomad/sentinel`".into()),
        ["nomad", "jobs" | "sentinel", ..] | ["nomad", "job-templates", _] => Ok(()),
        ["nomad", "job-templates", ..] => Err("under `nomad/job-templates`, a variable is exactly one level down: `nomad/job-templates/NAME`".into()),
        ["nomad", ..] => Err("under the reserved `nomad/`, only `nomad/jobs`, `nomad/job-templates` and `nomad/sentinel` may hold variables".into()),
        _ => Ok(()),
    }
}

/// A variable file; `source_namespace` as in [`build`].
pub(super) fn parse(
    path: &str,
    text: &str,
    source_namespace: Option<&str>,
) -> Result<Spec, Vec<KindError>> {
    let (mut doc, root) = Doc::parse(path, text)?;
    let (fields, _) = doc.object(&root, "a variable file", SCHEMA);
    let var_path = match fields.get("Path") {
        Some(entry) => doc.text(&entry.node, &entry.key),
        None => {
            doc.error(None, "no `path`: the file must name the variable's path");
            None
        }
    };
    let namespace = fields
        .get("Namespace")
        .and_then(|e| doc.text(&e.node, &e.key));
    let items = match fields.get("Items") {
        Some(entry) => doc.string_map(&entry.node, &entry.key),
        None => Some(BTreeMap::new()),
    };
    let (Some(var_path), Some(items)) = (var_path, items) else {
        return Err(doc.into_errors());
    };
    let position = |e: Option<&super::read::Entry>| e.map(|e| doc.position(e.at));
    let (path_at, namespace_at, items_at) = (
        position(fields.get("Path")),
        position(fields.get("Namespace")),
        position(fields.get("Items")),
    );
    let keys: BTreeMap<String, Position> = items
        .iter()
        .map(|(k, (at, _))| (k.clone(), doc.position(*at)))
        .collect();
    let locate = |part: Part| match part {
        Part::Path => path_at,
        Part::Namespace => namespace_at,
        Part::Items => items_at,
        Part::Key(key) => keys.get(key).copied(),
    };
    let items = items.into_iter().map(|(k, (_, v))| (k, v)).collect();
    let namespaces = (namespace.as_deref(), source_namespace);
    match build(path, &var_path, namespaces, items, &locate) {
        Ok(spec) => doc.finish(spec),
        Err(errors) => {
            errors.into_iter().for_each(|e| doc.push(e));
            Err(doc.into_errors())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors(path: &str, text: &str) -> Vec<String> {
        crate::kinds::refusals(Kind::Variable, path, text, &|p| {
            Err(crate::source::FileError::Missing { path: p.to_owned() })
        })
    }

    /// A source pinned to a namespace keeps its variables there: a file naming none is put there,
    /// one naming another is refused at its `namespace` line.
    #[test]
    fn the_source_s_namespace_holds_its_variables() {
        let text = |ns: &str| format!("path = \"nomad/jobs/web\"\n{ns}items {{\n  a = \"1\"\n}}\n");
        let unnamed = parse("v.hcl", &text(""), Some("staging")).expect("valid");
        assert_eq!(unnamed.namespace.as_deref(), Some("staging"));
        let same = parse("v.hcl", &text("namespace = \"staging\"\n"), Some("staging"));
        assert_eq!(same.expect("valid").namespace.as_deref(), Some("staging"));
        let other = parse("v.hcl", &text("namespace = \"prod\"\n"), Some("staging"));
        let errors: Vec<String> = other
            .expect_err("refused")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            [
                "v.hcl:2:1: variable \"nomad/jobs/web\" is in namespace \"prod\", but this source's \
              namespace is \"staging\" (its `namespace` setting): leave the file's namespace out, \
              or move the file to the source of \"prod\""
            ]
        );
        let free = parse("v.hcl", &text(""), None).expect("valid");
        assert_eq!(
            free.namespace.as_deref(),
            Some("default"),
            "no source namespace"
        );
    }

    #[test]
    fn hcl_as_nomad_var_put_reads_it() {
        let text = "path      = \"nomad/jobs/web\"\nnamespace = \"prod\"\nitems {\n  greeting = \"hello\"\n}\nmodify_index = 12\n";
        let spec = parse("vars/web.hcl", text, None).expect("valid");
        assert_eq!(spec.kind, Kind::Variable);
        assert_eq!(spec.name, "nomad/jobs/web");
        assert_eq!(spec.namespace.as_deref(), Some("prod"));
        assert_eq!(spec.key(), "variable/prod/nomad/jobs/web");
        assert_eq!(
            Json::Object(spec.fields),
            json!({"Items": {"greeting": "hello"}})
        );
        let keyed = "path = \"app/config\"\nitems = {\n  \"tls.crt\" = \"x\"\n}\n";
        let spec = parse("vars/app.hcl", keyed, None).expect("valid");
        assert_eq!(spec.namespace.as_deref(), Some("default"));
        assert_eq!(spec.fields.get("Items"), Some(&json!({"tls.crt": "x"})));
    }

    #[test]
    fn json_and_the_constructor_agree() {
        let text = r#"{"Path": "nomad/jobs/web", "Items": {"a": "1", "b": "2"}, "CreateIndex": 3}"#;
        let parsed = parse("vars/web.json", text, None).expect("valid");
        let items = BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        let built = variable("vars/web.json", "nomad/jobs/web", None, items).expect("valid");
        assert_eq!(parsed, built);
    }

    #[test]
    fn values_are_strings() {
        assert_eq!(
            errors(
                "v.hcl",
                "path = \"a\"\nitems {\n  port = 8080\n  tls = true\n}\n"
            ),
            [
                "v.hcl:3:10: `items.port` must be a string: quote it (`\"8080\"`); Nomad keeps only strings here",
                "v.hcl:4:9: `items.tls` must be a string: quote it (`\"true\"`); Nomad keeps only strings here",
            ]
        );
        assert_eq!(
            errors("v.json", "{\"Path\": \"a\", \"Items\": {\"port\": 8080}}"),
            [
                "v.json:1:33: `Items.port` must be a string: quote it (`\"8080\"`); Nomad keeps only strings here"
            ]
        );
    }

    #[test]
    fn paths_as_nomad_checks_them() {
        for ok in [
            "a",
            "nomad/jobs",
            "nomad/jobs/web/app",
            "nomad/sentinel/x",
            "nomad/job-templates/t",
            "team~1/x_y-z",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "nomad",
            "nomad/job-templates",
            "nomad/job-templates/a/b",
            "nomad/other",
            "a/../b",
            "a.b",
            "a b",
            &"a".repeat(129),
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_are_located() {
        assert_eq!(
            errors(
                "v.hcl",
                "path = \"nomad/secrets\"\nnamespace = \"*\"\nitems {\n  a = \"1\"\n}\n"
            ),
            [
                "v.hcl:1:1: invalid variable path \"nomad/secrets\": under the reserved `nomad/`, only `nomad/jobs`, `nomad/job-templates` and `nomad/sentinel` may hold variables",
                "v.hcl:2:1: invalid namespace name \"*\": Nomad takes 1 to 128 ASCII letters, digits and dashes",
            ]
        );
        assert_eq!(
            errors("v.hcl", "path = \"a\"\n"),
            ["v.hcl: variable \"a\" has no items: Nomad refuses an empty variable"]
        );
        assert_eq!(
            errors("v.hcl", "items {\n  a = \"1\"\n}\n"),
            ["v.hcl: no `path`: the file must name the variable's path"]
        );
        assert_eq!(
            errors("v.json", "{\"Path\": \"a\", \"Items\": {\"\": \"1\"}}"),
            ["v.json:1:25: an item's key is empty"]
        );
        let big = format!(
            "path = \"nomad/jobs/web\"\nitems {{\n  blob = \"{}\"\n}}\n",
            "x".repeat(MAX_SIZE - 3)
        );
        assert_eq!(
            errors("vars/web.hcl", &big),
            [
                "vars/web.hcl:2:1: variable \"nomad/jobs/web\": its items are 65537 bytes (keys and values), over Nomad's limit of 65536 bytes (64 KiB)"
            ]
        );
        let exact = big.replace(&"x".repeat(MAX_SIZE - 3), &"x".repeat(MAX_SIZE - 4));
        assert!(
            parse("vars/web.hcl", &exact, None).is_ok(),
            "the limit itself is allowed"
        );
    }

    #[test]
    fn the_constructor_reports_without_positions() {
        let items = BTreeMap::from([("k".into(), "v".into())]);
        let e = variable("secrets/web.sops.yaml", "nomad", None, items).expect_err("refused");
        assert_eq!(e[0].location(), "secrets/web.sops.yaml");
    }
}
