//! The simulated cluster state: one raft-like index for all writes, the tables Nomad's blocking
//! queries watch, namespaces, node pools and nodes, ACL policies and roles, jobs with their
//! versions, evaluations, deployments and variables.
//! Handlers change it only through methods that bump the index, so every write is visible to
//! blocking queries.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use crate::acl::Acl;
use crate::deployment::Deployment;
use crate::variables::Variable;

/// The RPC address `GET /v1/status/leader` reports.
pub(crate) const LEADER_ADDR: &str = "127.0.0.1:4647";

/// Nomad keeps this many versions of a job (`job_tracked_versions`).
pub(crate) const TRACKED_VERSIONS: usize = 6;

/// The tables whose indexes blocking queries report (docs/nomad-api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Jobs,
    JobVersion,
    JobSummary,
    Evals,
    Deployment,
    Variables,
    Namespaces,
    NodePools,
    AclPolicies,
    AclRoles,
}

pub(crate) struct JobEntry {
    /// The current version, as `GET /v1/job/:id` returns it.
    pub job: Value,
    /// Newest first, at most [`TRACKED_VERSIONS`].
    pub versions: Vec<Value>,
    /// The `Submission` of each version that had one, by version.
    pub submissions: BTreeMap<u64, Value>,
    pub summary_index: u64,
}

impl JobEntry {
    pub(crate) fn version(&self) -> u64 {
        num(&self.job, "Version")
    }

    /// Whether the job has allocations that are not terminal: a running job that is not stopped.
    pub(crate) fn has_live_allocs(&self) -> bool {
        text(&self.job, "Status") == "running" && !self.job["Stop"].as_bool().unwrap_or(false)
    }

    /// Whether Nomad counts the job as non-terminal (anything but `dead`).
    pub(crate) fn is_live(&self) -> bool {
        text(&self.job, "Status") != "dead"
    }
}

/// The description Nomad gives the `default` namespace.
const DEFAULT_NAMESPACE_DESCRIPTION: &str = "Default shared namespace";

/// Nomad's built-in node pools and their descriptions (`nomad/structs/node_pool.go`).
pub(crate) const BUILT_IN_POOLS: [(&str, &str); 2] = [
    ("all", "Node pool with all nodes in the cluster."),
    ("default", "Default node pool."),
];

/// `object` with both indexes set to `index`: a record as first written.
pub(crate) fn record(mut object: Value, index: u64) -> Value {
    object["CreateIndex"] = json!(index);
    object["ModifyIndex"] = json!(index);
    object
}

/// Writes `object` as the new version of `existing` at `index`: its `CreateIndex` is kept.
pub(crate) fn upsert_record(existing: Option<&Value>, object: Value, index: u64) -> Value {
    let created = existing.map_or(index, |e| num(e, "CreateIndex"));
    let mut object = record(object, index);
    object["CreateIndex"] = json!(created);
    object
}

pub(crate) struct Store {
    pub index: u64,
    tables: HashMap<Table, u64>,
    pub region: String,
    /// By name: each namespace's record as `GET /v1/namespace/:name` returns it.
    pub namespaces: BTreeMap<String, Value>,
    /// By name: each node pool's record, the built-in `all` and `default` included.
    pub node_pools: BTreeMap<String, Value>,
    /// Node ID → its node pool: the only part of a node the simulator models.
    pub nodes: BTreeMap<String, String>,
    /// By name.
    pub acl_policies: BTreeMap<String, Value>,
    /// By ID.
    pub acl_roles: BTreeMap<String, Value>,
    /// Whether Enterprise-only fields (namespace node pool configuration, node pool scheduler
    /// configuration) are accepted; Nomad CE refuses them as unlicensed.
    pub enterprise: bool,
    /// (namespace, job ID) → job.
    pub jobs: BTreeMap<(String, String), JobEntry>,
    pub evals: HashMap<String, Value>,
    /// The evaluations still pending, by (create index, ID): the scheduler's queue, so that a
    /// tick does not look through every evaluation ever made.
    pub pending_evals: BTreeSet<(u64, String)>,
    /// By ID; added through [`Store::add_deployment`], never removed.
    pub deployments: HashMap<String, Deployment>,
    /// (namespace, job ID) → the IDs of the job's deployments: every evaluation and every read
    /// of a job's deployments asks for them, and a scan of all of them made a cold sync of
    /// thousands of jobs quadratic.
    deployments_by_job: HashMap<(String, String), Vec<String>>,
    /// The deployments that may still be active: the scheduler's tick moves these forward and
    /// drops those it finds terminal (a terminal deployment never becomes active again), so
    /// that it does not look through every deployment ever made 100 times a second.
    pub active_deployments: BTreeSet<String>,
    /// (namespace, path) → variable.
    pub variables: BTreeMap<(String, String), Variable>,
    pub acl: Acl,
    /// What `GET /v1/status/leader` reports; `None` while a fault removes the leader.
    pub leader: Option<String>,
    /// The Nomad version `GET /v1/agent/self` reports (an upgrade in a test changes it).
    pub version: String,
}

impl Store {
    /// Adds deployment `id` of job `job_id` in namespace `ns`.
    pub(crate) fn add_deployment(&mut self, ns: &str, job_id: &str, id: String, d: Deployment) {
        self.deployments_by_job
            .entry((ns.to_owned(), job_id.to_owned()))
            .or_default()
            .push(id.clone());
        self.active_deployments.insert(id.clone());
        self.deployments.insert(id, d);
    }

