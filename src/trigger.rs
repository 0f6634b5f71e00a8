//! Why a source's loop should make a pass now: the hand-off from the webhook, the ref watch and
//! the timers to the loop. Many triggers during one pass coalesce into one follow-up pass.

/// A request for a pass of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub source: String,
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Poll,
    Webhook,
    /// A local repository's refs changed.
    RefWatch,
    Drift,
    Reload,
    /// This instance became the leader (high availability).
    Leadership,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Poll => "poll",
            Self::Webhook => "webhook",
            Self::RefWatch => "ref-watch",
            Self::Drift => "drift",
            Self::Reload => "reload",
            Self::Leadership => "leadership",
        }
    }
}

/// Where triggers are sent.
pub type Sender = tokio::sync::mpsc::UnboundedSender<Trigger>;
