//! Steps 5 and 6 on Nomad's canonical JSON: the source's overrides (namespace, region,
//! datacenters) and drover's ownership meta.

use serde_json::{Map, Value};

use super::Settings;
use crate::state::{META_COMMIT, META_FINGERPRINT, META_PATH, META_SIGNER, META_SOURCE};

/// The namespace the job goes to: the source's override, else the file's own `namespace`,
/// else the cluster's, else Nomad's `default` (which canonicalization already wrote).
pub(crate) fn namespace(settings: &Settings, file_sets_it: bool, job: &Value) -> String {
    let from_job = || {
        job.get("Namespace")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    settings
        .namespace
        .clone()
        .or_else(|| file_sets_it.then(from_job).flatten())
        .or_else(|| settings.cluster_namespace.clone())
        .or_else(from_job)
        .unwrap_or_else(|| "default".to_owned())
}

/// Where a rendered job came from, as its meta says.
pub(crate) struct Origin<'a> {
    pub path: &'a str,
    pub commit: Option<&'a str>,
    pub signer: Option<&'a str>,
    pub fingerprint: &'a str,
}

pub(crate) fn apply(job: &mut Value, settings: &Settings, namespace: &str, origin: &Origin<'_>) {
    let Some(obj) = job.as_object_mut() else {
        return;
    };
    obj.insert("Namespace".into(), Value::from(namespace));
    if let Some(region) = &settings.region {
        obj.insert("Region".into(), Value::from(region.as_str()));
    }
    if let Some(dcs) = &settings.datacenters {
        obj.insert("Datacenters".into(), Value::from(dcs.clone()));
    }
    let meta = obj
        .entry("Meta")
        .and_modify(|m| {
            if !m.is_object() {
                *m = Value::Object(Map::new());
            }
        })
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(META_SOURCE.into(), Value::from(settings.source.as_str()));
        meta.insert(META_PATH.into(), Value::from(origin.path));
        if let Some(commit) = origin.commit {
            meta.insert(META_COMMIT.into(), Value::from(commit));
        }
        meta.insert(META_FINGERPRINT.into(), Value::from(origin.fingerprint));
        if let Some(signer) = origin.signer {
            meta.insert(META_SIGNER.into(), Value::from(signer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overrides_and_meta() {
        let settings = Settings {
            source: "platform".into(),
            region: Some("eu".into()),
            datacenters: Some(vec!["dc2".into()]),
            cluster_namespace: Some("team".into()),
            ..Settings::default()
        };
        let mut job = json!({"ID": "a", "Namespace": "default", "Meta": null});
        let ns = namespace(&settings, false, &job);
        assert_eq!(ns, "team");
        assert_eq!(namespace(&settings, true, &job), "default");
        let origin = Origin {
            path: "jobs/a.nomad.hcl",
            commit: Some("abc"),
            signer: Some("alice@example.com"),
            fingerprint: "f1",
        };
        apply(&mut job, &settings, &ns, &origin);
        assert_eq!(
            job,
            json!({"ID": "a", "Namespace": "team", "Region": "eu", "Datacenters": ["dc2"],
                   "Meta": {"drover.source": "platform", "drover.path": "jobs/a.nomad.hcl",
                            "drover.commit": "abc", "drover.fingerprint": "f1",
                            "drover.signer": "alice@example.com"}})
        );
    }
}