    /// The IDs of the deployments of job `job_id` in namespace `ns`, oldest first.
    pub(crate) fn deployment_ids_of(&self, ns: &str, job_id: &str) -> &[String] {
        self.deployments_by_job
            .get(&(ns.to_owned(), job_id.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// The deployments of job `job_id` in namespace `ns`, oldest first.
    pub(crate) fn deployments_of(
        &self,
        ns: &str,
        job_id: &str,
    ) -> impl Iterator<Item = &Deployment> + '_ {
        self.deployment_ids_of(ns, job_id)
            .iter()
            .filter_map(|id| self.deployments.get(id))
    }

    pub(crate) fn new(acl: Acl) -> Self {
        Self {
            index: 1,
            tables: HashMap::from([(Table::Namespaces, 1), (Table::NodePools, 1)]),
            region: "global".to_owned(),
            namespaces: BTreeMap::from([(
                "default".to_owned(),
                record(
                    json!({"Name": "default", "Description": DEFAULT_NAMESPACE_DESCRIPTION}),
                    1,
                ),
            )]),
            node_pools: BUILT_IN_POOLS
                .iter()
                .map(|(name, description)| {
                    let pool = json!({"Name": name, "Description": description});
                    ((*name).to_owned(), record(pool, 1))
                })
                .collect(),
            nodes: BTreeMap::new(),
            acl_policies: BTreeMap::new(),
            acl_roles: BTreeMap::new(),
            enterprise: false,
            jobs: BTreeMap::new(),
            evals: HashMap::new(),
            pending_evals: BTreeSet::new(),
            deployments: HashMap::new(),
            deployments_by_job: HashMap::new(),
            active_deployments: BTreeSet::new(),
            variables: BTreeMap::new(),
            acl,
            leader: Some(LEADER_ADDR.to_owned()),
            version: crate::api::NOMAD_VERSION.to_owned(),
        }
    }

    /// Starts a raft write touching `tables`; returns its index.
    pub(crate) fn write(&mut self, tables: &[Table]) -> u64 {
        self.index += 1;
        for t in tables {
            self.tables.insert(*t, self.index);
        }
        self.index
    }

    pub(crate) fn table_index(&self, table: Table) -> u64 {
        self.tables.get(&table).copied().unwrap_or(0)
    }

    pub(crate) fn job(&self, ns: &str, id: &str) -> Option<&JobEntry> {
        self.jobs.get(&(ns.to_owned(), id.to_owned()))
    }

    pub(crate) fn has_namespace(&self, name: &str) -> bool {
        self.namespaces.contains_key(name)
    }

    /// Creates namespace `name` with no settings, unless it exists (the control routes' way).
    pub(crate) fn add_namespace(&mut self, name: &str) {
        if !self.has_namespace(name) {
            let index = self.write(&[Table::Namespaces]);
            let ns = record(json!({"Name": name, "Description": ""}), index);
            self.namespaces.insert(name.to_owned(), ns);
        }
    }

    pub(crate) fn job_mut(&mut self, ns: &str, id: &str) -> Option<&mut JobEntry> {
        self.jobs.get_mut(&(ns.to_owned(), id.to_owned()))
    }

    /// Creates a pending evaluation for a job at write index `index`.
    pub(crate) fn create_eval(
        &mut self,
        job: &Value,
        triggered_by: &str,
        index: u64,
        now: i64,
    ) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let eval_type = if triggered_by == "job-deregister" {
            "service"
        } else {
            text(job, "Type")
        };
        let eval = json!({
            "ID": id,
            "Namespace": text(job, "Namespace"),
            "Priority": num(job, "Priority"),
            "Type": eval_type,
            "TriggeredBy": triggered_by,
            "JobID": text(job, "ID"),
            "JobModifyIndex": num(job, "JobModifyIndex"),
            "Status": "pending",
            "CreateIndex": index,
            "ModifyIndex": index,
            "CreateTime": now,
            "ModifyTime": now,
        });
        self.evals.insert(id.clone(), eval);
        self.pending_evals.insert((index, id.clone()));
        id
    }

    /// The job summary of §2.4, derived from the job's status.
    pub(crate) fn summary(&self, entry: &JobEntry) -> Value {
        let running = entry.has_live_allocs();
        let mut groups = Map::new();
        for group in entry.job["TaskGroups"].as_array().into_iter().flatten() {
            let count = if running { num(group, "Count") } else { 0 };
            groups.insert(
                text(group, "Name").to_owned(),
                json!({"Queued": 0, "Complete": 0, "Failed": 0, "Running": count, "Starting": 0, "Lost": 0, "Unknown": 0}),
            );
        }
        json!({
            "JobID": entry.job["ID"],
            "Namespace": entry.job["Namespace"],
            "Summary": groups,
            "Children": {"Pending": 0, "Running": 0, "Dead": 0},
            "CreateIndex": entry.job["CreateIndex"],
            "ModifyIndex": entry.summary_index,
        })
    }
}

/// A string field of a JSON object, `""` when absent.
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// An unsigned field of a JSON object, 0 when absent.
pub(crate) fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}
