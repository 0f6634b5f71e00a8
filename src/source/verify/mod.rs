//! Signature verification of what a source is about to deploy: the commit (`head`), the
//! annotated tag it follows (`tag`), or both, each checked against the source's allowed SSH
//! signers and OpenPGP keys. A commit is verified before it is handed to render; the verdict is
//! the signer (an SSH principal, an OpenPGP primary key's fingerprint) or a [`Refusal`] with
//! its reason.
//!
//! Owns reading the key files ([`Trust::load`], whose errors name the file and line), taking
//! the signature and the signed payload out of a Git object as gix gives them (the object
//! without its `gpgsig` header, or a tag without the signature appended to its message), and the
//! cryptographic check. Never runs `git`, `gpg` or `ssh-keygen`, never consults a keyring or
//! the network, and never decides what a refusal does to the jobs (the pass keeps what runs).

mod openpgp;
mod ssh;
mod time;

use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::objs::{CommitRefIter, TagRefIter};

pub use openpgp::OpenPgpKeys;
pub use ssh::AllowedSigners;

use super::Mirror;
use crate::config::{Revision, Verify, VerifyMode};

/// A key file that cannot be used, at the line where it goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct KeyFileError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

/// The keys a source trusts: its allowed SSH signers and its OpenPGP keys.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    ssh: Option<AllowedSigners>,
    openpgp: Option<OpenPgpKeys>,
}

impl Trust {
    /// Reads and parses the key files; either may be absent (not both: the config checks).
    pub fn load(
        allowed_signers: Option<&Path>,
        openpgp_keys: Option<&Path>,
    ) -> Result<Self, KeyFileError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| KeyFileError {
                path: path.to_owned(),
                line: 0,
                message: format!("cannot read: {e}"),
            })
        };
        Ok(Self {
            ssh: allowed_signers
                .map(|p| AllowedSigners::parse(&read(p)?, p))
                .transpose()?,
            openpgp: openpgp_keys
                .map(|p| OpenPgpKeys::parse(&read(p)?, p))
                .transpose()?,
        })
    }

    /// Checks an armored signature of either kind over `payload`, made at `time`.
    fn check(&self, signature: &[u8], payload: &[u8], time: i64) -> Result<String, Refusal> {
        if signature.starts_with(b"-----BEGIN SSH SIGNATURE-----") {
            return match &self.ssh {
                Some(signers) => signers.verify(signature, payload, time),
                None => Err(Refusal::UnknownKey {
                    key: "an SSH key (the source has no allowed_signers_file)".to_owned(),
                }),
            };
        }
        if signature.starts_with(b"-----BEGIN PGP SIGNATURE-----") {
            return match &self.openpgp {
                Some(keys) => keys.verify(signature, payload),
                None => Err(Refusal::UnknownKey {
                    key: "an OpenPGP key (the source has no openpgp_keys_file)".to_owned(),
                }),
            };
        }
        Err(Refusal::BadSignature {
            detail: "the signature is neither SSH nor OpenPGP (X.509 is not supported)".to_owned(),
        })
    }
}

/// Why a commit or tag is not deployed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{what} is not signed")]
    Unsigned { what: String },
    #[error("signed by {key}, which is not allowed")]
    UnknownKey { key: String },
    #[error("bad signature {detail}")]
    BadSignature { detail: String },
    #[error("signed by {signer}, whose key is no longer valid: {detail}")]
    ExpiredKey { signer: String, detail: String },
    #[error("signed by {signer}, who was not allowed to sign then: {detail}")]
    NotAllowedAt { signer: String, detail: String },
    #[error("cannot read {what} from the mirror: {detail}")]
    Unreadable { what: String, detail: String },
}

impl Refusal {
    /// Every reason, so that a count of zero still shows in `/metrics`.
    pub const REASONS: [&str; 6] = [
        "unsigned",
        "unknown_key",
        "bad_signature",
        "expired_key",
        "not_allowed_at",
        "unreadable",
    ];

