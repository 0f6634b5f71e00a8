//! The policy view of a job file as written: its literal values only, for the checks that need
//! no Nomad (`drover validate` without `--nomad`) and for the one thing only the file knows,
//! which resources a task sets itself. Evaluates nothing: a value that is not a literal is
//! unknown, and interpolations in strings stay as `${...}`.

use std::collections::BTreeSet;

use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Block, BlockLabel, Body};
use hcl_edit::template::Element;

use crate::policy::{GroupView, JobView, TaskView};

/// The view of the file's job block (the local check made sure there is exactly one).
pub(crate) fn from_file(body: &Body, id: &str, namespace: Option<String>) -> JobView {
    let Some(job) = body.get_blocks("job").next() else {
        return JobView::default();
    };
    JobView {
        id: id.to_owned(),
        namespace,
        meta: meta(&job.body),
        groups: job.body.get_blocks("group").map(group).collect(),
    }
}

fn label(block: &Block) -> String {
    match block.labels.first() {
        Some(BlockLabel::String(s)) => s.as_str().to_owned(),
        Some(BlockLabel::Ident(i)) => i.as_str().to_owned(),
        None => String::new(),
    }
}

fn group(block: &Block) -> GroupView {
    let count = match block.body.get_attribute("count").map(|a| &a.value) {
        None => Some(1),
        Some(Expression::Number(n)) => n.as_u64(),
        Some(_) => None,
    };
    GroupView {
        name: label(block),
        count,
        tasks: block.body.get_blocks("task").map(task).collect(),
    }
}

fn task(block: &Block) -> TaskView {
    let text_attr = |body: &Body, key: &str| body.get_attribute(key).and_then(|a| text(&a.value));
    let image = block
        .body
        .get_blocks("config")
        .next()
        .and_then(|c| text_attr(&c.body, "image"))
        .or_else(|| {
            // `config = { image = ... }` as an attribute.
            let Some(Expression::Object(o)) = block.body.get_attribute("config").map(|a| &a.value)
            else {
                return None;
            };
            o.iter()
                .find(|(k, _)| key_name(k).as_deref() == Some("image"))
                .and_then(|(_, v)| text(v.expr()))
        });
    let resources = block
        .body
        .get_blocks("resources")
        .next()
        .map(|r| {
            r.body
                .attributes()
                .map(|a| a.key.as_str().to_owned())
                .collect()
        })
        .unwrap_or_default();
    TaskView {
        name: label(block),
        driver: text_attr(&block.body, "driver"),
        image,
        resources: Some(resources),
    }
}

/// Keys of a `meta { }` block or a `meta = { }` object; `None` when not literal.
fn meta(body: &Body) -> Option<BTreeSet<String>> {
    let mut keys: BTreeSet<String> = body
        .get_blocks("meta")
        .flat_map(|b| b.body.attributes().map(|a| a.key.as_str().to_owned()))
        .collect();
    match body.get_attribute("meta").map(|a| &a.value) {
        None => {}
        Some(Expression::Object(o)) => {
            for (k, _) in o.iter() {
                keys.insert(key_name(k)?);
            }
        }
        Some(_) => return None,
    }
    Some(keys)
}

fn key_name(key: &ObjectKey) -> Option<String> {
    match key {
        ObjectKey::Ident(i) => Some(i.as_str().to_owned()),
        ObjectKey::Expression(e) => text(e),
    }
}

/// A string literal, or a template with its interpolations kept as `${...}`.
fn text(expr: &Expression) -> Option<String> {
    match expr {
        Expression::String(s) => Some(s.as_str().to_owned()),
        Expression::StringTemplate(t) => Some(
            t.iter()
                .map(|e| match e {
                    Element::Literal(l) => l.as_str().to_owned(),
                    _ => "${...}".to_owned(),
                })
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values_are_seen_and_others_are_unknown() {
        let text = r#"
job "web" {
  meta { owner = "ops" }
  group "a" {
    count = 3
    task "t" {
      driver = "docker"
      config { image = "ghcr.io/acme/app:${var.tag}" }
      resources { cpu = 100 }
    }
  }
  group "b" {
    count = var.n
    task "u" {
      driver = var.driver
      config = { image = "nginx" }
    }
  }
}
"#;
        let body: Body = text.parse().expect("hcl");
        let view = from_file(&body, "web", None);
        assert_eq!(view.meta, Some(BTreeSet::from(["owner".to_owned()])));
        let (a, b) = (&view.groups[0], &view.groups[1]);
        assert_eq!((a.count, b.count), (Some(3), None));
        assert_eq!(a.tasks[0].image.as_deref(), Some("ghcr.io/acme/app:${...}"));
        assert_eq!(
            a.tasks[0].resources,
            Some(BTreeSet::from(["cpu".to_owned()]))
        );
        assert_eq!(b.tasks[0].driver, None);
        assert_eq!(b.tasks[0].image.as_deref(), Some("nginx"));
        assert_eq!(b.tasks[0].resources, Some(BTreeSet::new()));
    }
}
