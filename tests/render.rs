//! Render round trip: each fixture job file (tests/fixtures/render) through the local steps and
//! the simulator's parse endpoint gives the expected job; each broken fixture gives an error
//! that names file, line and column.
//!
//! The expected jobs are tests/fixtures/render/expected/*.json. After a deliberate change, run
//! with `DROVER_BLESS=1` to rewrite them, and review the diff.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use drover::render::{self, ErrorKind, Given, RenderError, RenderedJob, Settings, Variables};
use drover::source::RepoFiles;
use drover::validate::WorkTree;
use nomad_sim::Sim;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render")
}

fn repo() -> WorkTree {
    WorkTree::new(fixtures(), 1024 * 1024)
}

fn settings() -> Settings {
    Settings {
        source: "fixtures".into(),
        var_files: vec!["vars/prod.hcl".into()],
        ..Settings::default()
    }
}

fn prepare(
    files: &dyn RepoFiles,
    path: &str,
    settings: &Settings,
) -> Result<render::Prepared, Vec<RenderError>> {
    let vars = render::load_variables(files, settings)?;
    render::prepare(files, path, settings, &vars)
}

async fn render_one(sim: &Sim, path: &str) -> Result<RenderedJob, Vec<RenderError>> {
    let prepared = prepare(&repo(), path, &settings())?;
    render::render(&common::sim::client(sim), &prepared, Some("c0ffee"), None).await
}

