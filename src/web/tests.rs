use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};

use super::*;
use crate::config::{Config, Env};
use crate::events::{Event, EventKind, History};
use crate::state::{JobKey, SourceState};
use crate::status::{Board, Reachability};
use crate::sync::{JobReport, ObjectReport, PassReport, Status};

const SCRIPT_NAME: &str = "<script>alert(1)</script>";

fn config() -> Config {
    let text = "[nomad]\naddress = \"http://127.0.0.1:4646\"\nui_url = \"https://nomad.example.com\"\n\
                [[source]]\nname = \"apps\"\nurl = \"/srv/jobs\"\n\
                commit_url = \"https://git.example.com/jobs/commit/{commit}\"\n";
    Config::parse(text, Path::new("drover.toml"), &Env::default()).expect("config")
}

/// A board whose source `apps` passed once with `jobs` (ID, status).
fn board(config: &Config, jobs: impl IntoIterator<Item = (String, Status)>) -> Board {
    let board = Board::new();
    board.add_source(&config.sources[0]);
    let mut report = PassReport::new("apps");
    for (id, status) in jobs {
        report.jobs.push(JobReport {
            job: Some(JobKey::new("default", &id)),
            path: format!("jobs/{id}.nomad.hcl"),
            status,
            detail: format!("why {id} is blocked"),
            full_detail: None,
            followed: false,
        });
    }
    board.pass_finished(&report, &SourceState::default(), Duration::from_millis(120));
    board
}

fn reachable() -> Reachability {
    Reachability {
        answered_ago: Some(Duration::from_secs(3)),
        unreachable: Vec::new(),
    }
}

fn overview(board: &Board, config: &Config) -> String {
    board.with_document(|doc| {
        overview_page(doc, &reachable(), &Links::new(config), false).into_string()
    })
}

fn source(board: &Board, config: &Config, query: &str) -> String {
    board.with_document(|doc| {
        source_page(
            doc.sources[0],
            &History::default(),
            &JobsQuery::parse(query),
            &Links::new(config),
            false,
        )
        .into_string()
    })
}

fn job(board: &Board, config: &Config, id: &str, history: &History) -> String {
    board.with_document(|doc| {
        job_page(doc, "default", id, history, &Links::new(config), false)
            .expect("the job is on the board")
            .into_string()
    })
}

#[test]
fn a_job_named_with_html_shows_as_text() {
    let config = config();
    let board = board(&config, [(SCRIPT_NAME.to_owned(), Status::Blocked)]);
    let job = job(&board, &config, SCRIPT_NAME, &History::default());
    for page in [overview(&board, &config), source(&board, &config, ""), job] {
        assert!(
            !page.contains("<script>alert"),
            "an unescaped job name: {page}"
        );
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(
            page.contains("/ui/jobs/default/%3Cscript%3Ealert%281%29%3C/script%3E")
                || !page.contains("\"/ui/jobs/default/"),
            "links encode the name: {page}"
        );
    }
}

#[test]
fn the_last_plan_shows_with_its_changed_lines_marked_and_escaped() {
    let config = config();
    let board = board(&config, [("web".to_owned(), Status::Synced)]);
    let (old, new) = (Some("0123456789abcdef"), Some("fedcba9876543210"));
    let event = |kind, commit| Event::new(kind, "apps", "default", "web").commit(commit);
    let deployed = |kind| event(kind, new).version(Some(3)).deployment(Some("d-1"));
    let plan = "+/- Job: \"web\"\n  + Meta[note]: \"<script>alert(1)</script>\"\n  \
                - Meta[old]: \"x\"\n+/- Task Group: \"web\"\n  +/- Count: \"1\" => \"2\"\n  \
                ports[0]: \"http\"\n";
    let mut history = History::default();
    history.push(event(EventKind::Registered, old).plan("+ Job: \"first\"\n"));
    history.push(event(EventKind::Registered, new).plan(plan));
    history.push(deployed(EventKind::Progress));
    history.push(deployed(EventKind::Succeeded));
    let page = job(&board, &config, "web", &history);
    let head = "Plan of <a href=\"https://git.example.com/jobs/commit/fedcba9876543210\">";
    assert!(page.contains(head), "{page}");
    assert!(
        page.contains("<code>fedcba9</code></a> (version 3), "),
        "{page}"
    );
    for line in [
        r#"<span class="diff-edit">+/- Job: &quot;web&quot;</span>"#,
        r#"<span class="diff-add">  + Meta[note]: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;</span>"#,
        r#"<span class="diff-del">  - Meta[old]: &quot;x&quot;</span>"#,
        r#"<span class="diff-edit">  +/- Count: &quot;1&quot; =&gt; &quot;2&quot;</span>"#,
        "\n  ports[0]: &quot;http&quot;\n",
    ] {
        assert!(page.contains(line), "{line} in {page}");
    }
    assert!(!page.contains("<script>alert"), "an unescaped plan: {page}");
    assert!(!page.contains("first"), "only the newest plan: {page}");
}

