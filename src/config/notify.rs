//! Telling people and forges how deployments went: `[[notify]]` destinations (a webhook, Slack,
//! Discord, Teams) and each source's `[source.commit_status]` (GitHub, GitLab, Gitea).
//! Checks names, URLs, filters and where each secret comes from; never reads a secret here
//! (see [`super::Config::verify_secrets`]) and never sends anything.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::error::ConfigError;
use super::locate::KeyPath;
use super::resolve::credential;
use super::secret::Secret;
use super::{Ctx, check_name};
use crate::events::EventKind;

/// `[[notify]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub name: String,
    pub kind: NotifyKind,
    pub url_file: Option<PathBuf>,
    pub url_credential: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub secret_credential: Option<String>,
    pub sources: Option<Vec<String>>,
    pub events: Option<Vec<Wanted>>,
    #[serde(default)]
    pub min_severity: Severity,
    #[serde(default = "default_group_window", with = "humantime_serde")]
    pub group_window: Duration,
}

fn default_group_window() -> Duration {
    Duration::from_secs(5)
}

/// `[source.commit_status]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCommitStatus {
    pub provider: Provider,
    pub api_url: Option<String>,
    pub repository: String,
    pub token_file: Option<PathBuf>,
    pub token_credential: Option<String>,
    pub context: Option<String>,
}

/// Where a message goes, and in which format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    /// The event as a JSON document, signed with HMAC-SHA256 when a secret is set.
    Webhook,
    /// Slack's incoming-webhook format (`{"text": ...}`), which Mattermost and Rocket.Chat
    /// accept too.
    Slack,
    /// Discord's webhook format (`{"content": ...}`).
    Discord,
    /// A Microsoft Teams incoming webhook (`{"text": ...}`).
    Teams,
}

impl NotifyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Teams => "teams",
        }
    }
}

/// An event kind a destination asks for, or `recovered`: the first success of a job after a
/// failure (a failed or rolled back deployment, or a block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(untagged)]
pub enum Wanted {
    Recovered(RecoveredWord),
    Event(EventKind),
}

/// The word `recovered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveredWord {
    Recovered,
}

/// How much an event matters; a destination hears those at or above its `min_severity`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Info,
    Warning,
    Error,
}

impl Severity {
    /// Failures are errors; what a person should look at but that keeps what runs, warnings.
    pub fn of(kind: EventKind) -> Self {
        match kind {
            EventKind::Failed | EventKind::RolledBack => Self::Error,
            EventKind::Blocked | EventKind::DriftFound | EventKind::Superseded => Self::Warning,
            _ => Self::Info,
        }
    }
}

/// A forge whose commit-status API drover writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Github,
    Gitlab,
    /// Gitea and Forgejo.
    Gitea,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Gitea => "gitea",
        }
    }
}

/// One `[[notify]]` destination.
#[derive(Debug, Clone)]
pub struct Destination {
    /// Unique; names the destination in metrics and logs, and in the record of what was sent.
    pub name: String,
    pub kind: NotifyKind,
    /// The webhook URL: a secret, since whoever has it can post.
    pub url: Secret,
    /// The HMAC-SHA256 key of a `webhook`'s signature header.
    pub secret: Option<Secret>,
    /// The sources it hears about; `None` for all.
    pub sources: Option<BTreeSet<String>>,
    pub events: BTreeSet<Wanted>,
    pub min_severity: Severity,
    /// Events of one commit within this window are sent as one message.
    pub group_window: Duration,
}

impl Destination {
    /// Whether it asks for events of `source`.
    pub fn hears(&self, source: &str) -> bool {
        self.sources.as_ref().is_none_or(|s| s.contains(source))
    }
}

/// The events a destination hears when it names none: what a person must act on, and the
/// news that it is fixed.
pub fn default_events() -> BTreeSet<Wanted> {
    BTreeSet::from([
        Wanted::Event(EventKind::Failed),
        Wanted::Event(EventKind::RolledBack),
        Wanted::Event(EventKind::Blocked),
        Wanted::Recovered(RecoveredWord::Recovered),
    ])
}

/// A source's `[source.commit_status]`.
#[derive(Debug, Clone)]
pub struct CommitStatus {
    pub provider: Provider,
    /// The API's base, e.g. `https://api.github.com` or `https://gitlab.example.com/api/v4`.
    pub api_url: Url,
    /// `owner/name`, or GitLab's numeric project ID or `group/project` path.
    pub repository: String,
    pub token: Secret,
    /// The status's name on the forge; `drover/<source>` by default.
    pub context: String,
}

/// Longest group window: a message is meant to come soon after what it tells.
const MAX_GROUP_WINDOW: Duration = Duration::from_secs(300);

