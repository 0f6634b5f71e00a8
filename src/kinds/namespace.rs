//! The namespace file, as `nomad namespace apply` reads it (`command/namespace_apply.go`, the
//! fields of `api/namespace.go`), and Nomad's offline checks of a namespace
//! (`nomad/structs/structs.go`). Never checks what only the cluster knows: whether the quota
//! exists, or whether the licensed blocks (node pools, Vault, Consul) may be used.

use super::read::{Doc, Field, Shape, field};
use super::{Kind, KindError, Spec};

/// `node_pool_config`, `vault` and `consul` take the same three fields.
const CLUSTERS: &[Field] = &[
    field("default", "Default", Shape::Text),
    field("allowed", "Allowed", Shape::Texts),
    field("denied", "Denied", Shape::Texts),
];

const CAPABILITIES: &[Field] = &[
    field("enabled_task_drivers", "EnabledTaskDrivers", Shape::Texts),
    field("disabled_task_drivers", "DisabledTaskDrivers", Shape::Texts),
    field("enabled_network_modes", "EnabledNetworkModes", Shape::Texts),
    field(
        "disabled_network_modes",
        "DisabledNetworkModes",
        Shape::Texts,
    ),
];

const SCHEMA: &[Field] = &[
    field("name", "Name", Shape::Own),
    field("description", "Description", Shape::Description),
    field("quota", "Quota", Shape::Text),
    field("meta", "Meta", Shape::Meta),
    field("capabilities", "Capabilities", Shape::Block(CAPABILITIES)),
    field(
        "node_pool_config",
        "NodePoolConfiguration",
        Shape::Block(CLUSTERS),
    ),
    field("vault", "VaultConfiguration", Shape::Block(CLUSTERS)),
    field("consul", "ConsulConfiguration", Shape::Block(CLUSTERS)),
    field("required_extra_claims", "RequiredExtraClaims", Shape::Map),
    field("optional_extra_claims", "OptionalExtraClaims", Shape::Map),
    field("", "CreateIndex", Shape::Ignored),
    field("", "ModifyIndex", Shape::Ignored),
];

