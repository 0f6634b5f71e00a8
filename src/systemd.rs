//! systemd's service notification protocol (`sd_notify(3)`): `READY=1`, `RELOADING=1`,
//! `STOPPING=1`, `STATUS=` and `WATCHDOG=1` datagrams to the socket named by `NOTIFY_SOCKET`.
//!
//! Owns reading `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` (once, at construction),
//! formatting the messages and sending them without ever blocking. Never decides *when* to send
//! (the daemon does: `READY=1` once the config is loaded and the listener bound, `WATCHDOG=1`
//! only when its loops make progress) and never fails its caller: without `NOTIFY_SOCKET`
//! every method is a no-op, and a failed send is logged at debug level.
//!
//! A small `UnixDatagram` sender rather than the `sd-notify` crate: that crate re-reads the
//! environment at every call (so a test can only drive it by mutating the process
//! environment, which is unsound once threads run) and connects to `NOTIFY_SOCKET` as a path,
//! so the abstract-namespace form `@name` that the protocol allows does not work.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

/// The socket systemd listens on, a path or `@` and an abstract name.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// The watchdog timeout in microseconds (`WatchdogSec=`), when the watchdog is on.
pub const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
/// The process the watchdog applies to; another process (a child that inherited the
/// environment) must not ping.
pub const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// A handle on systemd's notification socket; cheap to clone, one per daemon.
#[derive(Debug, Clone, Default)]
pub struct ServiceManager {
    target: Option<Arc<Target>>,
    /// The full `WATCHDOG_USEC`, when the watchdog is on for this process.
    watchdog: Option<Duration>,
}

#[derive(Debug)]
struct Target {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl ServiceManager {
    /// The service manager the process environment describes; a no-op one outside systemd.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// The service manager described by `var` (the environment as a function, for tests and
    /// embedding): `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let Some(name) = var(NOTIFY_SOCKET).filter(|s| !s.is_empty()) else {
            return Self::default();
        };
        let target = match connect(&name) {
            Ok(target) => target,
            Err(e) => {
                // A Type=notify service that cannot say READY=1 is killed at TimeoutStartSec=:
                // worth more than a debug line.
                tracing::warn!(socket = ?name, error = %e, "cannot use systemd's NOTIFY_SOCKET");
                return Self::default();
            }
        };
        let pid_matches = var(WATCHDOG_PID).is_none_or(|pid| {
            pid.to_str().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id())
        });
        let watchdog = var(WATCHDOG_USEC)
            .and_then(|usec| usec.to_str().and_then(|u| u.parse::<u64>().ok()))
            .filter(|&usec| usec > 0 && pid_matches)
            .map(Duration::from_micros);
        Self {
            target: Some(Arc::new(target)),
            watchdog,
        }
    }

    /// Start-up is finished (also the end of a reload).
    pub fn ready(&self) {
        self.send("READY=1");
    }

    /// A reload begins; `READY=1` ends it. systemd 253 and later refuse `RELOADING=1` without
    /// the time it was sent, which it compares with the time it asked for the reload.
    pub fn reloading(&self) {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    /// Shutdown has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// The one-line status `systemctl status` shows; line breaks become spaces, since the
    /// protocol is one assignment per line.
    pub fn status(&self, line: &str) {
        let line: Vec<&str> = line
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect();
        self.send(&format!("STATUS={}", line.join(" ")));
    }

    /// The loops are making progress. Sent only when the watchdog is on for this process, so
    /// that a daemon may call it freely.
    pub fn watchdog(&self) {
        if self.watchdog.is_some() {
            self.send("WATCHDOG=1");
        }
    }

    /// How often to call [`ServiceManager::watchdog`] at least: half of `WATCHDOG_USEC`, as
    /// `sd_watchdog_enabled(3)` advises. `None` when the watchdog is off.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|timeout| timeout / 2)
    }

    fn send(&self, message: &str) {
        let Some(target) = &self.target else {
            return;
        };
        // The socket is non-blocking: a full queue on systemd's side costs a lost message,
        // never a stalled loop.
        match target.socket.send_to_addr(message.as_bytes(), &target.addr) {
            Ok(n) if n == message.len() => {}
            Ok(n) => tracing::debug!(message, sent = n, "short write to NOTIFY_SOCKET"),
            Err(e) => tracing::debug!(message, error = %e, "cannot notify systemd"),
        }
    }
}

/// An unbound, non-blocking datagram socket and the address `name` gives: an absolute path, or
/// `@` followed by an abstract-namespace name.
fn connect(name: &OsStr) -> std::io::Result<Target> {
    let bytes = name.as_bytes();
    let addr = match bytes.split_first() {
        Some((b'@', abstract_name)) => abstract_address(abstract_name)?,
        Some((b'/', _)) => SocketAddr::from_pathname(name)?,
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "neither an absolute path nor @name",
            ));
        }
    };
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    Ok(Target { socket, addr })
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> std::io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_: &[u8]) -> std::io::Result<SocketAddr> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd stamps its reload requests with
/// (`std::time::Instant` reads the same clock but does not reveal its value).
fn monotonic_usec() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux, and
    // on a failure `now` stays zero, which systemd rejects like a missing stamp.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let micros = u64::try_from(now.tv_nsec / 1_000).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(micros)
}