#[test]
fn a_drift_found_registered_nothing_so_its_plan_names_no_version() {
    let config = config();
    let board = board(&config, [("web".to_owned(), Status::Drifted)]);
    let mut history = History::default();
    let commit = Some("fedcba9876543210");
    let event = |kind| Event::new(kind, "apps", "default", "web").commit(commit);
    // Found while the commit's deployment still ran.
    history.push(event(EventKind::Registered).plan("+ Job: \"web\"\n"));
    history.push(event(EventKind::DriftFound).plan("+/- Job: \"web\"\n"));
    history.push(event(EventKind::Succeeded).version(Some(3)));
    let page = job(&board, &config, "web", &history);
    assert!(page.contains("</a>, "), "no version: {page}");
    assert!(!page.contains("(version"), "{page}");
    assert!(
        page.contains("kind-drift_found\">drift_found</span></p>"),
        "{page}"
    );
    assert!(page.contains("+/- Job"), "the drift's plan: {page}");
}

#[test]
fn links_go_to_the_forge_and_to_nomad_and_scripts_come_from_drover() {
    let config = config();
    let board = board(&config, [("web".to_owned(), Status::Synced)]);
    let job = job(&board, &config, "web", &History::default());
    assert!(
        job.contains("href=\"https://nomad.example.com/ui/jobs/web@default\""),
        "{job}"
    );
    assert!(
        job.contains("No plan of this job is kept in the history."),
        "{job}"
    );
    for page in [overview(&board, &config), job] {
        assert!(page.contains("<script src=\"/ui/app.js\" defer></script>"));
        assert!(page.contains("<link rel=\"stylesheet\" href=\"/ui/app.css\">"));
        assert!(!page.contains("<script>"), "no inline script");
        assert!(!page.contains("style="), "no inline style");
    }
}

#[test]
fn empty_states_say_what_is_missing() {
    let config = config();
    let board = Board::new();
    board.add_source(&config.sources[0]);
    let page = overview(&board, &config);
    assert!(page.contains("waiting for its first pass"), "{page}");
    assert!(page.contains("no pass finished yet"), "{page}");
    assert!(page.contains("none yet"), "{page}");
    let page = source(&board, &config, "");
    assert!(page.contains("No pass has finished yet."), "{page}");
    let empty = self::board(&config, []);
    let page = source(&empty, &config, "");
    assert!(page.contains("This source has no jobs."), "{page}");
    let nothing = Board::new();
    let page = nothing.with_document(|doc| {
        overview_page(doc, &reachable(), &Links::new(&config), false).into_string()
    });
    assert!(page.contains("No source is configured."), "{page}");
}

fn five_thousand(config: &Config) -> Board {
    board(
        config,
        (0..5000).map(|i| {
            let status = if i % 100 == 0 {
                Status::Blocked
            } else {
                Status::Synced
            };
            (format!("job-{i:04}"), status)
        }),
    )
}

fn rows(page: &str) -> usize {
    page.matches("<tr><td>").count()
}

#[test]
fn five_thousand_jobs_are_paginated_filtered_and_sorted_on_the_server() {
    let config = config();
    let board = five_thousand(&config);
    let first = source(&board, &config, "");
    assert_eq!(rows(&first), PAGE_SIZE);
    assert!(first.contains("page 1 of 10"), "{first}");
    assert!(first.contains("href=\"/ui/sources/apps?page=2\""));
    let last = source(&board, &config, "page=10");
    assert_eq!(rows(&last), PAGE_SIZE);
    assert!(last.contains("job-4999"));
    let blocked = source(&board, &config, "state=blocked&sort=-job");
    assert_eq!(rows(&blocked), 50);
    let first_row = blocked.find("job-4900").expect("the last blocked job");
    let last_row = blocked.find("job-0000").expect("the first blocked job");
    assert!(first_row < last_row, "descending by job");
}

