//! The real `sops` and `age-keygen` for the tests of secrets in Git: age keys made by
//! `age-keygen`, files encrypted (and decrypted, to compare) by `sops`. Both tools are
//! required: a missing one fails the test that needs it, naming it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use drover::kinds::sops::Identities;

pub fn spawn(program: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap_or_else(|e| {
        panic!("`{program}` is required by these tests (sops 3.x, and age for age-keygen): {e}")
    })
}

pub fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let out = spawn(program, args, env);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A directory with age keys made by `age-keygen`.
pub struct Dir(tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Dir(tempfile::tempdir().expect("tempdir"))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// A new key file; its recipient.
    pub fn key(&self, name: &str) -> String {
        let path = self.path(name);
        run("age-keygen", &["-o", path.to_str().expect("utf-8")], &[]);
        let text = std::fs::read_to_string(&path).expect("key file");
        text.lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("a public key line")
            .to_owned()
    }

    pub fn identities(&self, names: &[&str]) -> Identities {
        let text: String = names
            .iter()
            .map(|n| std::fs::read_to_string(self.path(n)).expect("key file"))
            .collect();
        Identities::parse(&text).expect("identities")
    }

    /// `plaintext` written as `name` and encrypted by sops for `recipients`; the encrypted text.
    pub fn encrypt(&self, name: &str, plaintext: &str, recipients: &[&str]) -> String {
        let path = self.path(name);
        std::fs::write(&path, plaintext).expect("write");
        let kind = if name.ends_with(".json") {
            "json"
        } else {
            "yaml"
        };
        let args = [
            "--encrypt",
            "--age",
            &recipients.join(","),
            "--input-type",
            kind,
            "--output-type",
            kind,
            path.to_str().expect("utf-8"),
        ];
        run("sops", &args, &[])
    }

    /// What `sops --decrypt --output-type json` makes of `encrypted` with the key file `key`:
    /// the JSON, or sops's error.
    pub fn sops_decrypt(
        &self,
        name: &str,
        encrypted: &str,
        key: &str,
    ) -> Result<serde_json::Value, String> {
        let path = self.path(&format!("enc-{name}"));
        std::fs::write(&path, encrypted).expect("write");
        let kind = if name.ends_with(".json") {
            "json"
        } else {
            "yaml"
        };
        let args = [
            "--decrypt",
            "--input-type",
            kind,
            "--output-type",
            "json",
            path.to_str().expect("utf-8"),
        ];
        let out = spawn("sops", &args, &[("SOPS_AGE_KEY_FILE", &self.path(key))]);
        if out.status.success() {
            Ok(serde_json::from_slice(&out.stdout).expect("sops prints JSON"))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}
