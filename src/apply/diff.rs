//! Reading a plan's diff: whether it is a real change once drover's own meta is set aside, the
//! diff without that meta for people (`drover diff`), and a one-line summary of what changed
//! for logs and the status page. Pure; never calls Nomad.

use crate::nomad::{DiffType, FieldDiff, JobDiff, ObjectDiff};

/// Meta keys drover stamps itself; their changes alone are not a change of the job.
const OWN_META_PREFIX: &str = "Meta[drover.";

/// How a plan's diff names the `drover.source` meta.
const OWN_SOURCE_FIELD: &str = "Meta[drover.source]";

fn own_meta(field: &FieldDiff) -> bool {
    field.name.starts_with(OWN_META_PREFIX)
}

/// Whether the plan shows a change other than drover's own meta.
pub fn is_change(diff: Option<&JobDiff>) -> bool {
    let Some(diff) = diff else { return true };
    match diff.r#type {
        DiffType::None => false,
        DiffType::Added | DiffType::Deleted => true,
        DiffType::Edited => edited_besides_own_meta(diff),
    }
}

/// Whether an edit changes more than drover's own meta: its fields (Nomad flattens the job's
/// `Meta` into `Meta[key]` fields), objects or groups.
fn edited_besides_own_meta(diff: &JobDiff) -> bool {
    let fields = diff
        .fields
        .iter()
        .flatten()
        .any(|f| f.r#type != DiffType::None && !own_meta(f));
    let objects = diff.objects.iter().flatten().any(changed_object);
    let groups = diff
        .task_groups
        .iter()
        .flatten()
        .any(|g| g.r#type != DiffType::None);
    fields || objects || groups
}

/// The diff as [`is_change`] reads it: without drover's own meta, which changes with every
/// commit and would show on every changed job, and an edit of nothing else marked as none.
pub fn without_own_meta(mut diff: JobDiff) -> JobDiff {
    if diff.r#type == DiffType::Edited && !edited_besides_own_meta(&diff) {
        diff.r#type = DiffType::None;
    }
    if let Some(fields) = &mut diff.fields {
        fields.retain(|f| !own_meta(f));
    }
    diff
}

/// The source named in the live job's `drover.source` when it is another than the one being
/// planned: the job belongs to that source and must not be taken over. An unmanaged live job
/// (no `drover.source`) is not another's.
pub fn other_owner(diff: Option<&JobDiff>) -> Option<&str> {
    diff?
        .fields
        .iter()
        .flatten()
        .find(|f| f.name == OWN_SOURCE_FIELD)
        .filter(|f| matches!(f.r#type, DiffType::Edited | DiffType::Deleted) && !f.old.is_empty())
        .filter(|f| f.old != f.new)
        .map(|f| f.old.as_str())
}

fn changed_object(object: &ObjectDiff) -> bool {
    object.r#type != DiffType::None
}

/// A short summary such as `edited: Meta[owner]; group web: Config, Count`; a new job is
/// `created (2 groups)`, not every field it adds.
pub fn summary(diff: Option<&JobDiff>) -> String {
    let Some(diff) = diff else {
        return "no diff".to_owned();
    };
    if diff.r#type == DiffType::Added {
        let groups = diff.task_groups.as_ref().map_or(0, Vec::len);
        let plural = if groups == 1 { "" } else { "s" };
        return format!("created ({groups} group{plural})");
    }
    let mut parts: Vec<String> = Vec::new();
    let job_level: Vec<&str> = diff
        .fields
        .iter()
        .flatten()
        .filter(|f| f.r#type != DiffType::None && !own_meta(f))
        .map(|f| f.name.as_str())
        .chain(
            diff.objects
                .iter()
                .flatten()
                .filter(|o| changed_object(o))
                .map(|o| o.name.as_str()),
        )
        .collect();
    if !job_level.is_empty() {
        parts.push(job_level.join(", "));
    }
    for group in diff
        .task_groups
        .iter()
        .flatten()
        .filter(|g| g.r#type != DiffType::None)
    {
        let mut names: Vec<&str> = group
            .fields
            .iter()
            .flatten()
            .filter(|f| f.r#type != DiffType::None)
            .map(|f| f.name.as_str())
            .collect();
        names.extend(
            group
                .objects
                .iter()
                .flatten()
                .filter(|o| changed_object(o))
                .map(|o| o.name.as_str()),
        );
        names.extend(
            group
                .tasks
                .iter()
                .flatten()
                .filter(|t| t.r#type != DiffType::None)
                .map(|t| t.name.as_str()),
        );
        parts.push(
            format!(
                "group {} {:?}: {}",
                group.name,
                group.r#type,
                names.join(", ")
            )
            .to_lowercase(),
        );
    }
    format!("{:?}: {}", diff.r#type, parts.join("; ")).to_lowercase()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_new_job_is_summarised_by_its_groups() {
        let diff: JobDiff = serde_json::from_value(json!({
            "Type": "Added", "ID": "web",
            "Fields": [{"Type": "Added", "Name": "Priority", "Old": "", "New": "50"}],
            "TaskGroups": [{"Type": "Added", "Name": "web"}, {"Type": "Added", "Name": "db"}]
        }))
        .expect("diff");
        assert_eq!(summary(Some(&diff)), "created (2 groups)");
    }

    use super::*;

    fn diff(value: serde_json::Value) -> JobDiff {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn only_own_meta_is_no_change() {
        let d = diff(json!({"Type": "Edited", "ID": "web",
            "Fields": [{"Type": "Edited", "Name": "Meta[drover.commit]", "Old": "a", "New": "b"}],
            "TaskGroups": [{"Type": "None", "Name": "web"}]}));
        assert!(!is_change(Some(&d)));
        assert!(!is_change(Some(&diff(json!({"Type": "None"})))));
        assert!(is_change(Some(&diff(json!({"Type": "Added"})))));
        assert!(
            is_change(None),
            "no diff at all is treated as a change to be safe"
        );
    }

    #[test]
    fn people_see_the_diff_without_own_meta() {
        let d = diff(json!({"Type": "Edited", "ID": "web",
            "Fields": [
                {"Type": "Edited", "Name": "Meta[drover.commit]", "Old": "a", "New": "b"},
                {"Type": "Edited", "Name": "Meta[drover.fingerprint]", "Old": "x", "New": "y"},
                {"Type": "None", "Name": "Meta[drover.source]", "Old": "apps", "New": "apps"},
                {"Type": "Edited", "Name": "Meta[owner]", "Old": "a", "New": "b"}],
            "TaskGroups": [{"Type": "None", "Name": "web"}]}));
        let shown = without_own_meta(d.clone());
        assert_eq!(shown.r#type, DiffType::Edited);
        let names: Vec<&str> = shown
            .fields
            .iter()
            .flatten()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["Meta[owner]"]);
        assert_eq!(is_change(Some(&shown)), is_change(Some(&d)));

        let mut only_own = d;
        only_own.fields.as_mut().map(|f| f.pop());
        let shown = without_own_meta(only_own.clone());
        assert_eq!(shown.r#type, DiffType::None, "nothing else changed");
        assert_eq!(shown.fields, Some(Vec::new()));
        assert!(!is_change(Some(&only_own)) && !is_change(Some(&shown)));

        let added = diff(json!({"Type": "Added", "ID": "web",
            "Fields": [{"Type": "Added", "Name": "Meta[drover.path]", "Old": "", "New": "web.hcl"},
                {"Type": "Added", "Name": "Priority", "Old": "", "New": "50"}]}));
        let shown = without_own_meta(added);
        assert_eq!(shown.r#type, DiffType::Added);
        assert_eq!(shown.fields.map(|f| f.len()), Some(1));
    }

    #[test]
    fn another_sources_job_is_recognised_and_an_unmanaged_one_is_not() {
        let source = |t: &str, old: &str, new: &str| {
            diff(json!({"Type": "Edited", "ID": "web",
                "Fields": [{"Type": t, "Name": "Meta[drover.source]", "Old": old, "New": new}]}))
        };
        assert_eq!(
            other_owner(Some(&source("Edited", "payments", "platform"))),
            Some("payments")
        );
        assert_eq!(
            other_owner(Some(&source("Added", "", "platform"))),
            None,
            "an unmanaged job is adopted"
        );
        assert_eq!(
            other_owner(Some(&source("None", "platform", "platform"))),
            None
        );
        assert_eq!(other_owner(Some(&diff(json!({"Type": "Added"})))), None);
    }

    #[test]
    fn a_real_edit_is_a_change_with_a_summary() {
        let d = diff(json!({"Type": "Edited", "ID": "web",
            "Fields": [{"Type": "Edited", "Name": "Meta[owner]", "Old": "a", "New": "b"}],
            "TaskGroups": [{"Type": "Edited", "Name": "web",
                "Fields": [{"Type": "Edited", "Name": "Count", "Old": "1", "New": "2"}],
                "Tasks": [{"Type": "Edited", "Name": "server"}]}]}));
        assert!(is_change(Some(&d)));
        assert_eq!(
            summary(Some(&d)),
            "edited: meta[owner]; group web edited: count, server"
        );
    }
}