    /// The reason in one word, for metrics and the status document.
    pub fn reason(&self) -> &'static str {
        let i = match self {
            Self::Unsigned { .. } => 0,
            Self::UnknownKey { .. } => 1,
            Self::BadSignature { .. } => 2,
            Self::ExpiredKey { .. } => 3,
            Self::NotAllowedAt { .. } => 4,
            Self::Unreadable { .. } => 5,
        };
        Self::REASONS[i]
    }
}

/// Verifies what `mirror`'s source would deploy at `commit`, as `verify` asks: the signer of
/// the commit (`head`, `tag_and_head`) or of the tag (`tag`), or why it is refused.
pub fn verify(mirror: &Mirror, commit: ObjectId, verify: &Verify) -> Result<String, Refusal> {
    let repo = mirror.repository().to_thread_local();
    let tag_signer = match verify.mode {
        VerifyMode::Tag | VerifyMode::TagAndHead => Some(verify_tag(
            &repo,
            &mirror.settings().revision,
            &verify.trust,
        )?),
        VerifyMode::Head => None,
    };
    let head_signer = match verify.mode {
        VerifyMode::Head | VerifyMode::TagAndHead => {
            Some(verify_commit(&repo, commit, &verify.trust)?)
        }
        VerifyMode::Tag => None,
    };
    // With both, the commit's signer is who approved what runs; the tag's is checked too.
    Ok(head_signer.or(tag_signer).unwrap_or_default())
}

fn verify_commit(repo: &gix::Repository, id: ObjectId, trust: &Trust) -> Result<String, Refusal> {
    let what = format!("commit {id}");
    let unreadable = |detail: String| Refusal::Unreadable {
        what: what.clone(),
        detail,
    };
    let object = repo
        .find_object(id)
        .map_err(|e| unreadable(e.to_string()))?;
    let data = &object.data;
    let time = CommitRefIter::from_bytes(data, id.kind())
        .committer()
        .map_err(|e| unreadable(e.to_string()))?
        .seconds();
    let signed =
        CommitRefIter::signature(data, id.kind()).map_err(|e| unreadable(e.to_string()))?;
    let Some((signature, payload)) = signed else {
        return Err(Refusal::Unsigned { what });
    };
    trust.check(signature.as_ref(), payload.to_bstring().as_ref(), time)
}

fn verify_tag(
    repo: &gix::Repository,
    revision: &Revision,
    trust: &Trust,
) -> Result<String, Refusal> {
    let Revision::Tag(name) = revision else {
        // The config refuses tag modes on a source that follows no tag.
        return Err(Refusal::Unsigned {
            what: "the source follows no tag, so its tag".to_owned(),
        });
    };
    let what = format!("tag `{name}`");
    let unreadable = |detail: String| Refusal::Unreadable {
        what: what.clone(),
        detail,
    };
    let reference = repo
        .find_reference(format!("refs/tags/{name}").as_str())
        .map_err(|e| unreadable(e.to_string()))?;
    let Some(id) = reference.target().try_id().map(ToOwned::to_owned) else {
        return Err(unreadable("the tag is a symbolic reference".to_owned()));
    };
    let object = repo
        .find_object(id)
        .map_err(|e| unreadable(e.to_string()))?;
    if object.kind != gix::object::Kind::Tag {
        return Err(Refusal::Unsigned {
            what: format!("{what} is a lightweight tag, and so"),
        });
    }
    let data = &object.data;
    let time = TagRefIter::from_bytes(data, id.kind())
        .tagger()
        .map_err(|e| unreadable(e.to_string()))?
        .map_or(0, |t| t.seconds());
    let Some((signature, payload)) = TagRefIter::signature(data) else {
        return Err(Refusal::Unsigned { what });
    };
    trust.check(signature.data.as_ref(), payload.to_bstring().as_ref(), time)
}
