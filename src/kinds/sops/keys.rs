//! age identities (an `age-keygen` file) and the data key of a SOPS file: each `age` entry of
//! the `sops` block is an armored age file holding the 32-byte data key for one recipient
//! (`age/keysource.go`). Never shows a secret key or the data key, in errors or in `Debug`.

use std::fmt;
use std::io::Read;

use age::armor::ArmoredReader;
use age::x25519;
use zeroize::Zeroizing;

use super::SopsError;
use super::cipher::DataKey;

/// The age X25519 identities drover decrypts SOPS files with. `Debug` shows only their public
/// keys.
pub struct Identities {
    keys: Vec<x25519::Identity>,
}

impl Identities {
    /// Reads an identity file as `age-keygen` writes it: `AGE-SECRET-KEY-1…` lines, any
    /// number of them; blank lines and `#` comments (`# created:`, `# public key:`) are
    /// skipped. A line that is not a secret key is named by its number only.
    pub fn parse(text: &str) -> Result<Identities, SopsError> {
        let mut keys = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.parse::<x25519::Identity>() {
                Ok(key) => keys.push(key),
                Err(_) => {
                    return Err(SopsError::Identities {
                        problem: format!(
                            "line {} is not an age X25519 secret key (`AGE-SECRET-KEY-1…`)",
                            index + 1
                        ),
                    });
                }
            }
        }
        if keys.is_empty() {
            return Err(SopsError::Identities {
                problem: "it holds no `AGE-SECRET-KEY-1…` line".into(),
            });
        }
        Ok(Identities { keys })
    }

    /// The recipients (`age1…`) these identities decrypt for, in the file's order.
    pub(super) fn public_keys(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    /// The data key from the first of `stanzas` (recipient, armored age file) one of the
    /// identities opens.
    pub(super) fn data_key(
        &self,
        file: &str,
        stanzas: &[(String, String)],
    ) -> Result<DataKey, SopsError> {
        let mut broken = None;
        for (recipient, armored) in stanzas {
            match self.open(armored) {
                Ok(Some(key)) => return Ok(key),
                Ok(None) => {}
                Err(problem) => {
                    broken.get_or_insert((recipient.clone(), problem));
                }
            }
        }
        match broken {
            Some((recipient, problem)) => Err(SopsError::DataKey {
                file: file.to_owned(),
                recipient,
                problem,
            }),
            None => Err(SopsError::NoIdentity {
                file: file.to_owned(),
                recipients: stanzas.iter().map(|(r, _)| r.clone()).collect(),
                identities: self.public_keys(),
            }),
        }
    }

    /// `None` when no identity is this stanza's recipient.
    fn open(&self, armored: &str) -> Result<Option<DataKey>, String> {
        let decryptor = age::Decryptor::new(ArmoredReader::new(armored.as_bytes()))
            .map_err(|e| format!("not an age file: {e}"))?;
        let identities = self.keys.iter().map(|k| k as &dyn age::Identity);
        let mut reader = match decryptor.decrypt(identities) {
            Ok(reader) => reader,
            Err(age::DecryptError::NoMatchingKeys) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let mut plaintext = Zeroizing::new(Vec::new());
        reader
            .read_to_end(&mut plaintext)
            .map_err(|e| format!("the age payload does not decrypt: {e}"))?;
        let key: [u8; 32] = plaintext
            .as_slice()
            .try_into()
            .map_err(|_| format!("it holds {} bytes, not a 32-byte data key", plaintext.len()))?;
        Ok(Some(Zeroizing::new(key)))
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("public_keys", &self.public_keys())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_files_as_age_keygen_writes_them() {
        let one = x25519::Identity::generate();
        let two = x25519::Identity::generate();
        let secret = |k: &x25519::Identity| {
            use age::secrecy::ExposeSecret;
            k.to_string().expose_secret().to_owned()
        };
        let text = format!(
            "# created: 2024-01-01T00:00:00Z\n# public key: {}\n{}\n\n  {}  \n",
            one.to_public(),
            secret(&one),
            secret(&two)
        );
        let identities = Identities::parse(&text).expect("valid");
        assert_eq!(
            identities.public_keys(),
            [one.to_public().to_string(), two.to_public().to_string()]
        );
        let debug = format!("{identities:?}");
        assert!(debug.contains(&one.to_public().to_string()), "{debug}");
        assert!(!debug.contains("AGE-SECRET-KEY"), "{debug}");

        let bad = format!("{}\n{}x\n", secret(&one), secret(&two));
        let e = Identities::parse(&bad).expect_err("a broken key");
        assert_eq!(
            e.to_string(),
            "the age identity file does not parse: line 2 is not an age X25519 secret key (`AGE-SECRET-KEY-1…`)"
        );
        assert!(!format!("{e:?}").contains(&secret(&two)[20..]));
        let e = Identities::parse("# public key: age1xyz\n").expect_err("no key");
        assert!(
            e.to_string()
                .ends_with("it holds no `AGE-SECRET-KEY-1…` line")
        );
    }
}
