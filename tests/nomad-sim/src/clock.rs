//! Simulated time. Deployments and allocations progress on a clock that runs `scale` times
//! faster than real time and can be pushed forward by tests; lock leases and blocking-query
//! waits run on real time (clients compute them), pushed forward only by explicit advances.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) struct Clock {
    inner: Mutex<Anchor>,
}

struct Anchor {
    real: Instant,
    sim: Duration,
    scale: f64,
    advanced: Duration,
}

impl Clock {
    pub(crate) fn new(scale: f64) -> Self {
        let anchor = Anchor {
            real: Instant::now(),
            sim: Duration::ZERO,
            scale,
            advanced: Duration::ZERO,
        };
        Self {
            inner: Mutex::new(anchor),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Anchor> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Scaled time since start: what deployments and health checks measure.
    pub(crate) fn sim_now(&self) -> Duration {
        let a = self.lock();
        a.sim + a.real.elapsed().mul_f64(a.scale)
    }

    /// Real time since start plus explicit advances: what lock leases measure.
    pub(crate) fn lease_now(&self) -> Duration {
        let a = self.lock();
        a.advanced + a.real.elapsed()
    }

    /// Wall-clock time as Nomad reports it (Unix nanoseconds), including explicit advances.
    pub(crate) fn unix_nanos(&self) -> i64 {
        let advanced = self.lock().advanced;
        let now = SystemTime::now() + advanced;
        now.duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    pub(crate) fn advance(&self, by: Duration) {
        let mut a = self.lock();
        a.sim += by;
        a.advanced += by;
    }

    pub(crate) fn set_scale(&self, scale: f64) {
        let mut a = self.lock();
        let elapsed = a.real.elapsed().mul_f64(a.scale);
        a.sim += elapsed;
        a.real = Instant::now();
        a.scale = scale;
    }
}

/// RFC 3339 text of Unix nanoseconds, as Go's `time.Time` JSON encoding writes it (UTC).
pub(crate) fn rfc3339(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{nanos:09}Z")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
    }

    #[test]
    fn advance_moves_both_clocks() {
        let clock = Clock::new(1.0);
        let (sim, lease) = (clock.sim_now(), clock.lease_now());
        clock.advance(Duration::from_secs(60));
        assert!(clock.sim_now() >= sim + Duration::from_secs(60));
        assert!(clock.lease_now() >= lease + Duration::from_secs(60));
    }
}
