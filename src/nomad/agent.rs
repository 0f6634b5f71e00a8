//! Cluster and agent status (docs/nomad-api.md): is there a leader, which Nomad version answers.
//!
//! Owns the calls; never decides readiness from them (that is `serve`'s business).

use serde::Deserialize;

use super::transport::Call;
use super::types::AgentSelf;
use super::{Client, Error};

/// The shape of `GET /v1/agent/self` that drover reads; the rest is ignored.
#[derive(Deserialize)]
struct SelfBody {
    // Options rather than defaults: a client-only agent may send `null` for these.
    config: Option<SelfConfig>,
    member: Option<SelfMember>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SelfConfig {
    version: Option<VersionInfo>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct VersionInfo {
    version: String,
    version_prerelease: String,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SelfMember {
    name: String,
    tags: Option<std::collections::BTreeMap<String, String>>,
}

impl Client {
    /// `GET /v1/status/leader`: the leader's RPC address, `None` while there is none (Nomad
    /// answers `""`). Retried.
    pub async fn status_leader(&self) -> Result<Option<String>, Error> {
        let leader: String = self
            .send(Call::get("leader", &["status", "leader"]))
            .await?
            .json()?;
        Ok(Some(leader).filter(|l| !l.is_empty()))
    }

    /// `GET /v1/agent/self`: the answering agent's name and Nomad version. Retried.
    pub async fn agent_self(&self) -> Result<AgentSelf, Error> {
        let body: SelfBody = self
            .send(Call::get("agent", &["agent", "self"]))
            .await?
            .json()?;
        Ok(agent_self(body))
    }
}

/// The version lives in `config.Version` (an object since 0.6); servers also carry it in
/// `member.Tags.build`.
fn agent_self(body: SelfBody) -> AgentSelf {
    let member = body.member.unwrap_or_default();
    let version = match body.config.and_then(|c| c.version) {
        Some(v) if !v.version.is_empty() && !v.version_prerelease.is_empty() => {
            format!("{}-{}", v.version, v.version_prerelease)
        }
        Some(v) if !v.version.is_empty() => v.version,
        _ => member
            .tags
            .as_ref()
            .and_then(|t| t.get("build"))
            .cloned()
            .unwrap_or_default(),
    };
    AgentSelf {
        version,
        name: member.name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> AgentSelf {
        agent_self(serde_json::from_str(json).expect("decode"))
    }

    #[test]
    fn version_from_config_or_member_tags() {
        let a = parse(
            r#"{"config":{"Version":{"Version":"1.9.3","VersionPrerelease":"","Revision":"x"}},
                "member":{"Name":"s1.global","Tags":{"build":"1.9.3"}},"stats":{}}"#,
        );
        assert_eq!(
            a,
            AgentSelf {
                version: "1.9.3".into(),
                name: "s1.global".into()
            }
        );
        let b = parse(r#"{"config":{"Version":{"Version":"2.0.6","VersionPrerelease":"dev"}}}"#);
        assert_eq!(b.version, "2.0.6-dev");
        let c = parse(r#"{"config":{},"member":{"Name":"n","Tags":{"build":"1.7.0"}}}"#);
        assert_eq!(c.version, "1.7.0");
    }
}
