//! Two files that declare the same job ID in the same namespace: neither can be trusted to be
//! the one meant, so both are blocked with a message naming both files; the other jobs go on.

use std::collections::BTreeMap;

use super::error::{ErrorKind, RenderError};
use crate::state::JobKey;

/// The indexes of `jobs` (a job and the file declaring it) that share their namespace and ID
/// with another entry, each with the error that blocks it, naming the other files.
pub fn duplicates(jobs: &[(JobKey, String)]) -> BTreeMap<usize, RenderError> {
    let mut by_job: BTreeMap<&JobKey, Vec<usize>> = BTreeMap::new();
    for (i, (key, _)) in jobs.iter().enumerate() {
        by_job.entry(key).or_default().push(i);
    }
    let mut out = BTreeMap::new();
    for (key, indexes) in by_job.into_iter().filter(|(_, v)| v.len() > 1) {
        for &i in &indexes {
            let others: Vec<&str> = indexes
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| jobs[j].1.as_str())
                .collect();
            let kind = ErrorKind::Duplicate {
                id: key.id.clone(),
                namespace: key.namespace.clone(),
                other: others.join(", "),
            };
            out.insert(i, RenderError::new(&jobs[i].1, None, kind));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, id: &str, path: &str) -> (JobKey, String) {
        (JobKey::new(ns, id), path.to_owned())
    }

    #[test]
    fn both_files_are_blocked_and_named() {
        let keys = [
            key("default", "web", "a/web.nomad.hcl"),
            key("default", "api", "api.nomad.hcl"),
            key("prod", "web", "prod/web.nomad.hcl"),
            key("default", "web", "b/web.nomad.hcl"),
        ];
        let d = duplicates(&keys);
        assert_eq!(d.keys().copied().collect::<Vec<_>>(), [0, 3]);
        assert_eq!(
            d[&0].to_string(),
            "a/web.nomad.hcl: job \"web\" in namespace \"default\" is also declared by b/web.nomad.hcl; both are blocked"
        );
        assert!(
            d[&3]
                .to_string()
                .contains("also declared by a/web.nomad.hcl")
        );
    }
}
