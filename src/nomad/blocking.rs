//! Blocking queries (docs/nomad-api.md): the `?index=&wait=` options of a read, the metadata
//! Nomad returns with it, and [`IndexTracker`], which applies the rules that keep a watch loop
//! from missing a change or spinning.
//!
//! Owns the index arithmetic only; never decides what a change means or how often to watch.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// Nomad caps a blocking query's wait at 5 minutes (the code, not the docs' 10); asking for more
/// would only make the client's timeout longer than the server's.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// Options of a read: immediate by default, or blocking until the index passes `index`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query {
    index: u64,
    wait: Duration,
}

impl Query {
    /// An immediate read.
    pub fn now() -> Self {
        Self::default()
    }

    /// Blocks until the data's index is greater than `index`, or `wait` (at most 5 minutes)
    /// passes. Index 0 does not block, as in Nomad.
    pub fn blocking(index: u64, wait: Duration) -> Self {
        let wait = if index > 0 {
            wait.min(MAX_WAIT)
        } else {
            Duration::ZERO
        };
        Self { index, wait }
    }

    /// The wait this query really blocks for: zero unless the index is set.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The query-string pairs; `wait` in milliseconds with a unit, as Nomad requires.
    pub(crate) fn params(&self) -> Vec<(&'static str, String)> {
        if self.index == 0 {
            return Vec::new();
        }
        vec![
            ("index", self.index.to_string()),
            ("wait", format!("{}ms", self.wait.as_millis())),
        ]
    }
}

/// What Nomad says about the data it returned (the `X-Nomad-*` headers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryMeta {
    /// `X-Nomad-Index`: the raft index of the returned data (0 when absent).
    pub index: u64,
    /// `X-Nomad-KnownLeader`: whether the answering server knew a leader.
    pub known_leader: bool,
    /// `X-Nomad-LastContact`: how stale a follower's answer may be.
    pub last_contact: Duration,
}

impl QueryMeta {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            index: text("x-nomad-index")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            known_leader: text("x-nomad-knownleader") == Some("true"),
            last_contact: Duration::from_millis(
                text("x-nomad-lastcontact")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            ),
        }
    }
}

/// A read's value with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Queried<T> {
    pub value: T,
    pub meta: QueryMeta,
}

/// Follows the index of one watched resource across blocking reads.
///
/// Rules (Consul's and Nomad's clients agree on them):
/// - the first read is immediate (index 0); every later read blocks;
/// - a returned index equal to the last one is a timeout or a spurious wake-up, not a change,
///   and the next read blocks again on the same index;
/// - an index of 0 is kept as 1, so that the next read still blocks instead of returning at once
///   (a tight loop against an empty table);
/// - an index lower than the last one means the server's state was restored or another cluster
///   answered: start over with an immediate read and treat the data as changed.
#[derive(Debug, Clone, Default)]
pub struct IndexTracker {
    last: u64,
}

impl IndexTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last index seen (0 before the first read or after a reset).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The options for the next read.
    pub fn query(&self, wait: Duration) -> Query {
        Query::blocking(self.last, wait)
    }

    /// Records a read's metadata; returns whether its data should be treated as new.
    pub fn observe(&mut self, meta: &QueryMeta) -> bool {
        let index = meta.index.max(1);
        if self.last == 0 {
            self.last = index;
            return true;
        }
        if index < self.last {
            tracing::debug!(
                last = self.last,
                index,
                "Nomad index went backwards; starting over"
            );
            self.last = 0;
            return true;
        }
        let changed = index > self.last;
        self.last = index;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(index: u64) -> QueryMeta {
        QueryMeta {
            index,
            ..QueryMeta::default()
        }
    }

    #[test]
    fn query_parameters() {
        assert!(Query::now().params().is_empty());
        assert_eq!(Query::now().wait(), Duration::ZERO);
        let q = Query::blocking(7, Duration::from_secs(30));
        assert_eq!(
            q.params(),
            vec![("index", "7".into()), ("wait", "30000ms".into())]
        );
        assert_eq!(
            Query::blocking(7, Duration::from_secs(3600)).wait(),
            MAX_WAIT
        );
        assert_eq!(
            Query::blocking(0, Duration::from_secs(30)).wait(),
            Duration::ZERO
        );
    }

    #[test]
    fn tracker_blocks_after_the_first_read_and_reports_changes() {
        let mut t = IndexTracker::new();
        let wait = Duration::from_secs(60);
        assert_eq!(t.query(wait), Query::now());
        assert!(t.observe(&meta(10)));
        assert_eq!(t.query(wait), Query::blocking(10, wait));
        assert!(!t.observe(&meta(10)), "same index is no change");
        assert_eq!(t.query(wait), Query::blocking(10, wait), "still blocks");
        assert!(t.observe(&meta(12)));
        assert_eq!(t.last(), 12);
    }

    #[test]
    fn tracker_never_spins_on_index_zero() {
        let mut t = IndexTracker::new();
        assert!(t.observe(&meta(0)));
        assert_eq!(t.last(), 1);
        assert!(t.query(Duration::from_secs(1)).wait() > Duration::ZERO);
        assert!(!t.observe(&meta(0)));
        assert_eq!(t.last(), 1);
    }

    #[test]
    fn tracker_resets_when_the_index_goes_backwards() {
        let mut t = IndexTracker::new();
        t.observe(&meta(50));
        assert!(t.observe(&meta(20)));
        assert_eq!(t.last(), 0);
        assert_eq!(t.query(Duration::from_secs(5)), Query::now());
        assert!(t.observe(&meta(20)));
        assert_eq!(t.last(), 20);
    }

    #[test]
    fn meta_from_headers() {
        let mut h = HeaderMap::new();
        h.insert("X-Nomad-Index", "42".parse().expect("header"));
        h.insert("X-Nomad-KnownLeader", "true".parse().expect("header"));
        h.insert("X-Nomad-LastContact", "15".parse().expect("header"));
        let m = QueryMeta::from_headers(&h);
        assert_eq!(
            m,
            QueryMeta {
                index: 42,
                known_leader: true,
                last_contact: Duration::from_millis(15)
            }
        );
        assert_eq!(
            QueryMeta::from_headers(&HeaderMap::new()),
            QueryMeta::default()
        );
    }
}
