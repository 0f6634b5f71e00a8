//! `drover demo`: the whole agent on the bundled example, on any machine with Rust and `git`.
//! It copies `jobs-example/` into a new Git repository, starts the Nomad simulator in-process
//! (like `nomad agent -dev`) unless a real Nomad is named, and runs the daemon with the
//! example's own `drover.toml` pointed at that repository, until Ctrl-C.
//!
//! Owns the scaffolding only (the repository, the simulator, the configuration's addresses);
//! everything after is `drover run`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

use crate::config::{Config, Env};

/// The built-in simulator runs deployments this many times faster than real time, so that a
/// 10 s `min_healthy_time` takes half a second.
const SIM_TIME_SCALE: f64 = 20.0;

/// What `drover demo` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// The example: job files and a `drover.toml`.
    pub example: PathBuf,
    /// A real Nomad to sync into instead of the built-in simulator.
    pub nomad_addr: Option<String>,
    /// Where the daemon's HTTP endpoint listens.
    pub listen: SocketAddr,
}

pub fn run(options: &Options) -> anyhow::Result<ExitCode> {
    let work = tempfile::Builder::new()
        .prefix("drover-demo-")
        .tempdir()
        .context("cannot create a work directory")?;
    let repo = work.path().join("jobs");
    copy_dir(&options.example, &repo).with_context(|| {
        format!(
            "cannot copy {}; run drover demo from drover's repository or pass --example",
            options.example.display()
        )
    })?;
    git_repository(&repo)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(demo(options, work.path(), &repo))
}

async fn demo(options: &Options, work: &Path, repo: &Path) -> anyhow::Result<ExitCode> {
    let (simulator, address) = match &options.nomad_addr {
        Some(addr) => (None, addr.clone()),
        None => {
            let sim = start_simulator().await?;
            let url = sim_url(&sim);
            (Some(sim), url)
        }
    };
    let config_path = work.join("drover.toml");
    let text = demo_config(
        &repo.join("drover.toml"),
        &address,
        work,
        repo,
        options.listen,
    )?;
    std::fs::write(&config_path, text)?;
    let config = Config::load_with(&config_path, &Env::default())?;
    if let Some(sim) = &simulator {
        create_namespaces(sim, &config);
    }
    let target = if simulator.is_some() {
        format!("the built-in Nomad simulator at {address}")
    } else {
        format!("Nomad at {address}")
    };
    println!(
        "drover demo: syncing {} source(s) from a Git copy of {} into {target}",
        config.sources.len(),
        options.example.display()
    );
    println!(
        "  jobs repository: {}  (commit a change there and watch it deploy)",
        repo.display()
    );
    println!(
        "  status:  http://{}/status   (or: drover status --addr http://{})",
        options.listen, options.listen
    );
    println!("  metrics: http://{}/metrics", options.listen);
    println!("  Ctrl-C to stop.");
    let code = crate::daemon::serve_config(config_path, config).await;
    drop(simulator);
    code
}

/// The example's configuration with the demo's Nomad, state directory, listen address and
/// repository; everything else as the example has it.
fn demo_config(
    example: &Path,
    nomad: &str,
    work: &Path,
    repo: &Path,
    listen: SocketAddr,
) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(example)
        .with_context(|| format!("cannot read {}", example.display()))?;
    let mut table: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", example.display()))?;
    let section = |t: &mut toml::Table, name: &str| -> toml::Table {
        t.remove(name)
            .and_then(|v| v.as_table().cloned())
            .unwrap_or_default()
    };
    let mut nomad_table = section(&mut table, "nomad");
    nomad_table.insert("address".into(), nomad.into());
    table.insert("nomad".into(), nomad_table.into());
    let mut state = section(&mut table, "state");
    state.insert(
        "dir".into(),
        work.join("state").display().to_string().into(),
    );
    table.insert("state".into(), state.into());
    let mut server = section(&mut table, "server");
    server.insert("listen".into(), listen.to_string().into());
    table.insert("server".into(), server.into());
    if let Some(sources) = table.get_mut("source").and_then(toml::Value::as_array_mut) {
        for source in sources.iter_mut().filter_map(toml::Value::as_table_mut) {
            source.insert("url".into(), repo.display().to_string().into());
        }
    }
    Ok(toml::to_string(&table)?)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Makes `dir` a Git repository with one commit, using the `git` program.
fn git_repository(dir: &Path) -> anyhow::Result<()> {
    let steps: [&[&str]; 3] = [
        &["init", "-q", "-b", "main"],
        &["add", "-A"],
        &[
            "-c",
            "user.name=drover demo",
            "-c",
            "user.email=demo@drover.invalid",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "-m",
            "the example jobs",
        ],
    ];
    for args in steps {
        let output = Command::new("git").current_dir(dir).args(args).output();
        match output {
            Err(e) => bail!("drover demo needs the git program to make its jobs repository: {e}"),
            Ok(o) if !o.status.success() => bail!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Ok(_) => {}
        }
    }
    Ok(())
}

#[cfg(feature = "demo")]
type Simulator = nomad_sim::Sim;

#[cfg(feature = "demo")]
async fn start_simulator() -> anyhow::Result<Simulator> {
    Ok(nomad_sim::Sim::builder()
        .time_scale(SIM_TIME_SCALE)
        .start()
        .await?)
}

#[cfg(feature = "demo")]
fn sim_url(sim: &Simulator) -> String {
    sim.url()
}

/// The simulator starts with only `default`, as a new Nomad does; the example's sources name
/// their own namespaces.
#[cfg(feature = "demo")]
fn create_namespaces(sim: &Simulator, config: &Config) {
    for ns in config.sources.iter().filter_map(|s| s.namespace.as_deref()) {
        sim.create_namespace(ns);
    }
}

#[cfg(not(feature = "demo"))]
enum Simulator {}

#[cfg(not(feature = "demo"))]
async fn start_simulator() -> anyhow::Result<Simulator> {
    let _ = SIM_TIME_SCALE;
    bail!("this drover was built without the `demo` feature: name a Nomad with --nomad-addr")
}

#[cfg(not(feature = "demo"))]
fn sim_url(sim: &Simulator) -> String {
    match *sim {}
}

#[cfg(not(feature = "demo"))]
fn create_namespaces(sim: &Simulator, _: &Config) {
    match *sim {}
}
