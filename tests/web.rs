//! drover's web pages as a person sees them: `drover demo` runs, headless Chromium loads the
//! pages, and the tests read the rendered text, the requests the pages made and the dialogs any
//! script opened. The screenshots land in `target/web-screenshots/`.
//!
//! Needs Chromium (`apt install chromium`, or `DROVER_CHROMIUM=/path/to/chrome`).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::browser::{Browser, Page};

/// Long enough for a loaded machine; the pages refresh every 3 s.
const WITHIN: Duration = Duration::from_secs(90);

/// `drover demo` on the bundled example, stopped when dropped.
struct Demo {
    child: Child,
    port: u16,
    /// The demo's own jobs repository, where a test commits as a person would.
    repo: PathBuf,
}

impl Demo {
    fn start() -> Self {
        let port = common::local::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("NOMAD_ADDR")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("drover demo starts");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, said) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let repo = loop {
            let line = said
                .recv_timeout(WITHIN)
                .expect("the demo names its jobs repository");
            if let Some(rest) = line.trim().strip_prefix("jobs repository: ") {
                let path = rest.split("  (").next().unwrap_or(rest);
                break PathBuf::from(path.trim());
            }
        };
        let demo = Self { child, port, repo };
        demo.wait_synced(7);
        demo
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until `/status` has at least `count` jobs synced.
    fn wait_synced(&self, count: usize) {
        let deadline = Instant::now() + WITHIN;
        while Instant::now() < deadline {
            let synced = common::local::get_json(&self.url("/status"))
                .map(|doc| {
                    doc["sources"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|s| s["jobs"].as_array().cloned().unwrap_or_default())
                        .filter(|j| j["state"] == "synced")
                        .count()
                })
                .unwrap_or(0);
            if synced >= count {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the demo did not sync {count} jobs within {WITHIN:?}");
    }

    /// Writes `file` in the demo's repository and commits it, as a person would.
    fn commit(&self, file: &str, text: &str, message: &str) {
        std::fs::write(self.repo.join(file), text).expect("write the job file");
        for args in [
            &["add", "-A"][..],
            &[
                "-c",
                "user.name=A Person",
                "-c",
                "user.email=person@example.com",
                "-c",
                "commit.gpgsign=false",
                "commit",
                "-q",
                "-m",
                message,
            ],
        ] {
            let status = Command::new("git")
                .args(args)
                .current_dir(&self.repo)
                .status()
                .expect("git");
            assert!(status.success(), "git {args:?}");
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Every job of the example as its page's address, `/ui/jobs/<namespace>/<job>`, read from the
/// files: each source of the example takes `jobs/<namespace>/` into that namespace.
fn example_job_pages() -> BTreeSet<String> {
    let jobs = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs-example/jobs");
    let mut pages = BTreeSet::new();
    for namespace in std::fs::read_dir(&jobs).expect("jobs-example/jobs") {
        let namespace = namespace.expect("entry").path();
        for file in std::fs::read_dir(&namespace).expect("a namespace's jobs") {
            let text = std::fs::read_to_string(file.expect("entry").path()).expect("job file");
            let job = text
                .lines()
                .find_map(|l| l.strip_prefix("job \""))
                .and_then(|rest| rest.split('"').next())
                .expect("a job block");
            let namespace = namespace.file_name().unwrap().to_string_lossy();
            pages.insert(format!("/ui/jobs/{namespace}/{job}"));
        }
    }
    pages
}

/// Every request the page made went to drover itself.
fn assert_only_drover(page: &Page<'_>, demo: &Demo) {
    let base = demo.url("/");
    let outside: Vec<&String> = page
        .seen
        .requests
        .iter()
        .filter(|url| !url.starts_with(&base))
        .collect();
    assert!(outside.is_empty(), "requests outside drover: {outside:?}");
    assert!(
        page.seen.requests.iter().any(|u| u.ends_with("/ui/app.js")),
        "the page loaded its script: {:?}",
        page.seen.requests
    );
}

fn strings(value: serde_json::Value) -> Vec<String> {
    serde_json::from_value(value).expect("a list of strings")
}

#[test]
fn the_overview_lists_both_sources_and_every_example_job() {
    let demo = Demo::start();
    let mut browser = Browser::start();
    let mut page = browser.page();
    page.open(&demo.url("/"));
    let text = page.text();
    for source in ["staging", "prod"] {
        assert!(
            text.lines().any(|l| l.starts_with(source)),
            "source {source} on the overview: {text}"
        );
    }
    let linked: BTreeSet<String> = strings(
        page.eval("[...document.querySelectorAll('ul.jobs a')].map(a => a.getAttribute('href'))"),
    )
    .into_iter()
    .collect();
    assert_eq!(linked, example_job_pages(), "every example job, once");
    let states = strings(
        page.eval("[...document.querySelectorAll('ul.jobs li .badge')].map(b => b.textContent)"),
    );
    assert!(
        states.len() == 7 && states.iter().all(|s| s == "synced"),
        "each job's state in words: {states:?}"
    );
    page.screenshot("overview");

    page.open(&demo.url("/ui/sources/prod"));
    let text = page.text();
    for job in ["api", "cleanup", "migrate", "web"] {
        assert!(text.contains(job), "prod's table has {job}: {text}");
    }
    // The cluster objects the example's prod source applies before its jobs, each in step.
    let objects: BTreeSet<String> = strings(page.eval(
        "[...document.querySelectorAll('table.objects tbody tr')]\
         .map(r => r.cells[0].textContent + ' ' + r.cells[2].textContent)",
    ))
    .into_iter()
    .collect();
    let expected: BTreeSet<String> = [
        "namespace prod",
        "node pool batch",
        "ACL policy operators-read",
        "ACL role operators",
        "variable prod/nomad/jobs/web",
        "variable prod/nomad/jobs/api",
    ]
    .into_iter()
    .map(|o| format!("{o} synced"))
    .collect();
    assert_eq!(objects, expected, "{text}");
    page.screenshot("source-prod");

    page.open(&demo.url("/ui/jobs/prod/api"));
    let text = page.text();
    assert!(text.contains("Job api"), "{text}");
    assert!(text.contains("successful"), "its deployment: {text}");
    page.screenshot("job-prod-api");
    assert_only_drover(&page, &demo);
    assert!(page.seen.dialogs.is_empty(), "{:?}", page.seen.dialogs);
}

/// The page open on a job follows a deployment drover starts after a commit: the new deployment
/// appears and ends successful, its bars full, and the plan's changed line shows, with no
/// reload.
#[test]
fn a_committed_change_deploys_on_the_open_page_without_a_reload() {
    let demo = Demo::start();
    let mut browser = Browser::start();
    let mut page = browser.page();
    page.open(&demo.url("/ui/jobs/staging/web"));
    let before = strings(page.eval(
        "[...document.querySelectorAll('[data-deployment]')].map(d => d.dataset.deployment)",
    ));
    assert!(!before.is_empty(), "the first deployment: {}", page.text());
    let loads = page.seen.loads;

    let file = "jobs/staging/web.nomad.hcl";
    let text = std::fs::read_to_string(demo.repo.join(file)).expect("web job");
    let changed = text.replace("owner = \"platform\"", "owner = \"web-team\"");
    assert_ne!(
        text, changed,
        "the example's web job has an owner to change"
    );
    demo.commit(file, &changed, "web: owned by the web team");

    let new_and_successful = format!(
        "[...document.querySelectorAll('[data-deployment]')].some(d => \
           !{before:?}.includes(d.dataset.deployment) \
           && d.querySelector('.badge').textContent === 'successful' \
           && [...d.querySelectorAll('progress')].every(p => p.max > 0 && p.value === p.max))",
        before = serde_json::to_string(&before).unwrap()
    );
    if let Err(text) = page.wait_for(&new_and_successful, WITHIN) {
        panic!("no new successful deployment on the page within {WITHIN:?}: {text}");
    }
    assert_eq!(page.seen.loads, loads, "the page was not reloaded");
    let marked = strings(page.eval(
        "[...document.querySelectorAll('pre.plan .diff-edit')].map(l => l.textContent.trim())",
    ));
    assert!(
        marked
            .iter()
            .any(|l| l.contains("owner") && l.contains("\"web-team\"")),
        "the plan's changed line, marked: {marked:?}"
    );
    let refreshes = page
        .seen
        .requests
        .iter()
        .filter(|u| u.ends_with("/ui/jobs/staging/web"))
        .count();
    assert!(refreshes > 1, "the script fetched the page again");
    page.screenshot("job-staging-web-deployed");
    assert_only_drover(&page, &demo);
}

/// A job named with HTML shows as text on every page, and no script of its name runs.
#[test]
fn a_job_named_with_html_renders_as_text() {
    let name = "<script>alert(1)</script>";
    let demo = Demo::start();
    let migrate = std::fs::read_to_string(demo.repo.join("jobs/staging/migrate.nomad.hcl"))
        .expect("migrate job");
    let markup = migrate.replace("job \"migrate\"", &format!("job {name:?}"));
    demo.commit(
        "jobs/staging/markup.nomad.hcl",
        &markup,
        "a job named with HTML",
    );
    demo.wait_synced(8);

    let mut browser = Browser::start();
    let mut page = browser.page();
    page.open(&demo.url("/"));
    assert!(page.text().contains(name), "{}", page.text());
    let href = page
        .eval(&format!(
            "[...document.querySelectorAll('ul.jobs a')].find(a => a.textContent === {name:?})\
             .getAttribute('href')"
        ))
        .as_str()
        .expect("a link to its page")
        .to_owned();
    page.open(&demo.url(&href));
    let text = page.text();
    assert!(text.contains(&format!("Job {name}")), "{text}");
    page.screenshot("job-named-with-html");
    let scripts = strings(
        page.eval("[...document.querySelectorAll('script')].map(s => s.getAttribute('src'))"),
    );
    assert_eq!(scripts, ["/ui/app.js"], "no script but drover's own");
    assert!(page.seen.dialogs.is_empty(), "{:?}", page.seen.dialogs);
    assert_only_drover(&page, &demo);
}
