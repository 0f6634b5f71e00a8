//! `[source.verify]` end to end: commits and tags signed by `ssh-keygen` keys and by `gpg`,
//! fetched from a real repository and deployed (or not) to the simulator. Every verdict is
//! checked against `git verify-commit` / `git verify-tag` with the same keys.

mod git;

use std::path::{Path, PathBuf};
use std::process::Command;

use drover::config::{Config, Env};
use drover::events::EventKind;
use drover::source::Mirror;
use drover::state::Store;
use drover::sync::{self, Context, Options, PassReport};
use git::repo::Repo;
use nomad_sim::Sim;

fn job_file(image: &str) -> String {
    format!(
        "job \"web\" {{\n  datacenters = [\"dc1\"]\n  group \"app\" {{\n    task \"app\" {{\n      driver = \"docker\"\n      config {{\n        image = \"{image}\"\n      }}\n    }}\n  }}\n}}\n"
    )
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    // A script just written may be held open by a fork of another test's thread for a moment
    // (ETXTBSY): try again shortly.
    let mut tries = 0;
    let out = loop {
        match Command::new(program).args(args).output() {
            Err(e) if e.raw_os_error() == Some(26) && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => break result.unwrap_or_else(|e| panic!("{program}: {e}")),
        }
    };
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A repository, its keys, a simulator and a state directory.
struct World {
    repo: Repo,
    sim: Sim,
    keys: tempfile::TempDir,
    state_dir: tempfile::TempDir,
    verify: String,
    revision: String,
}

impl World {
    async fn new(verify: &str) -> Self {
        let sim = Sim::builder()
            .time_scale(1000.0)
            .start()
            .await
            .expect("sim");
        Self {
            repo: Repo::new(),
            sim,
            keys: tempfile::tempdir().expect("tempdir"),
            state_dir: tempfile::tempdir().expect("tempdir"),
            verify: verify.to_owned(),
            revision: String::new(),
        }
    }

    fn key_path(&self, name: &str) -> PathBuf {
        self.keys.path().join(name)
    }

    /// An SSH key pair made by `ssh-keygen`: `ed25519` or `rsa`.
    fn ssh_key(&self, name: &str, kind: &str) -> PathBuf {
        let path = self.key_path(name);
        run(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                kind,
                "-N",
                "",
                "-C",
                name,
                "-f",
                &path.display().to_string(),
            ],
        );
        path
    }

    fn public(&self, key: &Path) -> String {
        std::fs::read_to_string(key.with_extension("pub"))
            .expect("public key")
            .trim()
            .to_owned()
    }

    fn allow(&self, lines: &[String]) {
        std::fs::write(self.key_path("allowed_signers"), lines.join("\n") + "\n").expect("write");
    }

    fn config(&self) -> Config {
        let text = format!(
            "[nomad]\naddress = \"{}\"\n[state]\ndir = \"{}\"\n\
             [[source]]\nname = \"apps\"\nurl = \"{}\"\npaths = [\"jobs/*.nomad.hcl\"]\n{}\
             [source.verify]\n{}",
            self.sim.url(),
            self.state_dir.path().display(),
            self.repo.path().display(),
            self.revision,
            self.verify,
        );
        Config::parse(
            &text,
            &self.keys.path().join("drover.toml"),
            &Env::default(),
        )
        .expect("config")
    }

    async fn pass(&self) -> PassReport {
        let config = self.config();
        let store = Store::new(&config.state.dir);
        let state = store.load().expect("state").state;
        let ctx = Context::new(state, store, &config.sync);
        let source = &config.sources[0];
        let mirror = Mirror::open(source, &config.state.dir).expect("mirror");
        sync::pass(source, &mirror, &ctx, Options::default()).await
    }

    /// Commits the job with `image`, signed by the SSH `key` (unsigned without one).
    fn commit_ssh(&self, image: &str, key: Option<&Path>) -> String {
        self.repo.write("jobs/web.nomad.hcl", &job_file(image));
        self.repo.git(&["add", "-A"]);
        match key {
            Some(key) => {
                let signing = format!("user.signingkey={}", key.display());
                self.repo.git(&[
                    "-c",
                    "gpg.format=ssh",
                    "-c",
                    &signing,
                    "commit",
                    "-q",
                    "-S",
                    "-m",
                    image,
                ]);
            }
            None => {
                self.repo.git(&["commit", "-q", "-m", image]);
            }
        }
        self.repo.head()
    }

    /// What `git verify-commit` says of `commit` with the same allowed signers.
    fn git_verifies_ssh(&self, commit: &str) -> bool {
        self.git_verifies_with_signers("verify-commit", commit)
    }

    /// What `git <verb> <object>` says with the same allowed signers.
    fn git_verifies_with_signers(&self, verb: &str, object: &str) -> bool {
        let allowed = format!(
            "gpg.ssh.allowedSignersFile={}",
            self.key_path("allowed_signers").display()
        );
        Command::new("git")
            .current_dir(self.repo.path())
            .args(["-c", &allowed, verb, object])
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .expect("git")
            .success()
    }

    fn live_image(&self) -> Option<String> {
        let job = self.sim.job("default", "web")?;
        job["TaskGroups"][0]["Tasks"][0]["Config"]["image"]
            .as_str()
            .map(str::to_owned)
    }

    fn live_signer(&self) -> Option<String> {
        let job = self.sim.job("default", "web")?;
        job["Meta"]["drover.signer"].as_str().map(str::to_owned)
    }

    /// The pass deployed `image`, signed by `signer`.
    async fn deploys(&self, image: &str, signer: &str) {
        let report = self.pass().await;
        assert!(report.error.is_none(), "{:?}", report.error);
        assert_eq!(report.signer.as_deref(), Some(signer));
        assert_eq!(self.live_image().as_deref(), Some(image));
        assert_eq!(self.live_signer().as_deref(), Some(signer));
        let state = Store::new(self.state_dir.path())
            .load()
            .expect("state")
            .state;
        let last = state.history.last("default", "web").expect("web's events");
        assert_eq!(last.kind, EventKind::Succeeded, "{last:?}");
        assert_eq!(
            last.signer.as_deref(),
            Some(signer),
            "the deployment's end names the signer"
        );
    }

    /// The pass refused the head for `reason`, and `image` still runs.
    async fn refuses(&self, reason: &str, image: &str) -> PassReport {
        let report = self.pass().await;
        let refusal = report
            .refused
            .as_ref()
            .unwrap_or_else(|| panic!("not refused: {report:?}"));
        assert_eq!(refusal.reason(), reason, "{refusal}");
        assert!(
            report
                .error
                .as_deref()
                .is_some_and(|e| e.contains("keeping what runs"))
        );
        assert!(report.jobs.is_empty());
        assert_eq!(self.live_image().as_deref(), Some(image));
        report
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_signed_commits_deploy_and_every_bad_one_is_refused_with_its_reason() {
    let mut world =
        World::new("mode = \"head\"\nallowed_signers_file = \"allowed_signers\"\n").await;
    world.revision.clear();
    let alice = world.ssh_key("alice", "ed25519");
    let bob = world.ssh_key("bob", "rsa");
    let mallory = world.ssh_key("mallory", "ed25519");
    world.allow(&[
        format!(
            "alice@example.com namespaces=\"git\" {}",
            world.public(&alice)
        ),
        format!("bob@example.com {}", world.public(&bob)),
    ]);

    // A good ed25519 signature deploys, and so does a good RSA one.
    let first = world.commit_ssh("web:1", Some(&alice));
    assert!(world.git_verifies_ssh(&first));
    world.deploys("web:1", "alice@example.com").await;
    let second = world.commit_ssh("web:2", Some(&bob));
    assert!(world.git_verifies_ssh(&second));
    world.deploys("web:2", "bob@example.com").await;

    // Unsigned: refused, web:2 keeps running, and the next pass refuses it again.
    let unsigned = world.commit_ssh("web:3", None);
    assert!(!world.git_verifies_ssh(&unsigned));
    world.refuses("unsigned", "web:2").await;
    world.refuses("unsigned", "web:2").await;

    // A key not in the file.
    let stranger = world.commit_ssh("web:4", Some(&mallory));
    assert!(!world.git_verifies_ssh(&stranger));
    world.refuses("unknown_key", "web:2").await;

    // The content changed after signing: the old signature on a new payload.
    let signed = world.commit_ssh("web:5", Some(&alice));
    let object = world.repo.git(&["cat-file", "commit", &signed]);
    let forged = object.replacen("\n\nweb:5", "\n\nweb:5 (approved by nobody)", 1);
    let file = world.key_path("forged");
    std::fs::write(&file, format!("{forged}\n")).expect("write");
    let id = world.repo.git(&[
        "hash-object",
        "-w",
        "-t",
        "commit",
        &file.display().to_string(),
    ]);
    world.repo.git(&["update-ref", "refs/heads/main", &id]);
    assert!(!world.git_verifies_ssh(&id));
    world.refuses("bad_signature", "web:2").await;

    // A signer outside its valid-before: allowed once, not at the commit's time.
    world.allow(&[
        format!(
            "alice@example.com valid-before=\"20200101Z\" {}",
            world.public(&alice)
        ),
        format!("bob@example.com {}", world.public(&bob)),
    ]);
    let late = world.commit_ssh("web:6", Some(&alice));
    assert!(!world.git_verifies_ssh(&late));
    world.refuses("not_allowed_at", "web:2").await;

    // The next good commit deploys.
    let good = world.commit_ssh("web:7", Some(&bob));
    assert!(world.git_verifies_ssh(&good));
    world.deploys("web:7", "bob@example.com").await;
}

impl World {
    /// A `gpg` in its own home (a wrapper script, so that `git` uses it too), optionally
    /// with a faked clock for keys made in the past.
    fn gpg(&self, home: &str, faked: Option<&str>) -> PathBuf {
        let home = self.key_path(home);
        std::fs::create_dir_all(&home).expect("mkdir");
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod");
        let name = if faked.is_some() { "past" } else { "now" };
        let script = self.key_path(&format!("gpg-{}-{name}", home.display()).replace('/', "_"));
        let clock = faked
            .map(|t| format!("--faked-system-time {t} "))
            .unwrap_or_default();
        std::fs::write(&script, format!("#!/bin/sh\nexec gpg --homedir {} --batch --pinentry-mode loopback --passphrase '' {clock}\"$@\"\n", home.display())).expect("write");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        script
    }

    fn gpg_run(gpg: &Path, args: &[&str]) -> String {
        String::from_utf8(run(&gpg.display().to_string(), args).stdout).expect("utf-8")
    }

    /// The fingerprint of the key with `uid`.
    fn fingerprint(gpg: &Path, uid: &str) -> String {
        let listing = Self::gpg_run(gpg, &["--with-colons", "--list-keys", uid]);
        listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint")
            .to_owned()
    }

    fn commit_gpg(&self, image: &str, gpg: &Path, key: &str) -> String {
        self.repo.write("jobs/web.nomad.hcl", &job_file(image));
        self.repo.git(&["add", "-A"]);
        let program = format!("gpg.program={}", gpg.display());
        let signing = format!("user.signingkey={key}");
        self.repo.git(&[
            "-c", &program, "-c", &signing, "commit", "-q", "-S", "-m", image,
        ]);
        self.repo.head()
    }

    fn git_verifies_gpg(&self, commit: &str, gpg: &Path) -> bool {
        let program = format!("gpg.program={}", gpg.display());
        Command::new("git")
            .current_dir(self.repo.path())
            .args(["-c", &program, "verify-commit", commit])
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .expect("git")
            .success()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openpgp_signed_commits_deploy_by_key_or_subkey_and_an_expired_key_is_refused() {
    let world = World::new("mode = \"head\"\nopenpgp_keys_file = \"keys.asc\"\n").await;
    let gpg = world.gpg("signers", None);
    let past = world.gpg("signers", Some("20200101T000000"));
    // What git verifies with: a keyring holding only the keys of the file.
    let allowed = world.gpg("allowed", None);
    World::gpg_run(
        &gpg,
        &[
            "--quick-gen-key",
            "Ed <ed@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    World::gpg_run(
        &gpg,
        &[
            "--quick-gen-key",
            "Rsa <rsa@example.com>",
            "rsa3072",
            "cert",
            "never",
        ],
    );
    let rsa = World::fingerprint(&gpg, "rsa@example.com");
    // The RSA key signs only through a subkey.
    World::gpg_run(&gpg, &["--quick-add-key", &rsa, "rsa3072", "sign", "never"]);
    World::gpg_run(
        &past,
        &[
            "--quick-gen-key",
            "Old <old@example.com>",
            "ed25519",
            "sign",
            "1d",
        ],
    );
    World::gpg_run(
        &gpg,
        &[
            "--quick-gen-key",
            "Eve <eve@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    let ed = World::fingerprint(&gpg, "ed@example.com");
    let old = World::fingerprint(&gpg, "old@example.com");
    let armored = World::gpg_run(&gpg, &["--armor", "--export", &ed, &rsa, &old]);
    std::fs::write(world.key_path("keys.asc"), armored).expect("write");
    World::gpg_run(
        &allowed,
        &[
            "--import",
            &world.key_path("keys.asc").display().to_string(),
        ],
    );

    let first = world.commit_gpg("web:1", &gpg, &ed);
    assert!(world.git_verifies_gpg(&first, &allowed));
    world.deploys("web:1", &ed).await;

    let by_subkey = world.commit_gpg("web:2", &gpg, &rsa);
    assert!(world.git_verifies_gpg(&by_subkey, &allowed));
    world.deploys("web:2", &rsa).await;

    // Signed while the key was valid (in 2020), expired since.
    let expired = world.commit_gpg("web:3", &past, &old);
    assert!(!world.git_verifies_gpg(&expired, &allowed));
    world.refuses("expired_key", "web:2").await;

    // A key gpg knows but the file does not.
    let eve = World::fingerprint(&gpg, "eve@example.com");
    let stranger = world.commit_gpg("web:4", &gpg, &eve);
    assert!(!world.git_verifies_gpg(&stranger, &allowed));
    world.refuses("unknown_key", "web:2").await;

    let good = world.commit_gpg("web:5", &gpg, &ed);
    assert!(world.git_verifies_gpg(&good, &allowed));
    world.deploys("web:5", &ed).await;
}

impl World {
    /// Moves the annotated tag `release` to HEAD, signed by the SSH `key` (unsigned without).
    fn tag_ssh(&self, key: Option<&Path>) {
        match key {
            Some(key) => {
                let signing = format!("user.signingkey={}", key.display());
                self.repo.git(&[
                    "-c",
                    "gpg.format=ssh",
                    "-c",
                    &signing,
                    "tag",
                    "-f",
                    "-s",
                    "release",
                    "-m",
                    "release",
                ]);
            }
            None => {
                self.repo
                    .git(&["tag", "-f", "-a", "release", "-m", "release"]);
            }
        }
    }

    /// What `git verify-tag` says of `release` with the same allowed signers.
    fn git_verifies_tag(&self) -> bool {
        self.git_verifies_with_signers("verify-tag", "release")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn in_tag_mode_the_tag_is_verified_whatever_signs_its_commit() {
    let mut world =
        World::new("mode = \"tag\"\nallowed_signers_file = \"allowed_signers\"\n").await;
    world.revision = "tag = \"release\"\n".to_owned();
    let alice = world.ssh_key("alice", "ed25519");
    let mallory = world.ssh_key("mallory", "ed25519");
    world.allow(&[format!("alice@example.com {}", world.public(&alice))]);

    // An unsigned commit under a tag alice signed: the tag is what is verified.
    world.commit_ssh("web:1", None);
    world.tag_ssh(Some(&alice));
    assert!(world.git_verifies_tag());
    world.deploys("web:1", "alice@example.com").await;

    // The tag moved without a signature, then signed by a key not in the file.
    world.commit_ssh("web:2", Some(&alice));
    world.tag_ssh(None);
    assert!(!world.git_verifies_tag());
    world.refuses("unsigned", "web:1").await;
    world.tag_ssh(Some(&mallory));
    assert!(!world.git_verifies_tag());
    world.refuses("unknown_key", "web:1").await;

    world.tag_ssh(Some(&alice));
    assert!(world.git_verifies_tag());
    world.deploys("web:2", "alice@example.com").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_commit_signed_by_the_forge_deploys_only_when_its_key_is_allowed() {
    let world = World::new("mode = \"head\"\nallowed_signers_file = \"allowed_signers\"\n").await;
    let alice = world.ssh_key("alice", "ed25519");
    let forge = world.ssh_key("forge", "ed25519");
    let alice_line = format!("alice@example.com {}", world.public(&alice));
    world.allow(std::slice::from_ref(&alice_line));
    world.commit_ssh("web:1", Some(&alice));
    world.deploys("web:1", "alice@example.com").await;

    // A pull request merged by the forge: the branch's commit by alice, the merge commit signed
    // by the forge's own key, as GitHub and GitLab sign the merges they make.
    world.repo.git(&["checkout", "-q", "-b", "feature"]);
    world.commit_ssh("web:2", Some(&alice));
    world.repo.git(&["checkout", "-q", "main"]);
    let signing = format!("user.signingkey={}", forge.display());
    world.repo.git(&[
        "-c",
        "gpg.format=ssh",
        "-c",
        &signing,
        "merge",
        "-q",
        "--no-ff",
        "-S",
        "-m",
        "Merge pull request #1",
        "feature",
    ]);
    let merge = world.repo.head();
    assert!(!world.git_verifies_ssh(&merge));
    world.refuses("unknown_key", "web:1").await;

    // The operator allows the forge's key: the same merge deploys, signed by the forge.
    world.allow(&[
        alice_line,
        format!("noreply@forge.example.com {}", world.public(&forge)),
    ]);
    assert!(world.git_verifies_ssh(&merge));
    world.deploys("web:2", "noreply@forge.example.com").await;
}
