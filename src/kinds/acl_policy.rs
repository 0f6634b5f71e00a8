//! The ACL policy file, drover's own format (Nomad's CLI takes a policy's name and
//! description as flags): name, description, the rules inline or in a file of the same commit,
//! and an optional `job_acl`. Nomad's offline checks of a policy (`nomad/structs/acl.go`,
//! `structs.go`); the rules are checked to be HCL or JSON text. Never interprets the rules.

use super::read::{Doc, Entry, Field, Format, Shape, Value, field, hcl_syntax, json_syntax};
use super::{Kind, KindError, Spec};
use crate::render::Position;
use crate::source::{FileError, join};

const JOB_ACL: &[Field] = &[
    field("namespace", "Namespace", Shape::Text),
    field("job", "JobID", Shape::Text),
    field("group", "Group", Shape::Text),
    field("task", "Task", Shape::Text),
];

const SCHEMA: &[Field] = &[
    field("name", "Name", Shape::Own),
    field("description", "Description", Shape::Description),
    field("rules", "Rules", Shape::Own),
    field("rules_file", "", Shape::Own),
    field("job_acl", "JobACL", Shape::Block(JOB_ACL)),
    field("", "CreateIndex", Shape::Ignored),
    field("", "ModifyIndex", Shape::Ignored),
];

pub(super) fn parse(
    path: &str,
    text: &str,
    read: &dyn Fn(&str) -> Result<String, FileError>,
) -> Result<Spec, Vec<KindError>> {
    let (mut doc, root) = Doc::parse(path, text)?;
    let (fields, mut values) = doc.object(&root, "an ACL policy file", SCHEMA);
    let name = doc.name(fields.get("Name"), Kind::AclPolicy.noun(), false);
    let rules = match (fields.get("Rules"), fields.get("rules_file")) {
        (Some(inline), None) => inline_rules(&mut doc, inline),
        (None, Some(file)) => file_rules(&mut doc, file, read),
        (Some(_), Some(file)) => {
            doc.error(Some(file.at), "set `rules` or `rules_file`, not both");
            None
        }
        (None, None) => {
            let message = match doc.format {
                Format::Hcl => "no `rules` and no `rules_file`: a policy needs its rules",
                Format::Json => "no `Rules`: a policy needs its rules",
            };
            doc.error(None, message);
            None
        }
    };
    if let Some(rules) = rules {
        values.insert("Rules".into(), rules.into());
    }
    if let (Some(entry), Some(job_acl)) = (fields.get("JobACL"), values.get("JobACL")) {
        check_job_acl(&mut doc, entry, job_acl);
    }
    doc.finish(())?;
    Ok(Spec {
        kind: Kind::AclPolicy,
        name: name.unwrap_or_default(),
        namespace: None,
        path: path.to_owned(),
        fields: values,
        secret: None,
    })
}

/// Each narrower part needs the one above it, as `ACLPolicy.Validate` checks.
fn check_job_acl(doc: &mut Doc, entry: &Entry, job_acl: &serde_json::Value) {
    let set = |field: &str| job_acl.get(field).is_some_and(|v| v != "");
    let needs = [
        ("JobID", "Namespace", "job", "namespace"),
        ("Group", "JobID", "group", "job"),
        ("Task", "Group", "task", "group"),
    ];
    for (narrow, wide, narrow_hcl, wide_hcl) in needs {
        if set(narrow) && !set(wide) {
            let (narrow, wide) = match doc.format {
                Format::Hcl => (narrow_hcl, wide_hcl),
                Format::Json => (narrow, wide),
            };
            let message = format!("`{}` sets `{narrow}` without `{wide}`", entry.key);
            doc.error(Some(entry.at), message);
        }
    }
}

