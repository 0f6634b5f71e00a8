//! The ACL role file, drover's own format: a name, a description and the names of the
//! policies the role grants, or the API's JSON. Nomad's offline checks of a role
//! (`nomad/structs/acl.go`), and no policy named twice. Never checks that the policies exist:
//! only the cluster knows.

use serde_json::{Value as Json, json};

use super::read::{Doc, Entry, Field, Format, Shape, Value, check_name, field};
use super::{Kind, KindError, Spec};

const SCHEMA: &[Field] = &[
    field("name", "Name", Shape::Own),
    field("description", "Description", Shape::Description),
    field("policies", "Policies", Shape::Own),
    field("", "ID", Shape::Ignored),
    field("", "CreateIndex", Shape::Ignored),
    field("", "ModifyIndex", Shape::Ignored),
];

const LINK: &[Field] = &[field("", "Name", Shape::Own)];

pub(super) fn parse(path: &str, text: &str) -> Result<Spec, Vec<KindError>> {
    let (mut doc, root) = Doc::parse(path, text)?;
    let (fields, mut values) = doc.object(&root, "an ACL role file", SCHEMA);
    let name = doc.name(fields.get("Name"), Kind::AclRole.noun(), false);
    match fields.get("Policies") {
        Some(entry) => {
            if let Some(policies) = policies(&mut doc, entry) {
                let links = policies.into_iter().map(|name| json!({ "Name": name }));
                values.insert("Policies".into(), Json::Array(links.collect()));
            }
        }
        None => {
            let key = match doc.format {
                Format::Hcl => "policies",
                Format::Json => "Policies",
            };
            doc.error(
                None,
                format!("no `{key}`: a role grants at least one policy"),
            );
        }
    }
    doc.finish(())?;
    Ok(Spec {
        kind: Kind::AclRole,
        name: name.unwrap_or_default(),
        namespace: None,
        path: path.to_owned(),
        fields: values,
        secret: None,
    })
}

/// The policy names, each valid and none twice: a list of names, or in JSON also the API's
/// list of `{"Name": ...}` links.
fn policies(doc: &mut Doc, entry: &Entry) -> Option<Vec<String>> {
    let Value::List(items) = &entry.node.value else {
        doc.error(
            Some(entry.node.at),
            format!("`{}` must be a list of policy names", entry.key),
        );
        return None;
    };
    if items.is_empty() {
        doc.error(
            Some(entry.node.at),
            format!(
                "`{}` is empty: a role grants at least one policy",
                entry.key
            ),
        );
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    let mut ok = true;
    for item in items {
        let name = match (&item.value, doc.format) {
            (Value::Map(_), Format::Json) => {
                let (link, _) = doc.object(item, "a policy link", LINK);
                match link.get("Name") {
                    Some(name) => doc.text(&name.node, &name.key),
                    None => {
                        doc.error(Some(item.at), "a policy link without `Name`");
                        None
                    }
                }
            }
            _ => doc.text(item, &entry.key),
        };
        let Some(name) = name else {
            ok = false;
            continue;
        };
        if let Err(problem) = check_name(&name, false) {
            let message = format!("invalid ACL policy name {name:?}: {problem}");
            doc.error(Some(item.at), message);
            ok = false;
        } else if names.contains(&name) {
            doc.error(Some(item.at), format!("policy {name:?} is listed twice"));
            ok = false;
        }
        names.push(name);
    }
    ok.then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(path: &str, text: &str) -> Vec<String> {
        crate::kinds::refusals(Kind::AclRole, path, text, &|p| {
            Err(crate::source::FileError::Missing { path: p.to_owned() })
        })
    }

    #[test]
    fn hcl_names_the_policies() {
        let text = "name = \"ops\"\ndescription = \"Operators\"\npolicies = [\"ops-read\", \"ops-write\"]\n";
        let spec = parse("roles/ops.hcl", text).expect("valid");
        assert_eq!((spec.kind, spec.name.as_str()), (Kind::AclRole, "ops"));
        assert_eq!(
            Json::Object(spec.fields),
            json!({"Description": "Operators", "Policies": [{"Name": "ops-read"}, {"Name": "ops-write"}]})
        );
    }

    #[test]
    fn json_takes_links_or_names() {
        let links = r#"{"ID": "5c1e", "Name": "ops", "Policies": [{"Name": "a"}, {"Name": "b"}]}"#;
        let names = r#"{"Name": "ops", "Policies": ["a", "b"]}"#;
        let a = parse("roles/ops.json", links).expect("valid");
        let b = parse("roles/ops.json", names).expect("valid");
        assert_eq!(a.fields, b.fields);
        assert_eq!(
            a.fields.get("Policies"),
            Some(&json!([{"Name": "a"}, {"Name": "b"}]))
        );
    }

    #[test]
    fn refusals_are_located() {
        assert_eq!(
            errors("r.hcl", "name = \"ops\"\npolicies = []\n"),
            ["r.hcl:2:12: `policies` is empty: a role grants at least one policy"]
        );
        assert_eq!(
            errors("r.hcl", "name = \"ops\"\n"),
            ["r.hcl: no `policies`: a role grants at least one policy"]
        );
        assert_eq!(
            errors("r.hcl", "name = \"ops\"\npolicies = [\"a\",\n  \"a\"]\n"),
            ["r.hcl:3:3: policy \"a\" is listed twice"]
        );
        assert_eq!(
            errors("r.hcl", "name = \"ops\"\npolicies = [\"a_b\"]\n"),
            [
                "r.hcl:2:13: invalid ACL policy name \"a_b\": Nomad takes 1 to 128 ASCII letters, digits and dashes"
            ]
        );
        assert_eq!(
            errors("r.hcl", "name = \"\"\npolicies = [\"a\"]\n"),
            [
                "r.hcl:1:1: invalid ACL role name \"\": Nomad takes 1 to 128 ASCII letters, digits and dashes"
            ]
        );
        assert_eq!(
            errors(
                "r.json",
                "{\"Name\": \"ops\", \"Policies\": [{\"ID\": \"x\"}]}"
            ),
            [
                "r.json:1:30: a policy link without `Name`",
                "r.json:1:31: unknown field `ID`: a policy link takes `Name`",
            ]
        );
    }
}
