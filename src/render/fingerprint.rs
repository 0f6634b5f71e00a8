//! Step 7, the fingerprint: a SHA-256 over everything a rendered job depends on, computed
//! before any Nomad call, so that a later pass can skip a job whose inputs did not change.
//! The commit is deliberately not an input: a moved branch alone changes nothing.

use sha2::{Digest, Sha256};

use super::{Given, Settings};

/// Bumped whenever rendering changes what it makes of the same inputs.
const VERSION: &[u8] = b"drover-render-v1";

/// Feeds length-prefixed fields, so that no two different input lists hash alike.
struct Hasher(Sha256);

impl Hasher {
    fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn opt(&mut self, value: Option<&str>) {
        match value {
            Some(v) => {
                self.field(b"some");
                self.field(v.as_bytes());
            }
            None => self.field(b"none"),
        }
    }
}

/// What went into one job: its file, the files it inlined, the var files and settings.
pub(crate) struct Inputs<'a> {
    pub path: &'a str,
    pub job: &'a [u8],
    pub inlined: &'a [(String, Option<Vec<u8>>)],
    pub var_files: &'a [(String, Vec<u8>)],
    pub settings: &'a Settings,
}

/// Lower-case hex SHA-256 of `inputs`.
pub(crate) fn fingerprint(inputs: &Inputs) -> String {
    let mut h = Hasher(Sha256::new());
    h.field(VERSION);
    h.field(inputs.path.as_bytes());
    h.field(inputs.job);
    h.field(&(inputs.inlined.len() as u64).to_le_bytes());
    for (path, content) in inputs.inlined {
        h.field(path.as_bytes());
        match content {
            Some(bytes) => {
                h.field(b"some");
                h.field(bytes);
            }
            None => h.field(b"none"),
        }
    }
    h.field(&(inputs.var_files.len() as u64).to_le_bytes());
    for (path, bytes) in inputs.var_files {
        h.field(path.as_bytes());
        h.field(bytes);
    }
    let s = inputs.settings;
    h.field(s.source.as_bytes());
    h.opt(s.namespace.as_deref());
    h.opt(s.cluster_namespace.as_deref());
    h.opt(s.region.as_deref());
    h.opt(s.datacenters.as_ref().map(|d| d.join("\n")).as_deref());
    h.field(&(s.variables.len() as u64).to_le_bytes());
    for (name, value) in &s.variables {
        h.field(name.as_bytes());
        match value {
            // As before typed values existed, so that upgrading re-plans nothing.
            Given::Text(text) => h.field(text.as_bytes()),
            // A name is never `=hcl`, so the marker cannot be read as the next name.
            Given::Hcl(hcl) => {
                h.field(hcl.as_bytes());
                h.field(b"=hcl");
            }
        }
    }
    hex(&h.0.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_counts() {
        let settings = Settings::default();
        let base = Inputs {
            path: "a.nomad.hcl",
            job: b"job \"a\" {}",
            inlined: &[],
            var_files: &[],
            settings: &settings,
        };
        let fp = fingerprint(&base);
        assert_eq!(fp.len(), 64);
        assert_eq!(fp, fingerprint(&base), "stable");
        let inlined = [("a.conf".to_owned(), Some(b"x".to_vec()))];
        let vars = [("v.hcl".to_owned(), b"x = 1".to_vec())];
        let other = Settings {
            region: Some("eu".into()),
            ..Settings::default()
        };
        let variants = [
            Inputs {
                path: "b.nomad.hcl",
                ..base
            },
            Inputs {
                job: b"job \"a\" { }",
                ..base
            },
            Inputs {
                inlined: &inlined,
                ..base
            },
            Inputs {
                var_files: &vars,
                ..base
            },
            Inputs {
                settings: &other,
                ..base
            },
        ];
        for v in &variants {
            assert_ne!(fingerprint(v), fp);
        }
    }

    #[test]
    fn a_string_and_a_typed_value_of_the_same_text_differ() {
        let with = |value: Given| Settings {
            variables: [("count".to_owned(), value)].into(),
            ..Settings::default()
        };
        let (text, number) = (with(Given::Text("1".into())), with(Given::Hcl("1".into())));
        let inputs = |settings| Inputs {
            path: "a.nomad.hcl",
            job: b"job \"a\" {}",
            inlined: &[],
            var_files: &[],
            settings,
        };
        assert_ne!(fingerprint(&inputs(&text)), fingerprint(&inputs(&number)));
    }
}