fn inline_rules(doc: &mut Doc, entry: &Entry) -> Option<String> {
    let rules = doc.text(&entry.node, &entry.key)?;
    let Err((at, message)) = check_rules(&rules) else {
        return Some(rules);
    };
    match &entry.node.value {
        Value::Text {
            heredoc: Some(indent),
            ..
        } => {
            let opening = doc.position(entry.node.at).line;
            let at = Position {
                line: opening + at.line,
                column: at.column + indent,
            };
            doc.push(KindError {
                path: doc.path.to_owned(),
                position: Some(at),
                message: format!("the rules: {message}"),
            });
        }
        _ => {
            let message = format!(
                "the rules, at their line {} column {}: {message}",
                at.line, at.column
            );
            doc.error(Some(entry.node.at), message);
        }
    }
    None
}

fn file_rules(
    doc: &mut Doc,
    entry: &Entry,
    read: &dyn Fn(&str) -> Result<String, FileError>,
) -> Option<String> {
    let named = doc.text(&entry.node, &entry.key)?;
    let rules = join("", &named).and_then(|p| read(&p).map(|text| (p, text)));
    let (rules_path, rules) = match rules {
        Ok(found) => found,
        Err(e) => {
            doc.error(Some(entry.node.at), format!("`rules_file`: {e}"));
            return None;
        }
    };
    if let Err((at, message)) = check_rules(&rules) {
        doc.push(KindError {
            path: rules_path,
            position: Some(at),
            message: format!("{message} (the rules of ACL policy file {})", doc.path),
        });
        return None;
    }
    Some(rules)
}

