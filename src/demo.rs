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
    let (simulator, address, token_file) = match &options.nomad_addr {
        Some(addr) => (None, addr.clone(), None),
        None => {
            // The simulator runs with ACLs, as a production cluster does, so that the example's
            // ACL policy and role apply; drover gets its management token from a file.
            let token = crate::leader::uuid_v4();
            let token_file = work.join("nomad-token");
            write_secret(&token_file, &token)?;
            let sim = start_simulator(&token).await?;
            let url = sim_url(&sim);
            (Some(sim), url, Some(token_file))
        }
    };
    let config_path = work.join("drover.toml");
    let text = demo_config(
        &repo.join("drover.toml"),
        &Demo {
            nomad: &address,
            token_file: token_file.as_deref(),
            work,
            repo,
            listen: options.listen,
        },
    )?;
    std::fs::write(&config_path, text)?;
    let config = Config::load_with(&config_path, &Env::default())?;
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

/// Where the demo runs.
struct Demo<'a> {
    nomad: &'a str,
    token_file: Option<&'a Path>,
    work: &'a Path,
    repo: &'a Path,
    listen: SocketAddr,
}

/// Writes a secret readable by its owner alone.
fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    Ok(())
}

/// The example's configuration with the demo's Nomad (and its token), state directory,
/// listen address and repository; everything else as the example has it.
fn demo_config(example: &Path, demo: &Demo<'_>) -> anyhow::Result<String> {
    let Demo {
        nomad,
        token_file,
        work,
        repo,
        listen,
    } = *demo;
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
    if let Some(file) = token_file {
        nomad_table.insert("token_file".into(), file.display().to_string().into());
    }
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
            // The example's demo age key lives in the repository, beside the example's config.
            if let Some(file) = source
                .get("age_identity_file")
                .and_then(toml::Value::as_str)
            {
                let file = repo.join(file).display().to_string();
                source.insert("age_identity_file".into(), file.into());
            }
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
async fn start_simulator(token: &str) -> anyhow::Result<Simulator> {
    Ok(nomad_sim::Sim::builder()
        .time_scale(SIM_TIME_SCALE)
        .acl_bootstrap_token(token)
        .start()
        .await?)
}

#[cfg(feature = "demo")]
fn sim_url(sim: &Simulator) -> String {
    sim.url()
}

#[cfg(not(feature = "demo"))]
enum Simulator {}

#[cfg(not(feature = "demo"))]
async fn start_simulator(_: &str) -> anyhow::Result<Simulator> {
    let _ = SIM_TIME_SCALE;
    bail!("this drover was built without the `demo` feature: name a Nomad with --nomad-addr")
}

#[cfg(not(feature = "demo"))]
fn sim_url(sim: &Simulator) -> String {
    match *sim {}
}
