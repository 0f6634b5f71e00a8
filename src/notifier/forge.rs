//! A commit state as each forge's commit-status API takes it: GitHub
//! `POST /repos/{owner}/{repo}/statuses/{sha}`, GitLab `POST /projects/:id/statuses/:sha`,
//! Gitea and Forgejo `POST /repos/{owner}/{repo}/statuses/{sha}`, each with its own words for
//! the states and its own way of sending the token.
//!
//! Owns the request's shape; never sends it (`deliver` does) and never logs the token.

use serde_json::json;
use url::Url;

use super::commits::{CommitState, Update};
use super::deliver::Request;
use super::message::cut;
use crate::config::{CommitStatus, Provider, SecretError};

/// Longest description GitHub takes (longer ones are refused with a 422).
const MAX_DESCRIPTION: usize = 140;

/// The request that sets `update` on the forge, linking to `link` when there is one.
pub fn request(
    forge: &CommitStatus,
    update: &Update,
    link: Option<&Url>,
) -> Result<Request, SecretError> {
    let token = forge.token.read()?;
    let mut url = forge.api_url.clone();
    {
        // The configuration takes only http(s) URLs with a host, which always have a path.
        let mut path = url
            .path_segments_mut()
            .expect("an http(s) URL with a host has path segments");
        path.pop_if_empty();
        match forge.provider {
            Provider::Github | Provider::Gitea => {
                path.push("repos").extend(forge.repository.split('/'));
            }
            // One segment: a `group/project` path is sent with its `/` escaped, as GitLab asks.
            Provider::Gitlab => {
                path.push("projects").push(&forge.repository);
            }
        }
        path.push("statuses").push(&update.commit);
    }
    let description = cut(&update.description, MAX_DESCRIPTION);
    let link = link.map(Url::as_str);
    let (body, auth) = match forge.provider {
        Provider::Github => (
            json!({"state": update.state.as_str(), "description": description, "context": forge.context, "target_url": link}),
            ("Authorization", format!("Bearer {token}")),
        ),
        Provider::Gitea => (
            json!({"state": update.state.as_str(), "description": description, "context": forge.context, "target_url": link}),
            ("Authorization", format!("token {token}")),
        ),
        Provider::Gitlab => (
            json!({"state": gitlab_state(update.state), "description": description, "name": forge.context, "target_url": link}),
            ("PRIVATE-TOKEN", token),
        ),
    };
    let mut headers = vec![
        (auth.0.to_owned(), auth.1),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    if forge.provider == Provider::Github {
        headers.push((
            "Accept".to_owned(),
            "application/vnd.github+json".to_owned(),
        ));
        headers.push(("X-GitHub-Api-Version".to_owned(), "2022-11-28".to_owned()));
    }
    Ok(Request {
        method: reqwest::Method::POST,
        url,
        headers,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// GitLab's words: a deployment under way is `running`; a superseded one `canceled`.
fn gitlab_state(state: CommitState) -> &'static str {
    match state {
        CommitState::Pending => "running",
        CommitState::Success => "success",
        CommitState::Failure => "failed",
        CommitState::Error => "canceled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn forge(provider: Provider, api: &str, repository: &str) -> CommitStatus {
        CommitStatus {
            provider,
            api_url: Url::parse(api).expect("url"),
            repository: repository.into(),
            token: Secret::value("t0ken"),
            context: "drover/prod".into(),
        }
    }

    fn update(state: CommitState, description: &str) -> Update {
        Update {
            source: "prod".into(),
            commit: "abc123".into(),
            state,
            description: description.into(),
            job: None,
        }
    }

    fn body(r: &Request) -> serde_json::Value {
        serde_json::from_slice(&r.body).expect("json")
    }

    fn header<'a>(r: &'a Request, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn each_forge_gets_its_path_words_and_token_header() {
        let link = Url::parse("https://drover.example.com/status").expect("url");
        let github = forge(Provider::Github, "https://api.github.com", "ops/jobs");
        let r = request(
            &github,
            &update(CommitState::Failure, "web: failed"),
            Some(&link),
        )
        .expect("request");
        assert_eq!(
            r.url.as_str(),
            "https://api.github.com/repos/ops/jobs/statuses/abc123"
        );
        assert_eq!(header(&r, "Authorization"), Some("Bearer t0ken"));
        let b = body(&r);
        assert_eq!(
            (b["state"].as_str(), b["context"].as_str()),
            (Some("failure"), Some("drover/prod"))
        );
        assert_eq!(b["target_url"], "https://drover.example.com/status");

        let gitlab = forge(
            Provider::Gitlab,
            "https://gitlab.example.com/api/v4/",
            "infra/jobs",
        );
        let r = request(&gitlab, &update(CommitState::Error, "superseded"), None).expect("request");
        assert_eq!(
            r.url.as_str(),
            "https://gitlab.example.com/api/v4/projects/infra%2Fjobs/statuses/abc123"
        );
        assert_eq!(header(&r, "PRIVATE-TOKEN"), Some("t0ken"));
        let b = body(&r);
        assert_eq!(
            (b["state"].as_str(), b["name"].as_str()),
            (Some("canceled"), Some("drover/prod"))
        );
        assert!(b["target_url"].is_null());

        let gitea = forge(
            Provider::Gitea,
            "https://git.example.com/api/v1",
            "ops/jobs",
        );
        let r = request(&gitea, &update(CommitState::Pending, "deploying"), None).expect("request");
        assert_eq!(
            r.url.as_str(),
            "https://git.example.com/api/v1/repos/ops/jobs/statuses/abc123"
        );
        assert_eq!(header(&r, "Authorization"), Some("token t0ken"));
        assert_eq!(body(&r)["state"], "pending");
    }

    #[test]
    fn long_descriptions_are_cut_to_what_github_takes() {
        let github = forge(Provider::Github, "https://api.github.com", "o/r");
        let long = "x".repeat(500);
        let r = request(&github, &update(CommitState::Failure, &long), None).expect("request");
        let d = body(&r)["description"].as_str().expect("text").to_owned();
        assert_eq!(d.chars().count(), MAX_DESCRIPTION);
        assert!(d.ends_with('…'));
    }
}