/// Nomad reads policy rules with its HCL parser, which takes JSON as well: text that starts
/// with `{` is checked as JSON, anything else as HCL. Positions are the rules' own.
fn check_rules(rules: &str) -> Result<(), (Position, String)> {
    if rules.trim_start().starts_with('{') {
        return serde_json::from_str::<serde::de::IgnoredAny>(rules)
            .map(drop)
            .map_err(|e| json_syntax(&e));
    }
    hcl_edit::parser::parse_body(rules)
        .map(drop)
        .map_err(|e| hcl_syntax(&e))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn no_files(path: &str) -> Result<String, FileError> {
        Err(FileError::Missing { path: path.into() })
    }

    fn files(path: &str) -> Result<String, FileError> {
        match path {
            "acl/ops.policy.hcl" => Ok("namespace \"*\" {\n  policy = \"read\"\n}\n".into()),
            "acl/bad.policy.hcl" => Ok("namespace \"*\" {\n  policy = \n}\n".into()),
            _ => no_files(path),
        }
    }

    fn errors(path: &str, text: &str) -> Vec<String> {
        crate::kinds::refusals(Kind::AclPolicy, path, text, &files)
    }

    #[test]
    fn hcl_with_inline_rules_and_job_acl() {
        let text = "name        = \"ops-read\"\ndescription = \"Operators\"\nrules = <<EOT\nnamespace \"*\" {\n  policy = \"read\"\n}\nEOT\njob_acl {\n  namespace = \"prod\"\n  job       = \"web\"\n}\n";
        let spec = parse("acl/ops.hcl", text, &no_files).expect("valid");
        assert_eq!(
            (spec.kind, spec.name.as_str()),
            (Kind::AclPolicy, "ops-read")
        );
        assert_eq!(
            serde_json::Value::Object(spec.fields),
            json!({
                "Description": "Operators",
                "JobACL": {"Namespace": "prod", "JobID": "web"},
                "Rules": "namespace \"*\" {\n  policy = \"read\"\n}\n",
            })
        );
    }

    #[test]
    fn hcl_with_a_rules_file() {
        let text = "name = \"ops\"\nrules_file = \"./acl/ops.policy.hcl\"\n";
        let spec = parse("acl/ops.hcl", text, &files).expect("valid");
        assert_eq!(
            spec.fields.get("Rules"),
            Some(&json!("namespace \"*\" {\n  policy = \"read\"\n}\n"))
        );
    }

    #[test]
    fn json_in_the_api_shape() {
        let text = r#"{"Name": "ops", "Rules": "{\"namespace\": {\"*\": {\"policy\": \"read\"}}}",
            "JobACL": {"Namespace": "prod", "JobID": "web", "Group": "app", "Task": "nginx"}}"#;
        let spec = parse("acl/ops.json", text, &no_files).expect("valid");
        assert_eq!(
            spec.fields.get("JobACL"),
            Some(&json!({"Namespace": "prod", "JobID": "web", "Group": "app", "Task": "nginx"}))
        );
    }

    #[test]
    fn rules_errors_point_into_the_rules() {
        let inline = "name = \"ops\"\nrules = <<-EOT\n    namespace \"*\" {\n      policy = \n    }\n    EOT\n";
        let e = errors("acl/ops.hcl", inline);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("acl/ops.hcl:4:16: the rules: syntax error: "),
            "{e:?}"
        );
        let quoted = "name = \"ops\"\nrules = \"namespace {\"\n";
        let e = errors("acl/ops.hcl", quoted);
        assert!(
            e[0].starts_with(
                "acl/ops.hcl:2:9: the rules, at their line 1 column 12: syntax error: "
            ),
            "{e:?}"
        );
        let e = errors(
            "acl/ops.json",
            r#"{"Name": "ops", "Rules": "{\"namespace\": }"}"#,
        );
        assert_eq!(
            e,
            [
                "acl/ops.json:1:26: the rules, at their line 1 column 15: invalid JSON: expected value"
            ]
        );
        let e = errors(
            "acl/ops.hcl",
            "name = \"ops\"\nrules_file = \"acl/bad.policy.hcl\"\n",
        );
        assert!(
            e[0].starts_with("acl/bad.policy.hcl:2:12: syntax error: "),
            "{e:?}"
        );
        assert!(
            e[0].ends_with("(the rules of ACL policy file acl/ops.hcl)"),
            "{e:?}"
        );
    }

    #[test]
    fn refusals_are_located() {
        assert_eq!(
            errors("a.hcl", "name = \"ops\"\nrules_file = \"acl/none.hcl\"\n"),
            ["a.hcl:2:14: `rules_file`: acl/none.hcl: no such file in the repository"]
        );
        assert_eq!(
            errors("a.hcl", "name = \"ops\"\nrules_file = \"../x.hcl\"\n"),
            ["a.hcl:2:14: `rules_file`: ../x.hcl: leads outside the repository"]
        );
        assert_eq!(
            errors(
                "a.hcl",
                "name = \"ops\"\nrules = \"\"\nrules_file = \"acl/ops.policy.hcl\"\n"
            ),
            ["a.hcl:3:1: set `rules` or `rules_file`, not both"]
        );
        assert_eq!(
            errors("a.hcl", "name = \"ops\"\n"),
            ["a.hcl: no `rules` and no `rules_file`: a policy needs its rules"]
        );
        assert_eq!(
            errors("a.hcl", "name = \"ops read\"\nrules = \"\"\n"),
            [
                "a.hcl:1:1: invalid ACL policy name \"ops read\": Nomad takes 1 to 128 ASCII letters, digits and dashes"
            ]
        );
        assert_eq!(
            errors(
                "a.hcl",
                "name = \"ops\"\nrules = \"\"\njob_acl {\n  job = \"web\"\n  task = \"t\"\n}\n"
            ),
            [
                "a.hcl:3:1: `job_acl` sets `job` without `namespace`",
                "a.hcl:3:1: `job_acl` sets `task` without `group`",
            ]
        );
        assert_eq!(
            errors(
                "a.json",
                "{\"Name\": \"ops\", \"Rules\": \"\", \"JobACL\": {\"Group\": \"g\"}}"
            ),
            ["a.json:1:30: `JobACL` sets `Group` without `JobID`"]
        );
    }
}
