//! A repository, a simulator, a config and a state directory, wired as the daemon wires them:
//! a whole pass as `drover sync --once` makes it, for the tests that check one.

use std::path::Path;

use drover::config::{Config, Env};
use drover::source::Mirror;
use drover::state::{State, Store};
use drover::sync::{self, Context, Options, PassReport};
use nomad_sim::Sim;

use super::repo::Repo;

/// A repository, a simulator, a config and a state directory, wired as the daemon wires them.
/// The source is named `apps` and its job files are `jobs/*.nomad.hcl`.
pub struct World {
    pub repo: Repo,
    pub sim: Sim,
    pub state_dir: tempfile::TempDir,
    pub extra: String,
    pub drift_interval: &'static str,
    /// Lines added to `[nomad]`, e.g. a `token_file`.
    pub nomad_extra: String,
}

impl World {
    /// A world whose simulator runs without ACLs; `extra` is added to the source's table.
    pub async fn new(extra: &str) -> Self {
        let sim = Sim::builder()
            .time_scale(1000.0)
            .start()
            .await
            .expect("sim");
        Self::on(sim, extra)
    }

    /// A world on `sim`.
    pub fn on(sim: Sim, extra: &str) -> Self {
        Self {
            repo: Repo::new(),
            sim,
            state_dir: tempfile::tempdir().expect("tempdir"),
            extra: extra.to_owned(),
            drift_interval: "1h",
            nomad_extra: String::new(),
        }
    }

    /// A world whose simulator runs with ACLs, drover holding the management token in a file.
    pub async fn with_acls(extra: &str) -> Self {
        let secret = "5b7bfe0e-0000-4000-8000-000000000001";
        let sim = Sim::builder()
            .time_scale(1000.0)
            .acl_bootstrap_token(secret)
            .start()
            .await
            .expect("sim");
        let mut world = Self::on(sim, extra);
        let token = world.state_dir.path().join("nomad-token");
        std::fs::write(&token, secret).expect("token file");
        world.nomad_extra = format!("token_file = \"{}\"\n", token.display());
        world
    }

    pub fn config(&self) -> Config {
        let text = format!(
            "[nomad]\naddress = \"{}\"\nretry_min_delay = \"10ms\"\nretry_max_delay = \"50ms\"\n{}\
             [state]\ndir = \"{}\"\n[sync]\ndrift_interval = \"{}\"\n\
             [[source]]\nname = \"apps\"\nurl = \"{}\"\npaths = [\"jobs/*.nomad.hcl\"]\n{}",
            self.sim.url(),
            self.nomad_extra,
            self.state_dir.path().display(),
            self.drift_interval,
            self.repo.path().display(),
            self.extra
        );
        Config::parse(&text, Path::new("drover.toml"), &Env::default()).expect("config")
    }

    pub async fn pass(&self, options: Options) -> PassReport {
        pass_with(&self.config(), options).await
    }

    pub fn state(&self) -> State {
        Store::new(self.state_dir.path())
            .load()
            .expect("state")
            .state
    }

    /// The configuration as a file, for the `drover` binary.
    pub fn config_file(&self) -> std::path::PathBuf {
        let path = self.state_dir.path().join("drover.toml");
        let text = format!(
            "[nomad]\naddress = \"{}\"\n{}[state]\ndir = \"{}\"\n[[source]]\nname = \"apps\"\nurl = \"{}\"\npaths = [\"jobs/*.nomad.hcl\"]\n{}",
            self.sim.url(),
            self.nomad_extra,
            self.state_dir.path().display(),
            self.repo.path().display(),
            self.extra
        );
        std::fs::write(&path, text).expect("config");
        path
    }

    /// Runs the `drover` binary with `args` and this world's configuration.
    pub async fn drover(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_drover"));
        command.args(args).arg("--config").arg(self.config_file());
        let output = tokio::task::spawn_blocking(move || command.output().expect("drover runs"))
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), text)
    }

    /// Requests since the last call, as `METHOD path` lines.
    pub fn calls(&self) -> Vec<String> {
        let calls = self
            .sim
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        self.sim.clear_requests();
        calls
    }
}

/// A pass over the first source of `config`, with the state in its state directory.
pub async fn pass_with(config: &Config, options: Options) -> PassReport {
    let store = Store::new(&config.state.dir);
    let state = store.load().expect("state").state;
    let ctx = Context::new(state, store, &config.sync);
    let source = &config.sources[0];
    let mirror = Mirror::open(source, &config.state.dir).expect("mirror");
    sync::pass(source, &mirror, &ctx, options).await
}

/// A one-group service job `id` running `image`, rolled out one allocation at a time.
pub fn job_file(id: &str, image: &str) -> String {
    format!(
        r#"# {id}
job "{id}" {{
  datacenters = ["dc1"]
  group "app" {{
    count = 1
    update {{
      max_parallel     = 1
      min_healthy_time = "1s"
    }}
    task "app" {{
      driver = "docker"
      config {{
        image = "{image}"
      }}
    }}
  }}
}}
"#
    )
}