fn texts(errors: &[RenderError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

const GOOD: [(&str, &str); 3] = [
    ("jobs/web/web.nomad.hcl", "web"),
    ("jobs/batch/backup.nomad.hcl", "backup"),
    ("jobs/batch/dispatch.nomad.hcl", "render-report"),
];

#[tokio::test]
async fn fixtures_render_to_the_expected_jobs() {
    let sim = Sim::builder().start().await.expect("sim");
    for (path, id) in GOOD {
        let job = render_one(&sim, path)
            .await
            .unwrap_or_else(|e| panic!("{path}: {:#?}", texts(&e)));
        assert_eq!(job.id, id);
        assert_eq!(job.namespace, "default");
        let meta = &job.job["Meta"];
        assert_eq!(meta["drover.source"], "fixtures");
        assert_eq!(meta["drover.path"], path);
        assert_eq!(meta["drover.commit"], "c0ffee");
        let original = std::fs::read_to_string(fixtures().join(path)).expect("read");
        assert_eq!(
            job.submission.source, original,
            "the submission keeps the file as written"
        );
        let expected = fixtures().join("expected").join(format!("{id}.json"));
        if std::env::var_os("DROVER_BLESS").is_some() {
            let text = serde_json::to_string_pretty(&job.job).expect("json") + "\n";
            std::fs::write(&expected, text).expect("bless");
        }
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(&expected).expect("expected file"))
                .expect("expected json");
        assert_eq!(job.job, want, "{path} renders as {}", expected.display());
    }
}

#[tokio::test]
async fn the_web_fixture_keeps_what_only_the_client_evaluates() {
    let sim = Sim::builder().start().await.expect("sim");
    let job = render_one(&sim, "jobs/web/web.nomad.hcl")
        .await
        .expect("renders");
    let groups = job.job["TaskGroups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["Count"], 2);
    let probes: Vec<&str> = groups[1]["Tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["Name"].as_str())
        .collect();
    assert_eq!(probes, ["probe-api", "probe-auth"], "dynamic tasks");
    let task = &groups[0]["Tasks"][0];
    assert_eq!(
        task["Config"]["image"], "nginx:1.27.3",
        "var file over default"
    );
    assert_eq!(task["Env"]["LISTEN"], "0.0.0.0:${NOMAD_PORT_http}");
    assert_eq!(task["Env"]["HOST"], "${attr.unique.hostname}");
    assert_eq!(task["Env"]["QUOTED"], "say \"${NOMAD_TASK_NAME}\"");
    let conf = std::fs::read_to_string(fixtures().join("jobs/web/files/nginx.conf")).expect("read");
    assert_eq!(
        task["Templates"][0]["EmbeddedTmpl"],
        conf.as_str(),
        "file() inlined byte for byte"
    );
    let upstreams = task["Templates"][1]["EmbeddedTmpl"].as_str().expect("tmpl");
    assert!(
        upstreams.starts_with("{{- range service \"api\" }}\nserver"),
        "{upstreams:?}"
    );
    assert!(
        upstreams.contains("# alloc ${NOMAD_ALLOC_ID}\n"),
        "{upstreams:?}"
    );
    assert_eq!(
        job.depends_on,
        ["jobs/web/files/nginx.conf", "vars/prod.hcl"]
    );
}

#[test]
fn the_fingerprint_follows_the_inputs_and_not_the_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = |rel: &str| {
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(fixtures().join(rel), to).expect("copy");
    };
    for rel in [
        "jobs/web/web.nomad.hcl",
        "jobs/web/files/nginx.conf",
        "vars/prod.hcl",
    ] {
        copy(rel);
    }
    let files = WorkTree::new(dir.path(), 1024 * 1024);
    let fp = || {
        prepare(&files, "jobs/web/web.nomad.hcl", &settings())
            .expect("prepares")
            .fingerprint
    };
    let first = fp();
    assert_eq!(first, fp());
    std::fs::write(dir.path().join("jobs/web/files/nginx.conf"), "changed").expect("write");
    let second = fp();
    assert_ne!(first, second, "an inlined file is an input");
    std::fs::write(dir.path().join("vars/prod.hcl"), "image_tag = \"2\"\n").expect("write");
    assert_ne!(second, fp(), "a var file is an input");
    let mut other = settings();
    other.variables = BTreeMap::from([("image_tag".into(), Given::Text("3".into()))]);
    let with_var = prepare(&files, "jobs/web/web.nomad.hcl", &other).expect("prepares");
    assert_ne!(with_var.fingerprint, fp(), "inline variables are inputs");
}

#[tokio::test]
async fn broken_fixtures_name_file_line_and_column() {
    let sim = Sim::builder().start().await.expect("sim");
    let cases: [(&str, &str); 5] = [
        ("bad/hcl1.nomad", "bad/hcl1.nomad:8:9: syntax error: "),
        (
            "bad/two-jobs.nomad.hcl",
            "bad/two-jobs.nomad.hcl:9:1: 2 job blocks (lines 1, 9)",
        ),
        ("bad/no-job.nomad.hcl", "bad/no-job.nomad.hcl: no job block"),
        (
            "bad/escape.nomad.hcl",
            "bad/escape.nomad.hcl:7:23: file(\"../../../../../../../../etc/passwd\"): ../../../../../../../../etc/passwd: leads outside the repository",
        ),
        (
            "bad/unknown-arg.nomad.hcl",
            "bad/unknown-arg.nomad.hcl:9:7: Unsupported block type; Blocks of type \"resorces\" are not expected here.",
        ),
    ];
    for (path, want) in cases {
        let errors = render_one(&sim, path).await.expect_err(path);
        let got = texts(&errors);
        assert!(got.iter().any(|e| e.starts_with(want)), "{path}: {got:#?}");
    }
}

#[tokio::test]
async fn a_missing_var_file_blocks_the_jobs_and_is_named() {
    let mut s = settings();
    s.var_files.push("vars/missing.hcl".into());
    let errors = render::load_variables(&repo(), &s).expect_err("missing");
    assert_eq!(
        texts(&errors),
        ["vars/missing.hcl: var file: vars/missing.hcl: no such file in the repository"]
    );
    // Without the var file the periodic job's schedule is unset: found locally, as Nomad would.
    let errors = render::prepare(
        &repo(),
        "jobs/batch/backup.nomad.hcl",
        &s,
        &Variables::default(),
    )
    .expect_err("unset variable");
    assert!(
        texts(&errors)[0]
            .starts_with("jobs/batch/backup.nomad.hcl:2:1: Unset variable \"schedule\""),
        "{:?}",
        texts(&errors)
    );
}

#[tokio::test]
async fn duplicate_ids_block_both_files_and_others_go_on() {
    let sim = Sim::builder().start().await.expect("sim");
    let mut jobs = Vec::new();
    for path in [
        "bad/dup-a.nomad.hcl",
        "jobs/batch/dispatch.nomad.hcl",
        "bad/dup-b.nomad.hcl",
    ] {
        jobs.push(render_one(&sim, path).await.expect("renders"));
    }
    let (kept, blocked) = render::block_duplicates(jobs);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, "render-report");
    assert_eq!(
        texts(&blocked),
        [
            "bad/dup-a.nomad.hcl: job \"twin\" in namespace \"default\" is also declared by bad/dup-b.nomad.hcl; both are blocked",
            "bad/dup-b.nomad.hcl: job \"twin\" in namespace \"default\" is also declared by bad/dup-a.nomad.hcl; both are blocked",
        ]
    );
    assert!(
        blocked
            .iter()
            .all(|e| matches!(e.kind, ErrorKind::Duplicate { .. }))
    );
}

#[tokio::test]
async fn overrides_and_policy_apply_to_the_rendered_job() {
    let sim = Sim::builder().start().await.expect("sim");
    let mut s = settings();
    s.namespace = Some("prod".into());
    s.region = Some("eu".into());
    s.datacenters = Some(vec!["eu-1".into(), "eu-2".into()]);
    let prepared = prepare(&repo(), "bad/raw-exec.nomad.hcl", &s).expect("prepares");
    let job = render::render(&common::sim::client(&sim), &prepared, None, None)
        .await
        .expect("renders");
    assert_eq!(job.job["Namespace"], "prod");
    assert_eq!(job.job["Region"], "eu");
    assert_eq!(job.job["Datacenters"], serde_json::json!(["eu-1", "eu-2"]));
    assert!(job.job["Meta"].get("drover.commit").is_none());
    let policy = drover::config::Policy {
        forbidden_drivers: vec!["raw_exec".into()],
        required_resources: vec!["memory".into()],
        ..Default::default()
    };
    let violations: Vec<String> = drover::policy::check(&policy, &job.view)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        violations,
        [
            "policy forbidden_drivers: job \"raw\", group \"g\", task \"t\": driver \"raw_exec\" is forbidden",
            "policy required_resources: job \"raw\", group \"g\", task \"t\": the task must set resources memory (Nomad's defaults do not count)",
        ]
    );
}
