//! The election loop: a follower tries to acquire the lock every 1.1 × TTL (sooner when a
//! blocking read of the variable sees it change: a release or a lapse); the holder renews every
//! 0.7 × TTL and steps down the moment its own lease count runs out; on shutdown it releases
//! the lock so that a follower takes over within one retry interval.

use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};
use tokio_util::sync::CancellationToken;

use super::{Fence, Holder, Role};
use crate::config::HaSettings;
use crate::nomad::{BuildError, Client, Error, LockRequest, Query};
use crate::status::Board;

/// How long a release may take on shutdown; past it the lock lapses on the server instead.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The election of one instance. Run it with [`Election::run`].
pub struct Election {
    client: Client,
    path: String,
    ttl: Duration,
    me: Holder,
    role: watch::Sender<Role>,
    fence: Fence,
    board: Board,
}

/// Sets up the election: the loop, the role it publishes (a follower at first) and the fence.
pub fn start(
    settings: &HaSettings,
    board: Board,
) -> Result<(Election, watch::Receiver<Role>, Fence), BuildError> {
    let mut client = Client::new(&settings.cluster)?;
    if let Some(ns) = &settings.namespace {
        client = client.in_namespace(ns.clone());
    }
    let (role, receiver) = watch::channel(Role::Follower { leader: None });
    let fence = Fence::default();
    let election = Election {
        client,
        path: settings.lock_path.clone(),
        ttl: settings.ttl,
        me: Holder::this_process(),
        role,
        fence: fence.clone(),
        board,
    };
    Ok((election, receiver, fence))
}

impl Election {
    /// Campaigns, leads and campaigns again until `cancel`; then releases the lock if held.
    /// Cancel it only once the loops have finished their registrations, so that no follower
    /// takes over while one is still in flight.
    pub async fn run(self, cancel: CancellationToken) {
        tracing::info!(path = %self.path, ttl_s = self.ttl.as_secs(), instance = %self.me.instance, "high availability: campaigning for the leader lock");
        let mut index = 0;
        while !cancel.is_cancelled() {
            match self.acquire().await {
                Ok(Some((holder, lock_id))) => {
                    self.lead(holder, lock_id, &cancel).await;
                    index = 0;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(path = %self.path, error = %e, "cannot acquire the leader lock; staying a follower")
                }
            }
            tokio::select! {
                () = self.wait_turn(&mut index) => {}
                () = cancel.cancelled() => {}
            }
        }
    }

    /// `Some` with the lock's ID when acquired, `None` when another instance holds it.
    async fn acquire(&self) -> Result<Option<(Holder, String)>, Error> {
        let holder = self.me.leading_since(SystemTime::now());
        let request = LockRequest {
            ttl: self.ttl,
            // Nomad's default delay equals its default TTL; scaling it with the TTL keeps the
            // takeover time in proportion to the lease the operator chose.
            lock_delay: self.ttl,
            items: holder.to_items(),
        };
        match self.client.lock_acquire(&self.path, &request).await {
            Ok(var) => {
                self.board.nomad_answered();
                let id = var.lock.map(|l| l.id).filter(|id| !id.is_empty());
                Ok(id.map(|id| (holder, id)))
            }
            Err(Error::LockConflict { .. }) => {
                self.board.nomad_answered();
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Waits one retry interval (1.1 × TTL, plus up to 100 ms so that instances do not retry
    /// in step), or less when the variable changes (released, lapsed, taken), meanwhile
    /// publishing who leads.
    async fn wait_turn(&self, index: &mut u64) {
        let jitter = Duration::from_millis(rand::rng().random_range(0..=100));
        let deadline = Instant::now() + self.ttl.mul_f64(1.1) + jitter;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let query = Query::blocking(*index, wait);
            let read = self.client.variable(&self.path, &query);
            let Ok(answer) = timeout_at(deadline, read).await else {
                return;
            };
            match answer {
                Ok(var) => {
                    self.board.nomad_answered();
                    let leader = var.value.items.as_ref().and_then(Holder::from_items);
                    self.role.send_if_modified(|role| {
                        let follower = Role::Follower { leader };
                        let changed = *role != follower;
                        *role = follower;
                        changed
                    });
                    let changed = *index != 0 && var.meta.index > *index;
                    *index = var.meta.index;
                    // Each early return needs a Raft write to the variable: no busy loop.
                    if changed {
                        return;
                    }
                }
                Err(e) => {
                    if !matches!(e, Error::NotFound { .. }) {
                        tracing::debug!(path = %self.path, error = %e, "cannot read the leader lock");
                    }
                    sleep_until(deadline).await;
                    return;
                }
            }
        }
    }

    /// Leads until the lock is lost or `cancel`; on `cancel` releases it.
    ///
    /// Fencing: the lease this instance counts on is TTL from the moment its last successful
    /// renew was *sent*. Nomad's runs 2 × TTL from when it *received* that renew, and then the
    /// lock stays for LockDelay more before anyone else can acquire. So this instance stops
    /// starting registers at least TTL + LockDelay before another can become leader, which
    /// covers clock-rate differences and a register already sent.
    async fn lead(&self, holder: Holder, lock_id: String, cancel: &CancellationToken) {
        let mut valid_until = Instant::now() + self.ttl;
        self.fence.set(true);
        tracing::info!(path = %self.path, instance = %holder.instance, "this instance is now the leader");
        self.role.send_replace(Role::Leader {
            holder,
            lock_id: lock_id.clone(),
        });
        let mut next = Instant::now() + self.ttl.mul_f64(0.7);
        loop {
            tokio::select! {
                () = sleep_until(next) => {}
                () = cancel.cancelled() => return self.step_down_and_release(&lock_id).await,
            }
            let sent = Instant::now();
            let renew = timeout_at(valid_until, self.client.lock_renew(&self.path, &lock_id));
            let renewed = tokio::select! {
                r = renew => r,
                () = cancel.cancelled() => return self.step_down_and_release(&lock_id).await,
            };
            match renewed {
                Ok(Ok(_)) => {
                    self.board.nomad_answered();
                    valid_until = sent + self.ttl;
                    next = sent + self.ttl.mul_f64(0.7);
                }
                Ok(Err(Error::LockConflict { text })) => {
                    return self.step_down(&format!("renew refused: {text}"));
                }
                Ok(Err(e)) if Instant::now() < valid_until => {
                    tracing::warn!(path = %self.path, error = %e, "cannot renew the leader lock; retrying while the lease lasts");
                    next = (Instant::now() + self.ttl / 10).min(valid_until);
                }
                Ok(Err(e)) => return self.step_down(&format!("no renew within the TTL: {e}")),
                Err(_) => return self.step_down("no renew within the TTL"),
            }
        }
    }

    /// Stops applying at once, then says so.
    fn step_down(&self, why: &str) {
        self.fence.set(false);
        tracing::warn!(path = %self.path, reason = why, "lost the leader lock; this instance is now a follower");
        self.role.send_replace(Role::Follower { leader: None });
    }

    async fn step_down_and_release(&self, lock_id: &str) {
        self.fence.set(false);
        self.role.send_replace(Role::Follower { leader: None });
        match timeout(
            RELEASE_TIMEOUT,
            self.client.lock_release(&self.path, lock_id),
        )
        .await
        {
            Ok(Ok(_)) => tracing::info!(path = %self.path, "released the leader lock"),
            Ok(Err(e)) => {
                tracing::warn!(path = %self.path, error = %e, "cannot release the leader lock; it lapses on its own")
            }
            Err(_) => {
                tracing::warn!(path = %self.path, "releasing the leader lock timed out; it lapses on its own")
            }
        }
    }
}
