//! A plan's diff as text, in the shape `nomad job plan` prints it (`+` added, `-` deleted,
//! `+/-` edited, annotations such as `forces create/destroy update` in brackets), coloured for a
//! terminal or plain: what `drover diff` prints, and the plan an event keeps. Pure formatting;
//! never calls Nomad.

use std::fmt::Write;

use crate::nomad::{DiffType, FieldDiff, GroupDiff, JobDiff, ObjectDiff};

/// ANSI colours, or none (a pipe, a file, `NO_COLOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Color,
}

impl Style {
    fn paint(self, t: DiffType, text: &str) -> String {
        let code = match (self, t) {
            (Self::Plain, _) | (_, DiffType::None) => return text.to_owned(),
            (_, DiffType::Added) => "32",
            (_, DiffType::Deleted) => "31",
            (_, DiffType::Edited) => "33",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

fn marker(t: DiffType) -> &'static str {
    match t {
        DiffType::Added => "+",
        DiffType::Deleted => "-",
        DiffType::Edited => "+/-",
        DiffType::None => "",
    }
}

fn annotations(list: Option<&Vec<String>>) -> String {
    match list {
        Some(a) if !a.is_empty() => format!(" ({})", a.join(", ")),
        _ => String::new(),
    }
}

/// The whole diff of one job.
pub fn job(diff: &JobDiff, style: Style) -> String {
    let mut out = String::new();
    let head = format!("{} Job: {:?}", marker(diff.r#type), diff.id);
    let _ = writeln!(out, "{}", style.paint(diff.r#type, head.trim_start()));
    fields(&mut out, diff.fields.as_deref(), 0, style);
    objects(&mut out, diff.objects.as_deref(), 0, style);
    for group in diff.task_groups.iter().flatten() {
        task_group(&mut out, group, style);
    }
    out
}

fn task_group(out: &mut String, g: &GroupDiff, style: Style) {
    let updates: Vec<String> = g
        .updates
        .iter()
        .flatten()
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    let counts = if updates.is_empty() {
        String::new()
    } else {
        format!(" ({})", updates.join(", "))
    };
    let head = format!("{} Task Group: {:?}{counts}", marker(g.r#type), g.name);
    let _ = writeln!(out, "{}", style.paint(g.r#type, head.trim_start()));
    fields(out, g.fields.as_deref(), 0, style);
    objects(out, g.objects.as_deref(), 0, style);
    for task in g.tasks.iter().flatten() {
        let head = format!(
            "{} Task: {:?}{}",
            marker(task.r#type),
            task.name,
            annotations(task.annotations.as_ref())
        );
        let _ = writeln!(out, "  {}", style.paint(task.r#type, head.trim_start()));
        fields(out, task.fields.as_deref(), 1, style);
        objects(out, task.objects.as_deref(), 1, style);
    }
}

fn fields(out: &mut String, list: Option<&[FieldDiff]>, depth: usize, style: Style) {
    let pad = "  ".repeat(depth + 1);
    for f in list.into_iter().flatten() {
        let value = match f.r#type {
            DiffType::Added => format!("{:?}", f.new),
            DiffType::Deleted => format!("{:?}", f.old),
            DiffType::Edited => format!("{:?} => {:?}", f.old, f.new),
            DiffType::None => format!("{:?}", f.new),
        };
        let line = format!(
            "{} {}: {value}{}",
            marker(f.r#type),
            f.name,
            annotations(f.annotations.as_ref())
        );
        let _ = writeln!(out, "{pad}{}", style.paint(f.r#type, line.trim_start()));
    }
}

fn objects(out: &mut String, list: Option<&[ObjectDiff]>, depth: usize, style: Style) {
    let pad = "  ".repeat(depth + 1);
    for o in list.into_iter().flatten() {
        let head = format!("{} {} {{", marker(o.r#type), o.name);
        let _ = writeln!(out, "{pad}{}", style.paint(o.r#type, head.trim_start()));
        fields(out, o.fields.as_deref(), depth + 1, style);
        objects(out, o.objects.as_deref(), depth + 1, style);
        let _ = writeln!(out, "{pad}}}");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_image_change_reads_like_nomad_job_plan() {
        let diff: JobDiff = serde_json::from_value(json!({
            "Type": "Edited", "ID": "web",
            "Fields": [{"Type": "Edited", "Name": "Meta[owner]", "Old": "a", "New": "b"}],
            "TaskGroups": [{"Type": "Edited", "Name": "web", "Updates": {"create/destroy update": 2},
                "Fields": [{"Type": "Edited", "Name": "Count", "Old": "2", "New": "3", "Annotations": ["forces create"]}],
                "Tasks": [{"Type": "Edited", "Name": "server", "Annotations": ["forces create/destroy update"],
                    "Objects": [{"Type": "Edited", "Name": "Config", "Fields": [
                        {"Type": "Edited", "Name": "image", "Old": "nginx:1", "New": "nginx:2"},
                        {"Type": "None", "Name": "ports[0]", "Old": "http", "New": "http"}]}]}]}]
        }))
        .unwrap();
        let text = job(&diff, Style::Plain);
        let want = r#"+/- Job: "web"
  +/- Meta[owner]: "a" => "b"
+/- Task Group: "web" (2 create/destroy update)
  +/- Count: "2" => "3" (forces create)
  +/- Task: "server" (forces create/destroy update)
    +/- Config {
      +/- image: "nginx:1" => "nginx:2"
      ports[0]: "http"
    }
"#;
        assert_eq!(text, want);
        assert!(job(&diff, Style::Color).contains("\x1b[33m+/- Job"));
    }
}
