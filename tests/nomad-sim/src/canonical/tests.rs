use serde_json::{Value, json};

use super::json::SEC;
use super::*;

/// A minimal api job as `/v1/jobs/parse` returns it without canonicalisation.
fn api_job(kind: Option<&str>) -> Value {
    let mut job = json!({
        "ID": "web",
        "TaskGroups": [{
            "Name": "web",
            "Tasks": [{"Name": "app", "Driver": "docker", "Config": {"image": "nginx:1.25"}}]
        }]
    });
    if let Some(kind) = kind {
        job["Type"] = json!(kind);
    }
    job
}

fn canonical(kind: Option<&str>) -> Value {
    let mut job = api_job(kind);
    canonicalize_api(&mut job);
    job
}

fn stored(kind: Option<&str>) -> Value {
    server_job(&canonical(kind))
}

#[test]
fn api_defaults_of_a_minimal_service_job() {
    let job = canonical(None);
    let cases: &[(&str, Value)] = &[
        ("/Region", json!("global")),
        ("/Namespace", json!("default")),
        ("/Type", json!("service")),
        ("/Priority", json!(50)),
        ("/Name", json!("web")),
        ("/Update/Stagger", json!(30 * SEC)),
        ("/Update/MaxParallel", json!(1)),
        ("/Update/HealthCheck", json!("checks")),
        ("/Update/ProgressDeadline", json!(600 * SEC)),
        ("/TaskGroups/0/Count", json!(1)),
        ("/TaskGroups/0/Update/MinHealthyTime", json!(10 * SEC)),
        ("/TaskGroups/0/RestartPolicy/Attempts", json!(2)),
        ("/TaskGroups/0/RestartPolicy/Interval", json!(1800 * SEC)),
        (
            "/TaskGroups/0/ReschedulePolicy/DelayFunction",
            json!("exponential"),
        ),
        ("/TaskGroups/0/ReschedulePolicy/Unlimited", json!(true)),
        ("/TaskGroups/0/Migrate/MaxParallel", json!(1)),
        ("/TaskGroups/0/EphemeralDisk/SizeMB", json!(300)),
        ("/TaskGroups/0/Tasks/0/Resources/CPU", json!(100)),
        ("/TaskGroups/0/Tasks/0/Resources/MemoryMB", json!(300)),
        ("/TaskGroups/0/Tasks/0/KillTimeout", json!(5 * SEC)),
        ("/TaskGroups/0/Tasks/0/LogConfig/MaxFiles", json!(10)),
        ("/TaskGroups/0/Tasks/0/RestartPolicy/Mode", json!("fail")),
    ];
    for (path, want) in cases {
        assert_eq!(job.pointer(path), Some(want), "{path}");
    }
}

#[test]
fn api_defaults_of_a_minimal_batch_job() {
    let job = canonical(Some("batch"));
    assert_eq!(job.get("Update"), None, "batch jobs get no default update");
    let cases: &[(&str, Value)] = &[
        ("/TaskGroups/0/RestartPolicy/Attempts", json!(3)),
        ("/TaskGroups/0/RestartPolicy/Interval", json!(86400 * SEC)),
        ("/TaskGroups/0/ReschedulePolicy/Attempts", json!(1)),
        (
            "/TaskGroups/0/ReschedulePolicy/DelayFunction",
            json!("constant"),
        ),
    ];
    for (path, want) in cases {
        assert_eq!(job.pointer(path), Some(want), "{path}");
    }
    assert_eq!(job.pointer("/TaskGroups/0/Migrate"), None);
    assert_eq!(job.pointer("/TaskGroups/0/Update"), None);
}

