//! When a container's counts are written: when it exits (its cgroup is empty or gone), when its
//! pod is removed, and, while it runs, once nothing new appeared for `--stable-after` (as
//! `record --until-stable`), again each time something new appeared and settled.

use std::time::Duration;

/// What the kernel has for a container now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Distinct (ABI, syscall) its workload made.
    pub syscalls: usize,
    /// When the newest of them first appeared (CLOCK_MONOTONIC ns).
    pub last_new_ns: Option<u64>,
}

/// What was written for it last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub syscalls: usize,
    pub last_new_ns: Option<u64>,
}

impl From<Seen> for Written {
    fn from(seen: Seen) -> Written {
        Written {
            syscalls: seen.syscalls,
            last_new_ns: seen.last_new_ns,
        }
    }
}

/// Why a container is written now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Not now.
    Wait,
    /// It runs, and nothing new appeared for `--stable-after` since something new did.
    Stable,
    /// It exited or its pod was removed: the last write, then its slots are released.
    Final,
}

/// Decide for one container at CLOCK_MONOTONIC `now_ns`. `ended`: its cgroup is empty or gone,
/// or its pod was removed.
pub fn decide(
    seen: Seen,
    written: Option<Written>,
    ended: bool,
    now_ns: u64,
    stable_after: Duration,
) -> Flush {
    if ended {
        return Flush::Final;
    }
    let Some(last_new) = seen.last_new_ns else {
        return Flush::Wait;
    };
    let changed = match written {
        None => true,
        Some(w) => w.syscalls != seen.syscalls || w.last_new_ns != seen.last_new_ns,
    };
    let quiet = now_ns.saturating_sub(last_new) >= stable_after.as_nanos() as u64;
    if changed && quiet {
        Flush::Stable
    } else {
        Flush::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn written_when_stable_again_when_new_and_at_the_end() {
        let after = Duration::from_secs(30);
        let seen = Seen {
            syscalls: 40,
            last_new_ns: Some(100 * S),
        };
        // Nothing yet: wait.
        assert_eq!(
            decide(Seen::default(), None, false, 500 * S, after),
            Flush::Wait
        );
        // New 10 s ago: not stable yet.
        assert_eq!(decide(seen, None, false, 110 * S, after), Flush::Wait);
        // 30 s quiet: write.
        assert_eq!(decide(seen, None, false, 130 * S, after), Flush::Stable);
        // Written, nothing new since: never again while it runs.
        let written = Some(Written::from(seen));
        assert_eq!(decide(seen, written, false, 900 * S, after), Flush::Wait);
        // Something new appeared: written again once that settles.
        let more = Seen {
            syscalls: 41,
            last_new_ns: Some(200 * S),
        };
        assert_eq!(decide(more, written, false, 210 * S, after), Flush::Wait);
        assert_eq!(decide(more, written, false, 230 * S, after), Flush::Stable);
        // Its end is always written, also when nothing changed or nothing was seen.
        assert_eq!(decide(seen, written, true, 101 * S, after), Flush::Final);
        assert_eq!(decide(Seen::default(), None, true, 0, after), Flush::Final);
    }
}
