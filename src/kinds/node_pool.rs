//! The node pool file, as `nomad node pool apply` reads it (`command/node_pool_apply.go`, the
//! fields of `api/node_pools.go`): one `node_pool "NAME" { ... }` block, or the API's JSON.
//! Nomad's offline checks (`nomad/structs/node_pool.go`, the scheduler algorithms of
//! `nomad/structs/operator.go`), and the refusal of the built-in pools. Never checks whether
//! the cluster is licensed for a pool's scheduler configuration.

use super::read::{Doc, Entry, Field, Format, Node, Shape, Value, field};
use super::{Kind, KindError, Spec};

const SCHEDULER: &[Field] = &[
    field(
        "scheduler_algorithm",
        "SchedulerAlgorithm",
        Shape::OneOf(&["binpack", "spread"]),
    ),
    field(
        "memory_oversubscription_enabled",
        "MemoryOversubscriptionEnabled",
        Shape::Bool,
    ),
];

/// In HCL the name is the block's label.
const SCHEMA: &[Field] = &[
    field("", "Name", Shape::Own),
    field("description", "Description", Shape::Description),
    field("meta", "Meta", Shape::Meta),
    field("node_identity_ttl", "NodeIdentityTTL", Shape::Own),
    field(
        "scheduler_config",
        "SchedulerConfiguration",
        Shape::Block(SCHEDULER),
    ),
    field("", "CreateIndex", Shape::Ignored),
    field("", "ModifyIndex", Shape::Ignored),
];

pub(super) fn parse(path: &str, text: &str) -> Result<Spec, Vec<KindError>> {
    let (mut doc, root) = Doc::parse(path, text)?;
    let noun = Kind::NodePool.noun();
    let (label, body) = match doc.format {
        Format::Json => (None, &root),
        Format::Hcl => match pool_block(&mut doc, &root) {
            Some(block) => (block.labels.first().cloned(), &block.node),
            None => return Err(doc.into_errors()),
        },
    };
    let what = match doc.format {
        Format::Json => "a node pool file",
        Format::Hcl => "`node_pool`",
    };
    let (fields, mut values) = doc.object(body, what, SCHEMA);
    let name = match label {
        Some((label, at)) => doc.named(label, at, noun, true).map(|n| (n, at)),
        None => {
            let entry = fields.get("Name");
            let name = doc.name(entry, noun, true);
            name.zip(entry.map(|e| e.at))
        }
    };
    if let Some((name, at)) = &name
        && matches!(name.as_str(), "all" | "default")
    {
        let message = format!("`{name}` is Nomad's built-in node pool; drover cannot manage it");
        doc.error(Some(*at), message);
    }
    if let Some(entry) = fields.get("NodeIdentityTTL")
        && let Some(nanos) = ttl(&mut doc, entry)
    {
        values.insert("NodeIdentityTTL".into(), nanos.into());
    }
    doc.finish(())?;
    Ok(Spec {
        kind: Kind::NodePool,
        name: name.map(|(n, _)| n).unwrap_or_default(),
        namespace: None,
        path: path.to_owned(),
        fields: values,
        secret: None,
    })
}

/// The file's one `node_pool "NAME" { ... }` block; anything else at the top is an error.
fn pool_block<'n>(doc: &mut Doc, root: &'n Node) -> Option<&'n Entry> {
    let Value::Map(entries) = &root.value else {
        return None;
    };
    let mut found: Option<&Entry> = None;
    for entry in entries {
        if entry.key != "node_pool" || !matches!(entry.node.value, Value::Map(_)) {
            let message = format!(
                "unknown `{}`: a node pool file holds one `node_pool \"NAME\" {{ ... }}` block",
                entry.key
            );
            doc.error(Some(entry.at), message);
            continue;
        }
        if let Some(first) = found {
            let line = doc.position(first.at).line;
            let message = format!(
                "a second `node_pool` block: a node pool file holds one (the first is on line {line})"
            );
            doc.error(Some(entry.at), message);
            continue;
        }
        if entry.labels.len() != 1 {
            let message = "the `node_pool` block takes one label, the pool's name: `node_pool \"gpu\" { ... }`";
            doc.error(Some(entry.at), message);
            continue;
        }
        found = Some(entry);
    }
    if found.is_none() && entries.iter().all(|e| e.key != "node_pool") {
        doc.error(None, "no `node_pool \"NAME\" { ... }` block");
    }
    found
}

/// `node_identity_ttl` in nanoseconds, as the API holds it: a Go duration string (`"24h"`) in
/// HCL, or a number of nanoseconds, as `helper/hcl/decode.go` takes either.
fn ttl(doc: &mut Doc, entry: &Entry) -> Option<u64> {
    let nanos = match &entry.node.value {
        Value::Text { text, .. } if doc.format == Format::Hcl => go_duration(text),
        Value::Number(n) => n.parse::<u64>().ok(),
        _ => None,
    };
    if nanos.is_none() {
        let message = match doc.format {
            Format::Hcl => format!(
                "`{}` must be a duration such as \"24h\" or \"1h30m\"",
                entry.key
            ),
            Format::Json => format!("`{}` must be a whole number of nanoseconds", entry.key),
        };
        doc.error(Some(entry.node.at), message);
    }
    nanos
}