pub(super) fn parse(path: &str, text: &str) -> Result<Spec, Vec<KindError>> {
    let (mut doc, root) = Doc::parse(path, text)?;
    let (fields, values) = doc.object(&root, "a namespace file", SCHEMA);
    let name = doc.name(fields.get("Name"), Kind::Namespace.noun(), false);
    doc.finish(())?;
    Ok(Spec {
        kind: Kind::Namespace,
        name: name.unwrap_or_default(),
        namespace: None,
        path: path.to_owned(),
        fields: values,
        secret: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors(path: &str, text: &str) -> Vec<String> {
        crate::kinds::refusals(Kind::Namespace, path, text, &|p| {
            Err(crate::source::FileError::Missing { path: p.to_owned() })
        })
    }

    #[test]
    fn hcl_as_nomad_namespace_apply_reads_it() {
        let text = r#"
name        = "web"
description = "The web team"
quota       = "small"
meta {
  owner = "web"
}
capabilities {
  enabled_task_drivers   = ["docker", "exec"]
  disabled_network_modes = ["host"]
}
node_pool_config {
  default = "web"
  allowed = ["web", "shared"]
}
vault {
  default = "prod"
}
required_extra_claims = { "team.id" = "web" }
"#;
        let spec = parse("ns/web.hcl", text).expect("valid");
        assert_eq!((spec.kind, spec.name.as_str()), (Kind::Namespace, "web"));
        assert_eq!(spec.namespace, None);
        assert_eq!(spec.path, "ns/web.hcl");
        assert_eq!(
            serde_json::Value::Object(spec.fields),
            json!({
                "Description": "The web team",
                "Quota": "small",
                "Meta": {"owner": "web"},
                "Capabilities": {"EnabledTaskDrivers": ["docker", "exec"], "DisabledNetworkModes": ["host"]},
                "NodePoolConfiguration": {"Default": "web", "Allowed": ["web", "shared"]},
                "VaultConfiguration": {"Default": "prod"},
                "RequiredExtraClaims": {"team.id": "web"},
            })
        );
    }

    #[test]
    fn json_in_the_api_shape() {
        let text = r#"{"Name": "web", "Description": "d", "Meta": {"owner": "web"},
            "Capabilities": {"EnabledTaskDrivers": ["docker"]}, "Quota": null,
            "CreateIndex": 10, "modifyindex": 12}"#;
        let spec = parse("ns/web.json", text).expect("valid");
        assert_eq!(spec.name, "web");
        assert_eq!(
            serde_json::Value::Object(spec.fields),
            json!({"Description": "d", "Meta": {"owner": "web"}, "Capabilities": {"EnabledTaskDrivers": ["docker"]}})
        );
    }

    #[test]
    fn only_what_the_file_sets() {
        let spec = parse("ns/a.hcl", "name = \"a\"\n").expect("valid");
        assert!(spec.fields.is_empty());
    }

    #[test]
    fn refusals_are_located() {
        assert_eq!(
            errors("ns/a.hcl", "name = \"web_1\"\n"),
            [
                "ns/a.hcl:1:1: invalid namespace name \"web_1\": Nomad takes 1 to 128 ASCII letters, digits and dashes"
            ]
        );
        assert_eq!(
            errors("ns/a.hcl", "description = \"d\"\n"),
            ["ns/a.hcl: no `name`: the file must name its namespace"]
        );
        let e = errors(
            "ns/a.hcl",
            "name = \"a\"\ndescripton = \"d\"\ncapabilities {\n  enabled_drivers = []\n}\n",
        );
        assert_eq!(e.len(), 2);
        assert!(
            e[0].starts_with("ns/a.hcl:2:1: unknown attribute `descripton`: a namespace file takes `name`, `description`, "),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("ns/a.hcl:4:3: unknown attribute `enabled_drivers`: `capabilities` takes `enabled_task_drivers`, "),
            "{}",
            e[1]
        );
        let dotted = errors(
            "ns/a.hcl",
            "name = \"a\"\nmeta {\n  drover.source = \"x\"\n}\n",
        );
        assert_eq!(dotted.len(), 1);
        assert!(
            dotted[0].starts_with("ns/a.hcl:3:9: syntax error: "),
            "a dotted key is no HCL attribute name: {dotted:?}"
        );
        assert_eq!(
            errors(
                "ns/a.hcl",
                "name = \"a\"\nmeta = {\n  \"drover.source\" = \"x\"\n}\n"
            ),
            [
                "ns/a.hcl:3:3: `meta.drover.source`: `drover.*` keys are drover's own ownership stamp; choose another key"
            ]
        );
        assert_eq!(
            errors(
                "ns/a.hcl",
                &format!("name = \"a\"\ndescription = \"{}\"\n", "x".repeat(257))
            ),
            ["ns/a.hcl:2:1: the description is 257 bytes, over Nomad's limit of 256"]
        );
        assert_eq!(
            errors("ns/a.hcl", "name = \"a\"\nquota = 3\n"),
            ["ns/a.hcl:2:9: `quota` must be a string"]
        );
        assert_eq!(
            errors(
                "ns/a.hcl",
                "name = \"a\"\ncapabilities {\n  enabled_task_drivers = \"docker\"\n}\n"
            ),
            ["ns/a.hcl:3:26: `enabled_task_drivers` must be a list of strings"]
        );
        assert_eq!(
            errors("ns/a.hcl", "name = \"a\"\nmeta {}\nmeta {}\n"),
            ["ns/a.hcl:3:1: `meta` is set twice (first on line 2)"]
        );
        assert_eq!(
            errors("ns/a.json", "{\n  \"Name\": \"a b\",\n  \"Colour\": 1\n}"),
            [
                "ns/a.json:2:3: invalid namespace name \"a b\": Nomad takes 1 to 128 ASCII letters, digits and dashes",
                "ns/a.json:3:3: unknown field `Colour`: a namespace file takes `Name`, `Description`, `Quota`, `Meta`, `Capabilities`, `NodePoolConfiguration`, `VaultConfiguration`, `ConsulConfiguration`, `RequiredExtraClaims`, `OptionalExtraClaims`, `CreateIndex`, `ModifyIndex`"
            ]
        );
    }
}
