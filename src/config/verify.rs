//! A source's `[source.verify]`: which signatures a commit or tag needs before it is deployed,
//! and the key files that say whose count. Reads and parses the key files at load, so that a
//! file that does not parse stops the start or the reload with its path and line; never checks
//! a signature (see [`crate::source::verify`]).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::Ctx;
use super::error::ConfigError;
use super::locate::KeyPath;
use super::schema::RawSource;
use crate::source::verify::Trust;

/// `[source.verify]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerify {
    pub mode: VerifyMode,
    pub allowed_signers_file: Option<PathBuf>,
    pub openpgp_keys_file: Option<PathBuf>,
}

/// What must be signed for a source to deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyMode {
    /// The commit to deploy.
    Head,
    /// The annotated tag the source follows.
    Tag,
    /// Both the tag and the commit it points at.
    TagAndHead,
}

impl VerifyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Head => "head",
            Self::Tag => "tag",
            Self::TagAndHead => "tag_and_head",
        }
    }
}

/// A source's resolved `[source.verify]`.
#[derive(Debug, Clone)]
pub struct Verify {
    pub mode: VerifyMode,
    /// The parsed keys (shared: a pass clones its source).
    pub trust: Arc<Trust>,
}

pub(super) fn verify(
    raw: &RawSource,
    key: &KeyPath,
    cx: &Ctx,
) -> Result<Option<Verify>, ConfigError> {
    let Some(v) = &raw.verify else {
        return Ok(None);
    };
    let key = key.key("verify");
    if v.allowed_signers_file.is_none() && v.openpgp_keys_file.is_none() {
        let message = "names no keys: set allowed_signers_file (SSH), openpgp_keys_file, or both";
        return Err(cx.invalid(&key, message));
    }
    if v.mode != VerifyMode::Head && raw.tag.is_none() {
        let message = format!(
            "`{}` verifies the tag the source follows; set `tag` on the source, or use \"head\"",
            v.mode.as_str()
        );
        return Err(cx.invalid(&key.key("mode"), message));
    }
    let ssh = v.allowed_signers_file.as_deref().map(|p| cx.file_path(p));
    let openpgp = v.openpgp_keys_file.as_deref().map(|p| cx.file_path(p));
    let trust = Trust::load(ssh.as_deref(), openpgp.as_deref()).map_err(ConfigError::KeyFile)?;
    Ok(Some(Verify {
        mode: v.mode,
        trust: Arc::new(trust),
    }))
}
