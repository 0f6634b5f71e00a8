//! SSH signatures: the allowed-signers file (`ssh-keygen`'s ALLOWED SIGNERS format, as Git's
//! `gpg.ssh.allowedSignersFile` uses it) and the check of an `SSHSIG` over a Git object in the
//! `git` namespace. Never runs `ssh-keygen`; refuses `cert-authority` lines, since drover does
//! not verify certificates.

use ssh_key::{HashAlg, PublicKey, SshSig};

use super::{KeyFileError, Refusal};

/// The namespace Git signs and verifies objects in.
const NAMESPACE: &str = "git";

/// One line of an allowed-signers file.
#[derive(Debug, Clone)]
struct Entry {
    principals: String,
    /// `namespaces="…"` patterns; `None` allows every namespace, as `ssh-keygen` does.
    namespaces: Option<Vec<String>>,
    /// `valid-after` and `valid-before`, in seconds since the epoch.
    valid_after: Option<i64>,
    valid_before: Option<i64>,
    key: PublicKey,
}

/// An allowed-signers file, parsed.
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    entries: Vec<Entry>,
}

impl AllowedSigners {
    /// Parses the text of `path` (named in errors with the line).
    pub fn parse(text: &str, path: &std::path::Path) -> Result<Self, KeyFileError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = entry(line).map_err(|message| KeyFileError {
                path: path.to_owned(),
                line: i + 1,
                message,
            })?;
            entries.push(entry);
        }
        Ok(Self { entries })
    }

    /// Checks `armored` (an `SSH SIGNATURE` block) over `payload`, made at `time` (the
    /// committer's or tagger's, in seconds since the epoch).
    pub fn verify(&self, armored: &[u8], payload: &[u8], time: i64) -> Result<String, Refusal> {
        let sig = SshSig::from_pem(armored).map_err(|e| Refusal::BadSignature {
            detail: format!("the SSH signature does not parse: {e}"),
        })?;
        let fingerprint = sig.public_key().fingerprint(HashAlg::Sha256).to_string();
        let known: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.key.key_data() == sig.public_key() && e.allows_namespace())
            .collect();
        if known.is_empty() {
            return Err(Refusal::UnknownKey {
                key: format!("SSH key {fingerprint}"),
            });
        }
        known[0]
            .key
            .verify(NAMESPACE, payload, &sig)
            .map_err(|e| Refusal::BadSignature {
                detail: format!("by SSH key {fingerprint}: {e}"),
            })?;
        match known.iter().find(|e| e.valid_at(time)) {
            Some(entry) => Ok(entry.principals.clone()),
            None => Err(Refusal::NotAllowedAt {
                signer: known[0].principals.clone(),
                detail: format!(
                    "SSH key {fingerprint} is not valid at {} (valid-after/valid-before)",
                    super::time::rfc3339(time)
                ),
            }),
        }
    }
}

impl Entry {
    fn allows_namespace(&self) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| wildcard(p, NAMESPACE)))
    }

    fn valid_at(&self, time: i64) -> bool {
        self.valid_after.is_none_or(|after| time >= after)
            && self.valid_before.is_none_or(|before| time <= before)
    }
}

/// `principals [options] keytype base64 [comment]`.
fn entry(line: &str) -> Result<Entry, String> {
    let (principals, rest) = field(line);
    let rest = rest.trim_start();
    let (options, key_text) = match PublicKey::from_openssh(rest) {
        Ok(_) => ("", rest),
        Err(_) => {
            let (options, after) = field(rest);
            (options, after.trim_start())
        }
    };
    let key = PublicKey::from_openssh(key_text)
        .map_err(|e| format!("no public key (`TYPE BASE64`) where one is expected: {e}"))?;
    let mut entry = Entry {
        principals: principals.replace('"', ""),
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key,
    };
    for option in split_options(options) {
        apply_option(&mut entry, option)?;
    }
    Ok(entry)
}

/// The first field of `text` (up to blank space outside double quotes) and the rest.
fn field(text: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&text[..i], &text[i..]),
            _ => {}
        }
    }
    (text, "")
}

/// `a,b="x,y",c` → `a`, `b="x,y"`, `c`.
fn split_options(options: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    for (i, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < options.len() {
        out.push(&options[start..]);
    }
    out
}

fn apply_option(entry: &mut Entry, option: &str) -> Result<(), String> {
    let (name, value) = match option.split_once('=') {
        Some((name, value)) => (name, Some(value.trim_matches('"'))),
        None => (option, None),
    };
    match (name.to_ascii_lowercase().as_str(), value) {
        ("cert-authority", None) => Err(
            "`cert-authority` is not supported: drover does not verify SSH certificates; list each signer's own key".to_owned(),
        ),
        ("namespaces", Some(list)) => {
            entry.namespaces = Some(list.split(',').map(str::to_owned).collect());
            Ok(())
        }
        ("valid-after", Some(time)) => {
            entry.valid_after = Some(super::time::parse(time)?);
            Ok(())
        }
        ("valid-before", Some(time)) => {
            entry.valid_before = Some(super::time::parse(time)?);
            Ok(())
        }
        _ => Err(format!("unknown option `{option}`")),
    }
}

/// `ssh-keygen`'s pattern match: `*` any run of characters, `?` one, `!` in front negates.
fn wildcard(pattern: &str, text: &str) -> bool {
    if let Some(negated) = pattern.strip_prefix('!') {
        return !wildcard(negated, text);
    }
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";

    #[test]
    fn lines_with_and_without_options() {
        let text = format!(
            "# people\nalice@example.com {KEY} alice\n\"bob@example.com,b@example.com\" namespaces=\"git,file\",valid-after=\"20200101Z\",valid-before=\"20300101120000Z\" {KEY}\n"
        );
        let signers = AllowedSigners::parse(&text, std::path::Path::new("s")).unwrap();
        let [alice, bob] = signers.entries.as_slice() else {
            panic!("two entries")
        };
        assert_eq!(alice.principals, "alice@example.com");
        assert!(alice.allows_namespace() && alice.valid_at(0));
        assert_eq!(bob.principals, "bob@example.com,b@example.com");
        assert_eq!(bob.valid_after, Some(1_577_836_800));
        assert!(bob.allows_namespace() && !bob.valid_at(0) && bob.valid_at(1_700_000_000));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let cases = [
            (format!("a@b cert-authority {KEY}"), "cert-authority"),
            (format!("a@b frobnicate {KEY}"), "unknown option"),
            ("a@b ssh-ed25519 not-base64".to_owned(), "no public key"),
            (format!("a@b valid-after=\"2020\" {KEY}"), "YYYYMMDD"),
        ];
        for (line, wanted) in cases {
            let text = format!("# comment\n\n{line}\n");
            let err = AllowedSigners::parse(&text, std::path::Path::new("/etc/signers"))
                .expect_err(&line)
                .to_string();
            assert!(err.starts_with("/etc/signers:3: "), "{err}");
            assert!(err.contains(wanted), "{err}");
        }
    }

    #[test]
    fn namespace_patterns() {
        assert!(wildcard("g*", "git") && wildcard("?it", "git") && !wildcard("file", "git"));
        assert!(!wildcard("!git", "git"));
    }
}
