//! The tables the generator adds from: fallbacks, essentials, companions, vDSO calls,
//! equivalents. Each entry says why.

/// "New syscall with an older fallback": answered with ENOSYS when not observed, so the caller
/// falls back. Each entry says who falls back.
pub const FALLBACKS: &[(&str, &str)] = &[
    (
        "clone3",
        "glibc 2.34+ posix_spawn/pthread_create/system/popen fall back to clone only on ENOSYS \
         (FIELD-NOTES; Docker's default profile answers clone3 with ENOSYS too)",
    ),
    (
        "faccessat2",
        "glibc 2.33+ faccessat(AT_EACCESS/AT_SYMLINK_NOFOLLOW) falls back on ENOSYS (FIELD-NOTES)",
    ),
    (
        "statx",
        "glibc and Go fall back to fstatat/newfstatat on ENOSYS (FIELD-NOTES)",
    ),
    (
        "openat2",
        "callers of openat2 (runc 1.2+ via filepath-securejoin, systemd) fall back to openat on \
         ENOSYS",
    ),
    (
        "close_range",
        "glibc closefrom() and Python's os.closerange fall back to closing fds one by one",
    ),
    (
        "epoll_pwait2",
        "event loops that probe epoll_pwait2 for finer timeouts fall back to epoll_pwait on ENOSYS",
    ),
    (
        "futex_waitv",
        "Wine/Proton probe futex_waitv and fall back to futex on ENOSYS",
    ),
    (
        "fchmodat2",
        "glibc 2.39+ fchmodat(AT_SYMLINK_NOFOLLOW) tries fchmodat2 and falls back on ENOSYS",
    ),
    (
        "pidfd_open",
        "Go 1.23+ os/exec probes pidfd_open and keeps the classic wait path when it is absent",
    ),
    (
        "preadv2",
        "glibc preadv2 with flags 0 falls back to preadv on ENOSYS",
    ),
    (
        "pwritev2",
        "glibc pwritev2 with flags 0 falls back to pwritev on ENOSYS",
    ),
    (
        "copy_file_range",
        "Go's io.Copy and coreutils cp fall back to read/write when copy_file_range is absent",
    ),
    // 32-bit ABIs: glibc 2.34+ built for kernels before 5.1 (Debian's is) tries the 64-bit-time
    // syscall first and falls back to the old one on ENOSYS (sysdeps/unix/sysv/linux/*time64*).
    ("clock_gettime64", TIME64),
    ("clock_nanosleep_time64", TIME64),
    ("clock_getres_time64", TIME64),
    ("futex_time64", TIME64),
    ("ppoll_time64", TIME64),
    ("pselect6_time64", TIME64),
    ("utimensat_time64", TIME64),
    ("recvmmsg_time64", TIME64),
    ("semtimedop_time64", TIME64),
    ("rt_sigtimedwait_time64", TIME64),
    ("timerfd_settime64", TIME64),
    ("timerfd_gettime64", TIME64),
    ("timer_settime64", TIME64),
    ("timer_gettime64", TIME64),
    ("mq_timedsend_time64", TIME64),
    ("mq_timedreceive_time64", TIME64),
    ("sched_rr_get_interval_time64", TIME64),
];

pub(super) const TIME64: &str = "glibc 2.34+ on 32-bit ABIs tries the 64-bit-time syscall first and falls \
                      back to the old one on ENOSYS";

/// Allowed in every profile (unless `--no-essentials`): they take no argument that matters, do
/// nothing to anyone else, and are needed on paths a recording rarely takes. Without
/// `rt_sigreturn` the first signal handler that returns kills the program with SIGSEGV.
pub const ESSENTIALS: &[(&str, &str)] = &[
    (
        "rt_sigreturn",
        "returns from a signal handler; a recording sees it only if a signal arrived, and \
         without it the first handler that returns kills the program (SIGSEGV)",
    ),
    (
        "sigreturn",
        "i386: returns from a signal handler with an old-style frame (as rt_sigreturn)",
    ),
    (
        "restart_syscall",
        "the kernel restarts an interrupted sleep (nanosleep, poll, futex) with it after a \
         stop signal, e.g. SIGSTOP/SIGCONT or a debugger",
    ),
    (
        "exit",
        "ends a thread; a program that never ended a thread while recorded may do so later",
    ),
    (
        "exit_group",
        "ends the process; a program that was killed or exec'd away while recorded never \
         made it",
    ),
];