/// Nanoseconds of a non-negative duration in Go's `time.ParseDuration` syntax: decimal numbers,
/// each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), as in `1h30m` or `1.5s`.
fn go_duration(text: &str) -> Option<u64> {
    if text == "0" {
        return Some(0);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit..];
        total += number * scale;
    }
    (total < u64::MAX as f64).then_some(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors(path: &str, text: &str) -> Vec<String> {
        crate::kinds::refusals(Kind::NodePool, path, text, &|p| {
            Err(crate::source::FileError::Missing { path: p.to_owned() })
        })
    }

    #[test]
    fn hcl_as_nomad_node_pool_apply_reads_it() {
        let text = r#"node_pool "gpu" {
  description = "GPU nodes"
  meta {
    class = "a100"
  }
  node_identity_ttl = "1h30m"
  scheduler_config {
    scheduler_algorithm             = "spread"
    memory_oversubscription_enabled = true
  }
}
"#;
        let spec = parse("pools/gpu.hcl", text).expect("valid");
        assert_eq!((spec.kind, spec.name.as_str()), (Kind::NodePool, "gpu"));
        assert_eq!(
            serde_json::Value::Object(spec.fields),
            json!({
                "Description": "GPU nodes",
                "Meta": {"class": "a100"},
                "SchedulerConfiguration": {"SchedulerAlgorithm": "spread", "MemoryOversubscriptionEnabled": true},
                "NodeIdentityTTL": 5_400_000_000_000u64,
            })
        );
    }

    #[test]
    fn json_in_the_api_shape() {
        let text = r#"{"Name": "gpu_1", "Description": "d", "NodeIdentityTTL": 86400000000000,
            "SchedulerConfiguration": {"SchedulerAlgorithm": "binpack"}}"#;
        let spec = parse("pools/gpu.json", text).expect("valid");
        assert_eq!(spec.name, "gpu_1");
        assert_eq!(
            serde_json::Value::Object(spec.fields),
            json!({"Description": "d", "SchedulerConfiguration": {"SchedulerAlgorithm": "binpack"}, "NodeIdentityTTL": 86_400_000_000_000u64})
        );
    }

    #[test]
    fn built_in_pools_are_refused_at_the_name() {
        assert_eq!(
            errors("pools/d.hcl", "node_pool \"default\" {\n}\n"),
            ["pools/d.hcl:1:11: `default` is Nomad's built-in node pool; drover cannot manage it"]
        );
        assert_eq!(
            errors("pools/a.json", "{\n  \"Name\": \"all\"\n}"),
            ["pools/a.json:2:3: `all` is Nomad's built-in node pool; drover cannot manage it"]
        );
    }

    #[test]
    fn refusals_are_located() {
        assert_eq!(
            errors("p.hcl", "description = \"x\"\n"),
            [
                "p.hcl: no `node_pool \"NAME\" { ... }` block",
                "p.hcl:1:1: unknown `description`: a node pool file holds one `node_pool \"NAME\" { ... }` block",
            ]
        );
        assert_eq!(
            errors("p.hcl", "node_pool \"a\" {}\nnode_pool \"b\" {}\n"),
            [
                "p.hcl:2:1: a second `node_pool` block: a node pool file holds one (the first is on line 1)"
            ]
        );
        assert_eq!(
            errors("p.hcl", "node_pool {}\n"),
            [
                "p.hcl:1:1: the `node_pool` block takes one label, the pool's name: `node_pool \"gpu\" { ... }`"
            ]
        );
        assert_eq!(
            errors("p.hcl", "node_pool \"a.b\" {}\n"),
            [
                "p.hcl:1:11: invalid node pool name \"a.b\": Nomad takes 1 to 128 ASCII letters, digits, dashes and underscores"
            ]
        );
        assert_eq!(
            errors(
                "p.hcl",
                "node_pool \"a\" {\n  scheduler_config {\n    scheduler_algorithm = \"random\"\n  }\n  node_identity_ttl = \"1d\"\n}\n"
            ),
            [
                "p.hcl:3:27: `scheduler_algorithm` must be one of \"binpack\", \"spread\"",
                "p.hcl:5:23: `node_identity_ttl` must be a duration such as \"24h\" or \"1h30m\"",
            ]
        );
        let e = errors("p.hcl", "node_pool \"a\" {\n  descripton = \"x\"\n}\n");
        assert!(
            e[0].starts_with("p.hcl:2:3: unknown attribute `descripton`: `node_pool` takes `description`, `meta`, `node_identity_ttl`, `scheduler_config`"),
            "{e:?}"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("24h"), Some(86_400_000_000_000));
        assert_eq!(go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(go_duration("300ms"), Some(300_000_000));
        assert_eq!(go_duration("0"), Some(0));
        for bad in ["", "1", "1d", "h", "-1h", "1h30"] {
            assert_eq!(go_duration(bad), None, "{bad:?}");
        }
    }
}
