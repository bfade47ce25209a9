//! While a recording runs: a status line on a terminal, and `--until-stable`, which ends the
//! recording once nothing new has appeared for a while. Both read the kernel's first-seen
//! times (`Tracer::progress`), a few times a second, from outside the recorded cgroup.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use sysallow_profile::Abi;

use crate::ebpf::{Progress, Tracer, TracerError};

/// What to do while recording.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveOptions {
    /// End the recording once no new (ABI, syscall) has appeared for this long.
    pub until_stable: Option<Duration>,
    /// Show a status line on stderr (only where stderr is a terminal).
    pub status_line: bool,
}

impl LiveOptions {
    /// The status line is shown only where stderr is a terminal.
    pub fn for_terminal(until_stable: Option<Duration>) -> LiveOptions {
        LiveOptions {
            until_stable,
            status_line: std::io::stderr().is_terminal(),
        }
    }

    fn wanted(&self) -> bool {
        self.until_stable.is_some() || self.status_line
    }
}

/// How often the kernel's first-seen times are read.
const TICK: Duration = Duration::from_millis(250);

/// The live side of one recording.
pub struct Live {
    options: LiveOptions,
    start: Instant,
    /// CLOCK_MONOTONIC at `start`, the clock of the kernel's first-seen times.
    start_ns: u64,
    next_tick: Instant,
    shown: bool,
}

impl Live {
    pub fn new(options: LiveOptions, start: Instant, start_ns: u64) -> Live {
        Live {
            options,
            start,
            start_ns,
            next_tick: start,
            shown: false,
        }
    }

    /// Call often; reads the kernel at most every [`TICK`]. True once the recording is
    /// stable (nothing new for `until_stable`, and something was seen at all).
    pub fn tick(&mut self, tracer: &Tracer, host: Abi) -> Result<bool, TracerError> {
        if !self.options.wanted() || Instant::now() < self.next_tick {
            return Ok(false);
        }
        self.next_tick = Instant::now() + TICK;
        let progress = tracer.progress(host)?;
        let now_ns = monotonic_ns();
        if self.options.status_line {
            self.show(&progress, now_ns);
        }
        Ok(match (self.options.until_stable, &progress.last_new) {
            (Some(quiet), Some((last_ns, _, _))) => {
                Duration::from_nanos(now_ns.saturating_sub(*last_ns)) >= quiet
            }
            _ => false,
        })
    }

    fn show(&mut self, progress: &Progress, now_ns: u64) {
        let last = match &progress.last_new {
            Some((ns, abi, name)) => {
                let at = Duration::from_nanos(ns.saturating_sub(self.start_ns)).as_secs_f64();
                let ago = Duration::from_nanos(now_ns.saturating_sub(*ns)).as_secs_f64();
                let abi = if *abi == Abi::native() {
                    String::new()
                } else {
                    format!(" ({abi})")
                };
                format!("; last new: {name}{abi} at {at:.1} s, {ago:.1} s ago")
            }
            None => String::new(),
        };
        let line = format!(
            "sysallow: {:.1} s, {} syscalls, {} programs{last}",
            self.start.elapsed().as_secs_f64(),
            progress.syscalls,
            progress.slots,
        );
        let mut err = std::io::stderr().lock();
        // \r and "erase line": the line is redrawn in place.
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.shown = true;
    }

    /// Clear the status line, so the summary that follows starts on a clean line.
    pub fn finish(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.finish();
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| {
            u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
                + u64::try_from(t.tv_nsec()).unwrap_or(0)
        })
        .unwrap_or(0)
}