#[test]
fn server_job_of_a_service_job() {
    let job = stored(None);
    let keys: Vec<&str> = job
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(keys.first(), Some(&"Stop"));
    assert_eq!(keys.last(), Some(&"VersionTag"));
    assert_eq!(keys.len(), 36);
    let cases: &[(&str, Value)] = &[
        ("/Datacenters", json!(["*"])),
        ("/NodePool", json!("default")),
        ("/Meta", Value::Null),
        ("/Constraints", Value::Null),
        ("/Status", json!("")),
        ("/JobModifyIndex", json!(0)),
        (
            "/Update",
            json!({"Stagger": 30 * SEC, "MaxParallel": 1, "HealthCheck": "",
            "MinHealthyTime": 0, "HealthyDeadline": 0, "ProgressDeadline": 0,
            "AutoRevert": false, "AutoPromote": false, "Canary": 0}),
        ),
        ("/TaskGroups/0/Update/HealthCheck", json!("checks")),
        ("/TaskGroups/0/Update/Stagger", json!(30 * SEC)),
        ("/TaskGroups/0/Tasks/0/Env", Value::Null),
        ("/TaskGroups/0/Tasks/0/Identity/Name", json!("default")),
    ];
    for (path, want) in cases {
        assert_eq!(job.pointer(path), Some(want), "{path}");
    }
}

#[test]
fn server_job_of_a_batch_job() {
    let job = stored(Some("batch"));
    assert_eq!(job.pointer("/Update/MaxParallel"), Some(&json!(0)));
    assert_eq!(job.pointer("/Update/Stagger"), Some(&json!(0)));
    assert_eq!(job.pointer("/TaskGroups/0/Update"), Some(&Value::Null));
    assert_eq!(job.pointer("/TaskGroups/0/Migrate"), Some(&Value::Null));
}

#[test]
fn spec_changed_ignores_server_owned_fields_only() {
    let old = stored(None);
    let bump = |path: &str, val: Value| {
        let mut new = old.clone();
        if let Some(slot) = new.pointer_mut(path) {
            *slot = val;
        }
        new
    };
    let cases: &[(&str, Value, bool)] = &[
        ("/Version", json!(7), false),
        ("/JobModifyIndex", json!(42), false),
        ("/ModifyIndex", json!(43), false),
        ("/Stable", json!(true), false),
        ("/SubmitTime", json!(1_700_000_000), false),
        ("/Meta", json!({"owner": "ops"}), true),
        ("/TaskGroups/0/Count", json!(3), true),
        ("/Stop", json!(true), true),
    ];
    for (path, val, want) in cases {
        assert_eq!(
            spec_changed(&old, &bump(path, val.clone())),
            *want,
            "{path}"
        );
    }
}

#[test]
fn validate_texts() {
    let ok = stored(None);
    let with = |path: &str, val: Value| {
        let mut job = ok.clone();
        if let Some(slot) = job.pointer_mut(path) {
            *slot = val;
        }
        job
    };
    let one = |msg: &str| format!("1 error occurred:\n\t* {msg}\n\n");
    let no_driver = format!(
        "Task group web validation failed: {}",
        one(&format!(
            "Task app validation failed: {}",
            one("Missing task driver")
        ))
    );
    // Nomad reports the missing name twice: once from the job, once from the group itself.
    let unnamed = format!(
        "2 errors occurred:\n\t* Job task group 1 missing name\n\t* Task group  validation failed: {}\n\n",
        one("Missing task group name")
    );
    let cases: Vec<(Value, Result<(), String>)> = vec![
        (ok.clone(), Ok(())),
        (
            with("/TaskGroups", json!([])),
            Err(one("Missing job task groups")),
        ),
        (
            with("/Type", json!("x")),
            Err(one("Invalid job type: \"x\"")),
        ),
        (
            with("/Priority", json!(101)),
            Err(one("job priority must be between [1, 100]")),
        ),
        (with("/TaskGroups/0/Name", json!("")), Err(unnamed)),
        (
            with("/TaskGroups/0/Tasks/0/Driver", json!("")),
            Err(one(&no_driver)),
        ),
    ];
    for (job, want) in cases {
        assert_eq!(validate(&job), want);
    }
}

#[test]
fn multierror_lists_several_errors() {
    let text = validate::multierror(&["a".into(), "b".into()]);
    assert_eq!(text, "2 errors occurred:\n\t* a\n\t* b\n\n");
}

#[test]
fn wrong_types_do_not_panic() {
    for junk in [
        json!(null),
        json!([1, 2]),
        json!({"TaskGroups": "nope", "Update": 3}),
    ] {
        let mut job = junk.clone();
        canonicalize_api(&mut job);
        let stored = server_job(&job);
        assert!(validate(&stored).is_err());
    }
}
