//! Whose word counts for a group's `count`: Git's, or the live job's (the Nomad Autoscaler's or
//! a person's `nomad job scale`). Pure functions over job JSON; never calls Nomad.

use serde_json::Value;

use crate::config::PreserveCounts;

/// Groups whose count the submission should take from the live job under `mode`.
fn preserved(mode: PreserveCounts, group: &Value) -> bool {
    match mode {
        PreserveCounts::Always => true,
        PreserveCounts::Never => false,
        // The Nomad Autoscaler owns the count of a group with a `scaling` block.
        PreserveCounts::Scaled => group.get("Scaling").is_some_and(|s| !s.is_null()),
    }
}

/// Whether any group of `job` takes its count from the live job under `mode`.
pub fn keeps_live_counts(mode: PreserveCounts, job: &Value) -> bool {
    job.get("TaskGroups")
        .and_then(Value::as_array)
        .is_some_and(|groups| groups.iter().any(|g| preserved(mode, g)))
}

/// Copies the live count into every group of `job` that keeps its count, so that neither the
/// plan nor the registration fights the autoscaler. A group the live job does not have keeps
/// Git's count (there is nothing to preserve yet).
pub fn apply_live_counts(mode: PreserveCounts, job: &mut Value, live: Option<&Value>) {
    let Some(live) = live else { return };
    let Some(groups) = job.get_mut("TaskGroups").and_then(Value::as_array_mut) else {
        return;
    };
    for group in groups.iter_mut().filter(|g| preserved(mode, g)) {
        let name = group.get("Name").cloned();
        let live_count = live
            .get("TaskGroups")
            .and_then(Value::as_array)
            .and_then(|gs| gs.iter().find(|g| g.get("Name") == name.as_ref()))
            .and_then(|g| g.get("Count"))
            .cloned();
        if let Some(count) = live_count {
            group["Count"] = count;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(groups: &[(&str, u64, bool)]) -> Value {
        let groups: Vec<Value> = groups
            .iter()
            .map(|(name, count, scaled)| {
                let scaling = if *scaled {
                    json!({"Min": 1, "Max": 10})
                } else {
                    Value::Null
                };
                json!({"Name": name, "Count": count, "Scaling": scaling})
            })
            .collect();
        json!({"ID": "web", "TaskGroups": groups})
    }

    fn counts(job: &Value) -> Vec<u64> {
        job["TaskGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["Count"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn each_mode_keeps_the_right_counts() {
        let live = job(&[("api", 7, true), ("web", 5, false)]);
        let cases = [
            (PreserveCounts::Scaled, vec![7, 2]),
            (PreserveCounts::Always, vec![7, 5]),
            (PreserveCounts::Never, vec![3, 2]),
        ];
        for (mode, want) in cases {
            let mut desired = job(&[("api", 3, true), ("web", 2, false), ("new", 1, true)]);
            apply_live_counts(mode, &mut desired, Some(&live));
            assert_eq!(counts(&desired)[..2], want, "{mode:?}");
            assert_eq!(
                counts(&desired)[2],
                1,
                "a new group keeps Git's count ({mode:?})"
            );
        }
    }

    #[test]
    fn only_groups_whose_count_is_kept_need_the_live_job() {
        let plain = job(&[("web", 2, false)]);
        let scaled = job(&[("web", 2, false), ("api", 3, true)]);
        assert!(!keeps_live_counts(PreserveCounts::Scaled, &plain));
        assert!(keeps_live_counts(PreserveCounts::Scaled, &scaled));
        assert!(keeps_live_counts(PreserveCounts::Always, &plain));
        assert!(!keeps_live_counts(PreserveCounts::Never, &scaled));
    }

    #[test]
    fn a_new_job_keeps_gits_counts() {
        let mut desired = job(&[("api", 3, true)]);
        apply_live_counts(PreserveCounts::Always, &mut desired, None);
        assert_eq!(counts(&desired), [3]);
    }
}