/// When a program was seen doing one of `when`, it may do the rest of `add` on a path the
/// recording did not take: contention, a full pipe, data not there yet, a child still running.
#[derive(Debug)]
pub struct Companion {
    pub when: &'static [&'static str],
    pub add: &'static [&'static str],
    pub reason: &'static str,
}

/// The companion rules (unless `--no-companions`). Each costs at most a handful of names, all
/// ordinary in Docker's default.
pub const COMPANIONS: &[Companion] = &[
    Companion {
        when: WAITS_ON_FDS,
        add: WAITS_ON_FDS,
        reason: "waits on file descriptors: a program that waits one way may wait another on \
                 a path not taken while recorded (xz polls only when its output pipe is full; \
                 event loops switch between poll, select and epoll)",
    },
    Companion {
        when: &["clone", "clone3", "fork", "vfork"],
        add: &["futex", "sched_yield"],
        reason: "threads and processes that share memory wait on each other's locks with futex \
                 only under contention, which a quiet recording may never see",
    },
    Companion {
        when: &["wait4", "waitid", "waitpid"],
        add: &["rt_sigsuspend"],
        reason: "a shell's wait builtin blocks in rt_sigsuspend only while the child is still \
                 running (dash, busybox sh); denied, the shell spins at 100% CPU",
    },
];

/// The ways to wait on file descriptors: the timing class's members (`timing.rs`).
const WAITS_ON_FDS: &[&str] = crate::timing::WAITS_ON_FDS;

/// Time calls that usually go through the vDSO, so a tracer does not see them, yet are
/// syscalls where the vDSO is unavailable (FIELD-NOTES: glibc fallbacks).
pub const VDSO: &[&str] = &[
    "clock_gettime",
    "clock_gettime64",
    "getcpu",
    "gettimeofday",
    "time",
];

/// Groups of syscalls that do the same thing; which one a program uses depends on its libc,
/// libc version and ABI. `--portable` allows every member of a group one of which was observed.
pub const EQUIVALENTS: &[&[&str]] = &[
    &["open", "openat", "openat2"],
    &[
        "stat",
        "lstat",
        "fstat",
        "newfstatat",
        "statx",
        "stat64",
        "lstat64",
        "fstat64",
        "fstatat64",
    ],
    &["clone", "clone3", "fork", "vfork"],
    &["poll", "ppoll", "ppoll_time64"],
    &["select", "_newselect", "pselect6", "pselect6_time64"],
    &["dup2", "dup3"],
    &["pipe", "pipe2"],
    &["access", "faccessat", "faccessat2"],
    &["epoll_wait", "epoll_pwait", "epoll_pwait2"],
    &["epoll_create", "epoll_create1"],
    &["eventfd", "eventfd2"],
    &["signalfd", "signalfd4"],
    &["inotify_init", "inotify_init1"],
    &["accept", "accept4"],
    &["chmod", "fchmodat", "fchmodat2"],
    &["chown", "lchown", "fchownat", "chown32", "lchown32"],
    &["rename", "renameat", "renameat2"],
    &["unlink", "unlinkat", "rmdir"],
    &["mkdir", "mkdirat"],
    &["link", "linkat"],
    &["symlink", "symlinkat"],
    &["readlink", "readlinkat"],
    &["getdents", "getdents64"],
    &["wait4", "waitid", "waitpid"],
    &[
        "utime",
        "utimes",
        "utimensat",
        "futimesat",
        "utimensat_time64",
    ],
    &["mmap", "mmap2"],
    &["sendfile", "sendfile64"],
    &["getrlimit", "ugetrlimit", "prlimit64"],
    &["nanosleep", "clock_nanosleep", "clock_nanosleep_time64"],
    &["futex", "futex_time64"],
    &["clock_gettime", "clock_gettime64"],
];