pub(super) fn destinations(raw: &[RawNotify], cx: &Ctx) -> Result<Vec<Destination>, ConfigError> {
    let mut out: Vec<Destination> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let key = KeyPath::root("notify").index(i);
        check_name(&r.name).map_err(|m| cx.invalid(&key.key("name"), format!("name {m}")))?;
        if out.iter().any(|d| d.name == r.name) {
            let message = format!(
                "`{}` names another [[notify]] too; names must be unique",
                r.name
            );
            return Err(cx.invalid(&key.key("name"), message));
        }
        let url = required_secret(
            cx,
            &key,
            "url",
            (r.url_file.as_ref(), r.url_credential.as_deref()),
            " (a webhook URL is a secret)",
        )?;
        let secret = secret(
            cx,
            &key,
            "secret",
            r.secret_file.as_ref(),
            r.secret_credential.as_deref(),
        )?;
        if secret.is_some() && r.kind != NotifyKind::Webhook {
            let message = "only a `webhook` destination signs its messages";
            return Err(cx.invalid(&key.key("secret_file"), message));
        }
        if r.group_window > MAX_GROUP_WINDOW {
            let message = format!("must be at most {}s", MAX_GROUP_WINDOW.as_secs());
            return Err(cx.invalid(&key.key("group_window"), message));
        }
        let events = match &r.events {
            Some(events) if events.is_empty() => {
                return Err(cx.invalid(
                    &key.key("events"),
                    "must name at least one event; remove the key for the default",
                ));
            }
            Some(events) => events.iter().copied().collect(),
            None => default_events(),
        };
        out.push(Destination {
            name: r.name.clone(),
            kind: r.kind,
            url,
            secret,
            sources: r.sources.as_ref().map(|s| s.iter().cloned().collect()),
            events,
            min_severity: r.min_severity,
            group_window: r.group_window,
        });
    }
    Ok(out)
}

/// Checks that every source a destination names exists.
pub(super) fn check_sources(
    destinations: &[Destination],
    sources: &[String],
    cx: &Ctx,
) -> Result<(), ConfigError> {
    for (i, d) in destinations.iter().enumerate() {
        let unknown = d.sources.iter().flatten().find(|s| !sources.contains(s));
        if let Some(name) = unknown {
            let key = KeyPath::root("notify").index(i).key("sources");
            return Err(cx.invalid(&key, format!("no [[source]] is named `{name}`")));
        }
    }
    Ok(())
}

pub(super) fn commit_status(
    raw: &RawCommitStatus,
    source: &str,
    key: &KeyPath,
    cx: &Ctx,
) -> Result<CommitStatus, ConfigError> {
    let key = key.key("commit_status");
    let api_url = match (&raw.api_url, raw.provider) {
        (Some(url), _) => url.as_str(),
        (None, Provider::Github) => "https://api.github.com",
        (None, Provider::Gitlab) => "https://gitlab.com/api/v4",
        (None, Provider::Gitea) => {
            return Err(cx.invalid(&key.key("api_url"), "missing: a Gitea or Forgejo server has no default address (e.g. \"https://gitea.example.com/api/v1\")"));
        }
    };
    let api_url = http_url(api_url).map_err(|m| cx.invalid(&key.key("api_url"), m))?;
    let repository = raw.repository.trim();
    let shaped = match raw.provider {
        Provider::Gitlab => !repository.is_empty(),
        Provider::Github | Provider::Gitea => {
            repository.split('/').filter(|p| !p.is_empty()).count() == 2
        }
    };
    if !shaped {
        let message = match raw.provider {
            Provider::Gitlab => "must be the project's numeric ID or its path (`group/project`)",
            Provider::Github | Provider::Gitea => "must be `owner/name`",
        };
        return Err(cx.invalid(&key.key("repository"), message));
    }
    let token = required_secret(
        cx,
        &key,
        "token",
        (raw.token_file.as_ref(), raw.token_credential.as_deref()),
        "",
    )?;
    let context = raw
        .context
        .clone()
        .unwrap_or_else(|| format!("drover/{source}"));
    if context.trim().is_empty() {
        return Err(cx.invalid(&key.key("context"), "must not be empty"));
    }
    Ok(CommitStatus {
        provider: raw.provider,
        api_url,
        repository: repository.to_owned(),
        token,
        context,
    })
}

/// `[server] public_url`: where people reach drover's status pages, for links in messages.
pub(super) fn public_url(raw: Option<&str>, cx: &Ctx) -> Result<Option<Url>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    http_url(raw)
        .map(Some)
        .map_err(|m| cx.invalid(&KeyPath::root("server").key("public_url"), m))
}

/// An http(s) base URL without credentials, kept without a trailing `/` so that paths join
/// with one. The value is never echoed.
pub(super) fn http_url(value: &str) -> Result<Url, String> {
    let url =
        Url::parse(value.trim_end_matches('/')).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http or https URL with a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".to_owned());
    }
    Ok(url)
}

/// [`secret`], which must be set; `why` ends the message that says it is missing.
fn required_secret(
    cx: &Ctx,
    key: &KeyPath,
    what: &str,
    (file, credential_name): (Option<&PathBuf>, Option<&str>),
    why: &str,
) -> Result<Secret, ConfigError> {
    secret(cx, key, what, file, credential_name)?.ok_or_else(|| {
        let message = format!("missing: set {what}_file or {what}_credential{why}");
        cx.invalid(&key.key(&format!("{what}_file")), message)
    })
}

/// `<what>_file` or `<what>_credential`, not both; `None` when neither is set.
pub(super) fn secret(
    cx: &Ctx,
    key: &KeyPath,
    what: &str,
    file: Option<&PathBuf>,
    credential_name: Option<&str>,
) -> Result<Option<Secret>, ConfigError> {
    let (file_key, credential_key) = (format!("{what}_file"), format!("{what}_credential"));
    match (file, credential_name) {
        (Some(_), Some(_)) => Err(cx.invalid(
            &key.key(&credential_key),
            format!("set {file_key} or {credential_key}, not both"),
        )),
        (Some(p), None) if p.as_os_str().is_empty() => {
            Err(cx.invalid(&key.key(&file_key), "must not be empty"))
        }
        (Some(p), None) => Ok(Some(Secret::file(cx.file_path(p)))),
        (None, Some(name)) => credential(cx, &key.key(&credential_key), name, &file_key).map(Some),
        (None, None) => Ok(None),
    }
}
