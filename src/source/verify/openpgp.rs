//! OpenPGP signatures: a file of armored public keys (each with its subkeys) and the check of a
//! detached signature over a Git object. A signature by a subkey bound to an allowed key is
//! good; a key or subkey that has expired or carries a revocation is not. Never runs `gpg` and
//! keeps no keyring: the file is the whole trust.

use std::time::SystemTime;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Timestamp, VerifyingKey};

use super::{KeyFileError, Refusal};

const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const END: &str = "-----END PGP PUBLIC KEY BLOCK-----";

/// The allowed OpenPGP keys, parsed.
#[derive(Debug, Clone, Default)]
pub struct OpenPgpKeys {
    keys: Vec<SignedPublicKey>,
}

impl OpenPgpKeys {
    /// Parses every armored public key block of `text` (read from `path`); an error names the
    /// line where the failing block begins. Text around the blocks is ignored.
    pub fn parse(text: &str, path: &std::path::Path) -> Result<Self, KeyFileError> {
        let fail = |line: usize, message: String| KeyFileError {
            path: path.to_owned(),
            line,
            message,
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut keys = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            if lines[i].trim() != BEGIN {
                i += 1;
                continue;
            }
            let start = i;
            let Some(end) = (i..lines.len()).find(|&j| lines[j].trim() == END) else {
                return Err(fail(start + 1, format!("the block has no `{END}` line")));
            };
            let block = lines[start..=end].join("\n");
            let parsed = SignedPublicKey::from_armor_many(block.as_bytes())
                .map_err(|e| fail(start + 1, format!("not an OpenPGP public key: {e}")))?
                .0;
            for key in parsed {
                let key =
                    key.map_err(|e| fail(start + 1, format!("not an OpenPGP public key: {e}")))?;
                key.verify_bindings().map_err(|e| {
                    fail(
                        start + 1,
                        format!("the key's self-signatures do not verify: {e}"),
                    )
                })?;
                keys.push(key);
            }
            i = end + 1;
        }
        if keys.is_empty() {
            return Err(fail(
                1,
                format!("no `{BEGIN}` found (export with `gpg --armor --export`)"),
            ));
        }
        Ok(Self { keys })
    }

    /// Checks the armored detached signature `armored` over `payload`. The signer is the
    /// primary key's fingerprint, even when a subkey signed.
    pub fn verify(&self, armored: &[u8], payload: &[u8]) -> Result<String, Refusal> {
        let (sig, _) =
            DetachedSignature::from_armor_single(armored).map_err(|e| Refusal::BadSignature {
                detail: format!("the OpenPGP signature does not parse: {e}"),
            })?;
        let now = seconds(SystemTime::now());
        for key in &self.keys {
            let primary = format!("{:X}", key.primary_key.fingerprint());
            let signer = if issued_by(&sig.signature, &key.primary_key) {
                let expires = expiry(
                    key.primary_key.created_at(),
                    key.details
                        .users
                        .iter()
                        .flat_map(|u| &u.signatures)
                        .chain(&key.details.direct_signatures),
                );
                check(&sig, &key.primary_key, payload, &primary)?;
                (expires, !key.details.revocation_signatures.is_empty())
            } else if let Some(sub) = key
                .public_subkeys
                .iter()
                .find(|s| issued_by(&sig.signature, &s.key))
            {
                check(&sig, &sub.key, payload, &primary)?;
                let revoked = sub
                    .signatures
                    .iter()
                    .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation));
                let bindings = sub
                    .signatures
                    .iter()
                    .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding));
                let primary_expires = expiry(
                    key.primary_key.created_at(),
                    key.details.users.iter().flat_map(|u| &u.signatures),
                );
                let expires = [expiry(sub.key.created_at(), bindings), primary_expires]
                    .into_iter()
                    .flatten()
                    .min();
                (
                    expires,
                    revoked || !key.details.revocation_signatures.is_empty(),
                )
            } else {
                continue;
            };
            return match signer {
                (_, true) => Err(Refusal::ExpiredKey {
                    signer: primary,
                    detail: "the OpenPGP key is revoked".to_owned(),
                }),
                (Some(at), false) if at <= now => Err(Refusal::ExpiredKey {
                    signer: primary,
                    detail: format!("the OpenPGP key expired at {}", super::time::rfc3339(at)),
                }),
                _ => Ok(primary),
            };
        }
        let fingerprints = sig.signature.issuer_fingerprint();
        let named = match fingerprints.first() {
            Some(fingerprint) => format!("{fingerprint:X}"),
            None => sig
                .signature
                .issuer_key_id()
                .first()
                .map(|id| id.to_string().to_uppercase())
                .unwrap_or_else(|| "without an issuer".to_owned()),
        };
        Err(Refusal::UnknownKey {
            key: format!("OpenPGP key {named}"),
        })
    }
}

/// Whether `sig` names `key` as its issuer, by fingerprint or by key ID.
fn issued_by(sig: &Signature, key: &impl KeyDetails) -> bool {
    sig.issuer_fingerprint().contains(&&key.fingerprint())
        || sig.issuer_key_id().contains(&&key.legacy_key_id())
}

fn check(
    sig: &DetachedSignature,
    key: &impl VerifyingKey,
    payload: &[u8],
    signer: &str,
) -> Result<(), Refusal> {
    sig.verify(key, payload).map_err(|e| Refusal::BadSignature {
        detail: format!("by OpenPGP key {signer}: {e}"),
    })
}

/// When a key created at `created` expires, by its newest self-signature among `signatures`.
fn expiry<'a>(created: Timestamp, signatures: impl Iterator<Item = &'a Signature>) -> Option<i64> {
    let newest = signatures.max_by_key(|s| s.created().map(Timestamp::as_secs))?;
    let lifetime = newest.key_expiration_time()?.as_secs();
    (lifetime > 0).then(|| i64::from(created.as_secs()) + i64::from(lifetime))
}

fn seconds(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
