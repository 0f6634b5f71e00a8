//! A push event's payload, and which configured sources it concerns.
//!
//! Owns reading the ref and the repository's URLs from GitHub's, GitLab's and Gitea's push
//! payloads, and comparing URLs in a normalised form: no scheme, user or port, host and path
//! lower-cased, no trailing `/` or `.git`. So `git@github.com:Ops/Deploy.git`,
//! `https://github.com/ops/deploy` and `ssh://git@github.com:22/ops/deploy.git/` are one
//! repository. Lower-casing the path can only make a push match too often, which costs one
//! extra pass that finds nothing new; a missed push would cost a poll interval.
//!
//! Only called on a body whose signature was verified. Never sends a trigger.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{RepoUrl, Revision, Source};

/// The keys under `repository` (all forges) and `project` (GitLab) that hold a URL of the
/// repository: clone, SSH, git and web URLs.
const URL_KEYS: [&str; 11] = [
    "clone_url",
    "ssh_url",
    "git_url",
    "html_url",
    "url",
    "svn_url",
    "git_http_url",
    "git_ssh_url",
    "http_url",
    "web_url",
    "homepage",
];

/// What drover needs from a push.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Push {
    /// `refs/heads/<branch>` or `refs/tags/<tag>`.
    pub git_ref: String,
    /// The repository's URLs, normalised.
    pub repositories: Vec<String>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    repository: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    project: BTreeMap<String, serde_json::Value>,
}

/// Reads a push payload. The error says what is wrong without quoting the body.
pub(super) fn parse(body: &[u8]) -> Result<Push, String> {
    let payload: Payload =
        serde_json::from_slice(body).map_err(|e| format!("not a push payload: {e}"))?;
    let mut repositories: Vec<String> = [&payload.repository, &payload.project]
        .into_iter()
        .flat_map(|table| URL_KEYS.iter().filter_map(|k| table.get(*k)?.as_str()))
        .filter_map(normalise)
        .collect();
    repositories.sort();
    repositories.dedup();
    Ok(Push {
        git_ref: payload.git_ref,
        repositories,
    })
}

/// The sources that follow the pushed repository and ref.
pub(super) fn matching<'a>(push: &Push, sources: &'a [Source]) -> Vec<&'a Source> {
    sources
        .iter()
        .filter(|s| follows_ref(s, &push.git_ref))
        .filter(|s| repository(&s.url).is_some_and(|url| push.repositories.contains(&url)))
        .collect()
}

/// Whether `source` follows `git_ref`. A source pinned to a commit follows no ref.
pub(super) fn follows_ref(source: &Source, git_ref: &str) -> bool {
    match &source.revision {
        Revision::Branch(b) => git_ref.strip_prefix("refs/heads/") == Some(b.as_str()),
        Revision::Tag(t) => git_ref.strip_prefix("refs/tags/") == Some(t.as_str()),
        Revision::Commit(_) => false,
    }
}

/// A source's repository, normalised; a local path never matches a forge's push.
fn repository(url: &RepoUrl) -> Option<String> {
    match url {
        RepoUrl::Url(u) => normalise(u.as_str()),
        RepoUrl::Scp(s) => normalise(s),
        RepoUrl::Local(_) => None,
    }
}

/// `scheme://[user@]host[:port]/path` or scp-like `[user@]host:path` → `host/path`.
fn normalise(url: &str) -> Option<String> {
    let (authority, path) = match url.trim().split_once("://") {
        Some((_, rest)) => rest.split_once('/').unwrap_or((rest, "")),
        None => url.trim().split_once(':')?,
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(addr, _)| addr),
        None => host.split_once(':').map_or(host, |(name, _)| name),
    };
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    if host.is_empty() || path.is_empty() || host.contains('/') {
        return None;
    }
    Some(format!("{host}/{path}").to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_one_repository_normalise_alike() {
        let same = [
            "https://github.com/Ops/Deploy.git",
            "https://token@GitHub.com/ops/deploy/",
            "git@github.com:ops/deploy.git",
            "ssh://git@github.com:22/ops/deploy.git",
            "git://github.com/ops/deploy",
            "http://github.com:80/ops/deploy",
        ];
        for url in same {
            assert_eq!(
                normalise(url).as_deref(),
                Some("github.com/ops/deploy"),
                "{url}"
            );
        }
        assert_eq!(
            normalise("ssh://git@[::1]:2222/a/b.git").as_deref(),
            Some("::1/a/b")
        );
        assert_eq!(normalise("/srv/git/deploy"), None);
        assert_eq!(normalise("https://github.com/"), None);
        assert_ne!(
            normalise("https://github.com/ops/deploy-2"),
            normalise(same[0])
        );
    }

    #[test]
    fn payloads_of_each_forge_yield_ref_and_urls() {
        let github = br#"{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/ops/deploy.git","ssh_url":"git@github.com:ops/deploy.git","id":1}}"#;
        let gitlab = br#"{"ref":"refs/tags/v1","project":{"git_ssh_url":"git@gitlab.example.com:ops/deploy.git"},"repository":{"homepage":"https://gitlab.example.com/ops/deploy"}}"#;
        let github = parse(github).expect("github");
        assert_eq!(github.git_ref, "refs/heads/main");
        assert_eq!(github.repositories, ["github.com/ops/deploy"]);
        let gitlab = parse(gitlab).expect("gitlab");
        assert_eq!(gitlab.git_ref, "refs/tags/v1");
        assert_eq!(gitlab.repositories, ["gitlab.example.com/ops/deploy"]);
        assert!(parse(b"{\"zen\":\"hi\"}").is_err());
        assert!(parse(b"not json").is_err());
    }
}
