//! CPU time and peak RSS of one child process, from `wait4`.
//!
//! This is the only unsafe code of the crate: the standard library reaps
//! children with `waitpid`, which drops the resource usage the kernel
//! hands back, so we call `wait4` ourselves. `getrusage(RUSAGE_CHILDREN)`
//! would sum every child so far and keep the largest RSS of any of them;
//! `wait4` gives exactly the one child just reaped.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use crate::Error;

/// What the kernel accounted to one child.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Peak resident set size in KiB (`ru_maxrss` on Linux).
    pub max_rss_kib: u64,
}

/// Waits for `child` (killing it after `limit`), returning its exit
/// status, resource usage and everything it wrote to its piped stdout.
pub fn wait_with_usage(
    mut child: Child,
    limit: Duration,
) -> Result<(ExitStatus, Usage, String), Error> {
    let mut stdout = child.stdout.take().ok_or("child stdout is not piped")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let pid = libc::pid_t::try_from(child.id()).map_err(|_| "child pid out of range")?;
    let deadline = Instant::now() + limit;
    let mut killed = false;
    let (status, usage) = loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `rusage` is plain old data, for which all-zero bytes are
        // a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to live, writable locals of the right
        // types; `pid` is our own unreaped child, so this cannot reap a
        // process some other code waits for.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("wait4: {e}").into());
        }
        if !killed && Instant::now() > deadline {
            eprintln!("   child exceeded {} s: killing it", limit.as_secs());
            let _ = child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = reader
        .join()
        .map_err(|_| "stdout reader panicked")?
        .map_err(|e| format!("reading child stdout: {e}"))?;
    if killed {
        return Err(format!("child killed after {} s", limit.as_secs()).into());
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok((
        ExitStatus::from_raw(status),
        Usage {
            cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
            max_rss_kib: usage.ru_maxrss as u64,
        },
        out,
    ))
}

/// Peak RSS of this process so far, in KiB.
pub fn own_max_rss_kib() -> u64 {
    // SAFETY: as in `wait_with_usage`, all-zero bytes are a valid `rusage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a live, writable `rusage`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    usage.ru_maxrss as u64
}
