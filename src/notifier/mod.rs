//! Notifications of deployments: commit statuses on the forges (GitHub, GitLab, Gitea) and
//! messages to chat and webhook destinations. [`deliver`] sends them.

pub mod deliver;
