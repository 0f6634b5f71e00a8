//! Known-bad specs shared by every instance (high availability): one Nomad variable per
//! source, `drover/known-bad/<source>` next to the leader lock, holding the fingerprints whose
//! deployment failed, per job. The leader that sees a deployment fail adds to it with
//! check-and-set; an instance that becomes leader merges it into its own state before its
//! first pass, so that it never deploys a spec that failed under another leader.
//!
//! The variable stays small: [`KNOWN_BAD_PER_JOB`] fingerprints per job, only for jobs the
//! source still has, and never over [`MAX_BYTES`] (far below Nomad's 64 KiB per variable).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use super::Registration;
use crate::nomad::{self, Client};
use crate::state::{JobKey, JobRecord, KNOWN_BAD_PER_JOB, Recorder, Save};

/// The variables live under this path, one per source.
const KNOWN_BAD_PREFIX: &str = "drover/known-bad";
/// The one item of the variable: a JSON object of job (`namespace/id`) to fingerprints, oldest
/// first. One item, because job IDs may hold characters an item key should not.
const ITEM: &str = "specs";
/// The largest the item may grow; the jobs with the oldest failures are dropped past it.
const MAX_BYTES: usize = 32 * 1024;
/// Writes tried before giving up when other instances keep writing first.
const CAS_ATTEMPTS: u32 = 5;

type Specs = BTreeMap<String, Vec<String>>;

/// The shared record, on the cluster and namespace of the leader lock. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SharedKnownBad {
    client: Client,
    /// The sources merged since this instance last became leader.
    merged: Arc<Mutex<HashSet<String>>>,
}

fn path(source: &str) -> String {
    format!("{KNOWN_BAD_PREFIX}/{source}")
}

impl SharedKnownBad {
    /// The record read and written through `client` (in the lock's namespace).
    pub fn new(client: Client) -> Self {
        Self {
            client,
            merged: Arc::default(),
        }
    }

    /// Leadership was lost: the next leadership merges every source again.
    pub fn forget_merged(&self) {
        self.merged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Merges the source's shared record into the state, once per leadership, for the jobs the
    /// source's files define now (`jobs`: job and file). An error means the pass must not go
    /// on: it could deploy a spec known to fail.
    pub async fn merge_once(
        &self,
        source: &str,
        jobs: &[(JobKey, String)],
        recorder: &Recorder,
    ) -> Result<(), nomad::Error> {
        if self
            .merged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(source)
        {
            return Ok(());
        }
        let (mut specs, _) = self.read(source).await?;
        let wanted: Vec<(JobKey, String, Vec<String>)> = jobs
            .iter()
            .filter_map(|(key, path)| {
                Some((key.clone(), path.clone(), specs.remove(&key.to_string())?))
            })
            .collect();
        let marked: usize = wanted.iter().map(|(_, _, fps)| fps.len()).sum();
        let name = source.to_owned();
        recorder
            .record(Save::Now, move |state| {
                let records = &mut state.source_mut(&name).jobs;
                for (key, path, fingerprints) in wanted {
                    let record = records.entry(key).or_insert_with(|| JobRecord::new(path));
                    for fp in &fingerprints {
                        record.mark_known_bad(fp);
                    }
                }
            })
            .await;
        if marked > 0 {
            tracing::info!(
                source,
                specs = marked,
                "known-bad specs shared by earlier leaders merged"
            );
        }
        self.merged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(source.to_owned());
        Ok(())
    }

    /// Adds the registration's fingerprint, with check-and-set, re-reading on each conflict.
    pub async fn add(&self, recorder: &Recorder, reg: &Registration) -> Result<(), nomad::Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mut specs, index) = self.read(&reg.source).await?;
            {
                let state = recorder.lock();
                let jobs = &state.source(&reg.source).jobs;
                specs.retain(|job, _| {
                    JobKey::try_from(job.clone()).is_ok_and(|k| jobs.contains_key(&k))
                });
            }
            let fingerprints = specs.entry(reg.job.to_string()).or_default();
            if !fingerprints.contains(&reg.fingerprint) {
                fingerprints.push(reg.fingerprint.clone());
            }
            let excess = fingerprints.len().saturating_sub(KNOWN_BAD_PER_JOB);
            fingerprints.drain(..excess);
            let items = BTreeMap::from([(ITEM.to_owned(), encode_bounded(specs, &reg.job))]);
            match self
                .client
                .put_variable(&path(&reg.source), &items, index)
                .await
            {
                Ok(_) => return Ok(()),
                Err(nomad::Error::LockConflict { .. }) if attempt < CAS_ATTEMPTS => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The source's record and the index to write it back with (0 when there is none yet).
    async fn read(&self, source: &str) -> Result<(Specs, u64), nomad::Error> {
        self.client.variable_item(&path(source), ITEM).await
    }
}

/// The record as JSON, dropping other jobs (the first in order) until it fits [`MAX_BYTES`].
fn encode_bounded(mut specs: Specs, keep: &JobKey) -> String {
    let keep = keep.to_string();
    loop {
        let text = serde_json::to_string(&specs).unwrap_or_default();
        if text.len() <= MAX_BYTES {
            return text;
        }
        let Some(drop) = specs.keys().find(|k| **k != keep).cloned() else {
            return text;
        };
        tracing::warn!(job = %drop, "the shared known-bad record is full; forgetting this job's entries");
        specs.remove(&drop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_cut_to_its_bound_keeping_the_job_just_added() {
        let fp = "f".repeat(64);
        let specs: Specs = (0..1_000)
            .map(|i| (format!("prod/job-{i:04}"), vec![fp.clone(), fp.clone()]))
            .collect();
        let keep = JobKey::new("prod", "job-0000");
        let text = encode_bounded(specs, &keep);
        assert!(text.len() <= MAX_BYTES);
        let back: Specs = serde_json::from_str(&text).expect("decode");
        assert!(back.contains_key("prod/job-0000"));
        assert!(back.len() > 100, "only what did not fit was dropped");
    }
}
