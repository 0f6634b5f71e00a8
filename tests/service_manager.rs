//! The service-manager notifications against a fake `NOTIFY_SOCKET`: a Unix datagram socket the test binds,
//! as systemd does, reading exactly what a service manager would read.

use std::ffi::OsString;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use drover::systemd::ServiceManager;

/// The fake service manager's end.
struct Manager {
    socket: UnixDatagram,
}

impl Manager {
    /// The next datagram; panics after a second without one.
    fn recv(&self) -> String {
        self.socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        let mut buf = vec![0; 4096];
        let n = self.socket.recv(&mut buf).expect("a notification");
        String::from_utf8(buf[..n].to_vec()).expect("UTF-8")
    }

    /// Every datagram already queued, without waiting.
    fn drain(&self) -> Vec<String> {
        self.socket.set_nonblocking(true).expect("nonblocking");
        let mut buf = vec![0; 4096];
        let mut out = Vec::new();
        while let Ok(n) = self.socket.recv(&mut buf) {
            out.push(String::from_utf8(buf[..n].to_vec()).expect("UTF-8"));
        }
        self.socket.set_nonblocking(false).expect("blocking");
        out
    }
}

/// A manager listening on a socket file, and the `NOTIFY_SOCKET` value naming it.
fn path_manager(dir: &tempfile::TempDir) -> (Manager, OsString) {
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).expect("bind");
    (Manager { socket }, path.into_os_string())
}

fn env(vars: &[(&str, OsString)]) -> impl Fn(&str) -> Option<OsString> {
    let vars: Vec<(String, OsString)> =
        vars.iter().map(|(k, v)| ((*k).into(), v.clone())).collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[test]
fn every_message_reaches_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manager, socket) = path_manager(&dir);
    let n = ServiceManager::from_lookup(env(&[
        ("NOTIFY_SOCKET", socket),
        ("WATCHDOG_USEC", "3000000".into()),
        ("WATCHDOG_PID", std::process::id().to_string().into()),
    ]));
    assert_eq!(n.watchdog_interval(), Some(Duration::from_millis(1500)));

    n.ready();
    assert_eq!(manager.recv(), "READY=1");
    n.status("2 sources, 14 jobs:\n  all in sync\r\n");
    assert_eq!(manager.recv(), "STATUS=2 sources, 14 jobs: all in sync");
    n.watchdog();
    assert_eq!(manager.recv(), "WATCHDOG=1");

    let before = monotonic_usec_now();
    n.reloading();
    let reload = manager.recv();
    let lines: Vec<&str> = reload.lines().collect();
    assert_eq!(lines[0], "RELOADING=1", "{reload}");
    let stamp: u64 = lines[1]
        .strip_prefix("MONOTONIC_USEC=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a MONOTONIC_USEC stamp: {reload}"));
    assert!(
        stamp >= before && stamp <= monotonic_usec_now(),
        "CLOCK_MONOTONIC, in microseconds: {stamp} vs {before}"
    );
    n.ready();
    assert_eq!(manager.recv(), "READY=1");

    n.stopping();
    assert_eq!(manager.recv(), "STOPPING=1");
    assert!(manager.drain().is_empty());
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares the reload stamp with.
fn monotonic_usec_now() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1_000
}

#[test]
fn watchdog_pings_follow_progress_not_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manager, socket) = path_manager(&dir);
    let n = ServiceManager::from_lookup(env(&[
        ("NOTIFY_SOCKET", socket),
        ("WATCHDOG_USEC", "40000".into()),
    ]));
    let interval = n
        .watchdog_interval()
        .expect("watchdog on without WATCHDOG_PID");
    assert_eq!(interval, Duration::from_millis(20));

    // A loop that makes three passes, then hangs: three pings, then silence for several
    // intervals, which is what lets systemd's watchdog fire and restart the service.
    let passes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let worker = {
        let (n, passes) = (n.clone(), passes.clone());
        std::thread::spawn(move || {
            for _ in 0..3 {
                std::thread::sleep(interval / 2);
                passes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                n.watchdog();
            }
        })
    };
    worker.join().expect("the loop");
    std::thread::sleep(interval * 5);
    assert_eq!(passes.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(manager.drain(), ["WATCHDOG=1"; 3]);
}

#[test]
fn no_watchdog_when_it_is_off_or_meant_for_another_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (manager, socket) = path_manager(&dir);
    let other_pid = (std::process::id() + 1).to_string();
    for vars in [
        vec![("NOTIFY_SOCKET", socket.clone())],
        vec![
            ("NOTIFY_SOCKET", socket.clone()),
            ("WATCHDOG_USEC", "1000000".into()),
            ("WATCHDOG_PID", other_pid.into()),
        ],
        vec![
            ("NOTIFY_SOCKET", socket.clone()),
            ("WATCHDOG_USEC", "0".into()),
        ],
    ] {
        let n = ServiceManager::from_lookup(env(&vars));
        assert_eq!(n.watchdog_interval(), None);
        n.watchdog();
        n.ready();
        assert_eq!(manager.recv(), "READY=1", "the watchdog sent nothing first");
    }
}

#[test]
fn an_abstract_socket_is_reached() {
    let name = format!("drover-notify-test-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
    let manager = Manager {
        socket: UnixDatagram::bind_addr(&addr).expect("bind"),
    };
    let n = ServiceManager::from_lookup(env(&[("NOTIFY_SOCKET", format!("@{name}").into())]));
    n.ready();
    assert_eq!(manager.recv(), "READY=1");
}

#[test]
fn without_a_manager_nothing_fails() {
    // No NOTIFY_SOCKET: every call is a no-op.
    let quiet = ServiceManager::from_lookup(|_| None);
    // A socket nobody listens on, and an address systemd never gives: sends fail, quietly.
    let dir = tempfile::tempdir().expect("tempdir");
    let gone = ServiceManager::from_lookup(env(&[
        ("NOTIFY_SOCKET", dir.path().join("absent").into_os_string()),
        ("WATCHDOG_USEC", "1000000".into()),
    ]));
    let relative = ServiceManager::from_lookup(env(&[
        ("NOTIFY_SOCKET", "relative/notify".into()),
        ("WATCHDOG_USEC", "1000000".into()),
    ]));
    assert_eq!(quiet.watchdog_interval(), None);
    assert_eq!(gone.watchdog_interval(), Some(Duration::from_millis(500)));
    assert_eq!(
        relative.watchdog_interval(),
        None,
        "unusable socket: no watchdog"
    );
    // (Not `from_env()`: under a CI runner started by systemd it would talk to the real one.)
    for n in [quiet, gone, relative] {
        n.ready();
        n.status("line");
        n.reloading();
        n.watchdog();
        n.stopping();
    }
}