#[test]
fn the_overview_names_a_small_source_s_jobs_and_counts_a_large_one_s() {
    let config = config();
    let small = board(
        &config,
        ["api", "web"].map(|id| (id.to_owned(), Status::Synced)),
    );
    let page = overview(&small, &config);
    for id in ["api", "web"] {
        assert!(page.contains(&format!(">{id}</a>")), "{id} named: {page}");
    }
    let large = overview(&five_thousand(&config), &config);
    assert!(large.contains(">job-0049</a>"), "the first 50 named");
    assert!(!large.contains(">job-0050</a>"), "not the 51st");
    assert!(
        large.contains("href=\"/ui/sources/apps\">4950 more</a>"),
        "the rest counted, with a link to the source's page"
    );
}

/// Cluster objects: counted on the overview, listed on the source's page, a problem at the top
/// of the overview, every name escaped.
#[test]
fn cluster_objects_are_counted_listed_and_their_problems_come_first() {
    let config = config();
    let board = Board::new();
    board.add_source(&config.sources[0]);
    let mut report = PassReport::new("apps");
    let object = |what: &str, status, detail: &str| {
        ObjectReport::new(what, "cluster/x.hcl", status, detail.to_owned())
    };
    report.objects = vec![
        object("namespace prod", Status::Unchanged, ""),
        object("ACL policy ops", Status::Synced, "updated"),
        object(
            &format!("variable default/{SCRIPT_NAME}"),
            Status::Blocked,
            "changed in Nomad between drover's read and its write; not overwritten",
        ),
    ];
    board.pass_finished(&report, &SourceState::default(), Duration::from_millis(80));
    let overview = overview(&board, &config);
    let attention = &overview[overview.find("Needs attention").expect("a problem")..];
    assert!(
        attention.contains("blocked</span> variable default/&lt;script&gt;"),
        "{overview}"
    );
    assert!(
        overview.contains(">2 synced</span>"),
        "unchanged counts as in step: {overview}"
    );
    assert!(overview.contains(">1 blocked</span>"), "{overview}");
    let page = source(&board, &config, "");
    let objects = &page[page.find("Cluster objects").expect("the list")..];
    for name in [
        "namespace prod",
        "ACL policy ops",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
    ] {
        assert!(objects.contains(name), "{name}: {objects}");
    }
    assert!(!page.contains(SCRIPT_NAME), "escaped");
}

/// The figure the pages are held to: a 5,000-job source renders well under 300 ms. Prints, never
/// asserts on time: `cargo test --lib web::tests::render_time -- --ignored --nocapture`.
#[test]
#[ignore]
fn render_time_of_five_thousand_jobs() {
    let config = config();
    let board = five_thousand(&config);
    for (what, query, page_size) in [
        ("one page", "", PAGE_SIZE),
        ("filtered", "state=blocked", 50),
    ] {
        let started = Instant::now();
        let runs = 20;
        for _ in 0..runs {
            assert_eq!(rows(&source(&board, &config, query)), page_size);
        }
        println!(
            "source page of 5,000 jobs, {what}: {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0 / f64::from(runs)
        );
    }
    let started = Instant::now();
    let overview = overview(&board, &config);
    println!(
        "overview with 5,000 jobs: {:.1} ms, {} KiB",
        started.elapsed().as_secs_f64() * 1000.0,
        overview.len() / 1024
    );
}

#[test]
fn the_token_is_asked_as_a_bearer_or_a_basic_auth_password() {
    let with = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    };
    assert!(authorized(&with("Bearer s3cret"), "s3cret"));
    // `anyone:s3cret`
    assert!(authorized(&with("Basic YW55b25lOnMzY3JldA=="), "s3cret"));
    assert!(!authorized(&with("Bearer s3cre"), "s3cret"));
    assert!(!authorized(&with("Basic YW55b25lOnMzY3Jl"), "s3cret"));
    assert!(!authorized(&with("Token s3cret"), "s3cret"));
    assert!(!authorized(&HeaderMap::new(), "s3cret"));
}
