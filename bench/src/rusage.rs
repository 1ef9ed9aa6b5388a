//! CPU time and peak RSS of one child process, from `wait4`, and the CPU
//! time of a running process (the broker's), from `/proc`.
//!
//! This is the only unsafe code of the crate (`wait4`, `getrusage`, and
//! `sysconf` for the clock tick of `/proc`'s times): the standard library reaps
//! children with `waitpid`, which drops the resource usage the kernel
//! hands back, so we call `wait4` ourselves. `getrusage(RUSAGE_CHILDREN)`
//! would sum every child so far and keep the largest RSS of any of them;
//! `wait4` gives exactly the one child just reaped.
//!
//! A child's `ru_maxrss` also counts the memory image it was started
//! from: the kernel keeps the larger of the two when the child execs, and
//! a spawned child runs on its parent's image until then. Started by the
//! bench itself, every client would read at least the bench's own peak
//! (about 9 MB), which hides the small scenarios' differences. So clients
//! are started through [`launch`], a fresh, small process of this binary
//! that only spawns, waits and reports.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
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

/// User plus system CPU time of the processes `pids` so far (threads
/// that ended included), from `/proc/PID/stat`; `None` if one of them
/// cannot be read (gone, or not Linux), or there is none. Tick-grained (10 ms at the usual
/// 100 Hz): good for a share of a run, not for one request.
pub fn cpu_of(pids: &[u32]) -> Option<Duration> {
    if pids.is_empty() {
        return None;
    }
    // SAFETY: `sysconf` only reads a configuration value.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&hz| hz > 0)?;
    let mut ticks = 0u64;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        ticks += stat_ticks(&stat)?;
    }
    Some(Duration::from_micros(ticks * 1_000_000 / hz))
}

/// utime + stime of one `/proc/PID/stat` line. The command name, in
/// parentheses, may itself hold spaces and parentheses: fields are
/// counted from the last `)`.
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state (field 3) ... utime (14), stime (15).
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The first word of the line [`launch`] adds after its child's output.
const LAUNCHED: &str = "launched";

/// `__launch LIMIT_SECS PROGRAM [ARGS...]`: runs `PROGRAM` (killing it
/// after `LIMIT_SECS`), passes its output on and adds a line with its
/// exit code, CPU time and peak RSS, which [`launched`] reads back.
pub fn launch(args: &[String]) -> Result<(), Error> {
    let [limit, program, rest @ ..] = args else {
        return Err("usage: __launch LIMIT_SECS PROGRAM [ARGS...]".into());
    };
    let limit = Duration::from_secs(limit.parse()?);
    let child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let (status, usage, out) = wait_with_usage(child, limit)?;
    print!("{out}");
    if !out.is_empty() && !out.ends_with('\n') {
        println!();
    }
    println!(
        "{LAUNCHED} code={} cpu_us={} max_rss_kib={}",
        status.code().unwrap_or(-1),
        usage.cpu.as_micros(),
        usage.max_rss_kib
    );
    Ok(())
}

/// Splits what a [`launch`] printed into its child's output, the child's
/// exit code and its usage.
pub fn launched(out: &str) -> Option<(&str, i32, Usage)> {
    let body = out.strip_suffix('\n').unwrap_or(out);
    let (child_out, last) = match body.rfind('\n') {
        Some(at) => (&body[..=at], &body[at + 1..]),
        None => ("", body),
    };
    let mut words = last.split(' ');
    if words.next() != Some(LAUNCHED) {
        return None;
    }
    let mut field = |name: &str| {
        words
            .next()?
            .strip_prefix(name)?
            .strip_prefix('=')
            .map(str::to_owned)
    };
    let code = field("code")?.parse().ok()?;
    let cpu_us: u64 = field("cpu_us")?.parse().ok()?;
    let max_rss_kib = field("max_rss_kib")?.parse().ok()?;
    Some((
        child_out,
        code,
        Usage {
            cpu: Duration::from_micros(cpu_us),
            max_rss_kib,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_report_splits_from_the_child_output() {
        let out = "result records=5\nlaunched code=0 cpu_us=1500 max_rss_kib=2048\n";
        let (child, code, usage) = launched(out).unwrap();
        assert_eq!(child, "result records=5\n");
        assert_eq!(code, 0);
        assert_eq!(usage.cpu, Duration::from_micros(1500));
        assert_eq!(usage.max_rss_kib, 2048);
        let (child, code, _) = launched("launched code=3 cpu_us=0 max_rss_kib=1").unwrap();
        assert_eq!((child, code), ("", 3));
        assert!(launched("result records=5\n").is_none());
        assert!(launched("launched code=0 cpu=1 max_rss_kib=1").is_none());
    }

    #[test]
    fn cpu_ticks_are_read_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 120 35 0 0 20 0 4";
        assert_eq!(stat_ticks(stat), Some(155));
        assert_eq!(stat_ticks("4242 (x) S 1 2"), None);
        assert_eq!(stat_ticks("no name here"), None);
        // This process has used some CPU by now, and a pid that cannot
        // exist reads as unknown.
        let me = [std::process::id()];
        let own = cpu_of(&me).unwrap();
        let busy = Instant::now();
        while cpu_of(&me).unwrap() <= own && busy.elapsed() < Duration::from_secs(5) {
            std::hint::black_box(busy.elapsed());
        }
        assert!(cpu_of(&me).unwrap() > own, "spinning counts as CPU time");
        assert_eq!(cpu_of(&[u32::MAX]), None);
        assert_eq!(cpu_of(&[]), None, "no broker process, no reading");
    }
}
