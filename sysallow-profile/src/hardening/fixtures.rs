//! Hand-made `Privileges` for the tests, one per row measured on this machine's kernel
//! (6.18, `tp_btf/cap_capable`, counted per cgroup: /work/shared/CAPABILITIES.md, copied
//! into the README's capability section). Counts are the measured ones where the row gives
//! them; the split of the overcommit checks among syscalls is made up, their total is not.

use std::collections::{BTreeMap, BTreeSet};

use super::{Bundle, Options, decide};
use crate::abi::Abi;
use crate::privileges::{CapCheck, CapNamespace, PrivilegedExec, Privileges, RootFs, RootWrite};
use crate::recording::{CONTAINER_RUNTIME, Host, Recording, Target};

pub const HOOK: &str = "tp_btf/cap_capable";

/// A granted or denied check in the task's own namespace, outside overridden credentials,
/// NOAUDIT unknown (the tracepoint).
pub fn check(cap: &str, granted: bool, syscall: &str, program: &str, count: u64) -> CapCheck {
    CapCheck {
        capability: cap.to_owned(),
        granted,
        namespace: CapNamespace::Own,
        override_creds: false,
        noaudit: None,
        syscall: Some((Abi::X86_64, syscall.to_owned())),
        program: program.to_owned(),
        count,
    }
}

/// The 10 overcommit checks `true` makes (measured), split among its memory calls.
pub fn overcommit(program: &str) -> Vec<CapCheck> {
    vec![
        check("CAP_SYS_ADMIN", true, "mmap", program, 7),
        check("CAP_SYS_ADMIN", true, "brk", program, 2),
        check("CAP_SYS_ADMIN", true, "execve", program, 1),
    ]
}

pub fn privileges(checks: Vec<CapCheck>, euids: &[u32]) -> Privileges {
    Privileges {
        hook: HOOK.to_owned(),
        sees_noaudit: false,
        checks,
        privileged_execs: Vec::new(),
        euids: euids.iter().copied().collect::<BTreeSet<u32>>(),
        egids: euids.iter().copied().collect::<BTreeSet<u32>>(),
        root_fs: None,
    }
}

pub fn command(argv: &[&str], privileges: Privileges) -> Recording {
    let mut rec = Recording::new(
        Target::Command {
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            user: None,
        },
        host(),
        "2026-12-03T00:00:00Z".into(),
    );
    rec.privileges = Some(privileges);
    rec
}

pub fn container(name: &str, privileges: Privileges) -> Recording {
    let mut rec = Recording::new(
        Target::Container {
            id: "0123456789abcdef".into(),
            name: Some(name.to_owned()),
            engine: Some(crate::container::Engine::Docker),
            runtime: Some(crate::container::Runtime::Known(
                crate::runtime::OciRuntime::Runc,
            )),
            no_new_privileges: false,
            cgroup: "/system.slice/docker-0123456789abcdef.scope".into(),
        },
        host(),
        "2026-12-03T00:00:00Z".into(),
    );
    rec.privileges = Some(privileges);
    rec
}

fn host() -> Host {
    Host {
        kernel: "6.18.0".into(),
        arch: Abi::X86_64,
        libc: Some("glibc 2.36".into()),
    }
}

/// `true`: CAP_SYS_ADMIN granted ×10 (overcommit, advisory).
pub fn true_cmd() -> Recording {
    command(&["true"], privileges(overcommit("/usr/bin/true"), &[0]))
}

/// 1000 × mmap+munmap: CAP_SYS_ADMIN granted ×1019.
pub fn mmap_loop() -> Recording {
    command(
        &["mmap-loop"],
        privileges(
            vec![
                check(
                    "CAP_SYS_ADMIN",
                    true,
                    "mmap",
                    "/usr/local/bin/mmap-loop",
                    1016,
                ),
                check("CAP_SYS_ADMIN", true, "brk", "/usr/local/bin/mmap-loop", 2),
                check(
                    "CAP_SYS_ADMIN",
                    true,
                    "execve",
                    "/usr/local/bin/mmap-loop",
                    1,
                ),
            ],
            &[0],
        ),
    )
}

/// `chown 1:1 f` as root: CHOWN granted.
pub fn chown_as_root() -> Recording {
    let mut checks = overcommit("/usr/bin/chown");
    checks.push(check("CAP_CHOWN", true, "fchownat", "/usr/bin/chown", 1));
    command(&["chown", "1:1", "f"], privileges(checks, &[0]))
}

/// The same with CHOWN out of the bounding set (`setpriv --bounding-set -chown chown ...`):
/// CHOWN denied; SETPCAP granted (setpriv's own calls, dropping the bounding set).
pub fn chown_without_cap() -> Recording {
    let mut checks = overcommit("/usr/bin/setpriv");
    checks.push(check("CAP_CHOWN", false, "fchownat", "/usr/bin/chown", 1));
    checks.push(check("CAP_SETPCAP", true, "prctl", "/usr/bin/setpriv", 1));
    command(
        &["setpriv", "--bounding-set", "-chown", "chown", "1:1", "f"],
        privileges(checks, &[0]),
    )
}

/// `nice -n -5 true` as nobody: SYS_NICE denied (the real failure); DAC_OVERRIDE and
/// DAC_READ_SEARCH denied ×11 each (PATH search; the exec still worked).
pub fn nice_as_nobody() -> Recording {
    let mut checks = overcommit("/usr/bin/nice");
    checks.push(check(
        "CAP_SYS_NICE",
        false,
        "setpriority",
        "/usr/bin/nice",
        1,
    ));
    checks.push(check(
        "CAP_DAC_OVERRIDE",
        false,
        "execve",
        "/usr/bin/nice",
        11,
    ));
    checks.push(check(
        "CAP_DAC_READ_SEARCH",
        false,
        "execve",
        "/usr/bin/nice",
        11,
    ));
    command(&["nice", "-n", "-5", "true"], privileges(checks, &[65534]))
}

/// `nice -n -5 true` as root: SYS_NICE granted.
pub fn nice_as_root() -> Recording {
    let mut checks = overcommit("/usr/bin/nice");
    checks.push(check(
        "CAP_SYS_NICE",
        true,
        "setpriority",
        "/usr/bin/nice",
        1,
    ));
    command(&["nice", "-n", "-5", "true"], privileges(checks, &[0]))
}

/// Reading a mode-000 file of another user, as root: DAC_READ_SEARCH granted (DAC
/// capabilities are checked only after the ordinary check failed).
pub fn read_mode000_as_root() -> Recording {
    let mut checks = overcommit("/usr/bin/cat");
    checks.push(check(
        "CAP_DAC_READ_SEARCH",
        true,
        "openat",
        "/usr/bin/cat",
        1,
    ));
    command(&["cat", "secret"], privileges(checks, &[0]))
}

/// Binding :80 with ip_unprivileged_port_start=1024: NET_BIND_SERVICE granted.
pub fn bind80_on_host() -> Recording {
    let mut checks = overcommit("/usr/bin/python3.11");
    checks.push(check(
        "CAP_NET_BIND_SERVICE",
        true,
        "bind",
        "/usr/bin/python3.11",
        1,
    ));
    command(
        &["python3", "-m", "http.server", "80"],
        privileges(checks, &[0]),
    )
}

/// The same in a Docker container (the sysctl at 0 in its network namespace): no check at
/// all, and the runtime's own checks after the filter (runc without no-new-privileges).
pub fn bind80_in_docker() -> Recording {
    let mut checks = overcommit("/usr/local/bin/python3.11");
    checks.extend(runtime_tail());
    container("web", privileges(checks, &[0]))
}

/// What runc does after installing the filter without no-new-privileges (its capset and
/// setgroups), attributed to the runtime.
pub fn runtime_tail() -> Vec<CapCheck> {
    vec![
        check("CAP_SETPCAP", true, "capset", CONTAINER_RUNTIME, 1),
        check("CAP_SETGID", true, "setgroups", CONTAINER_RUNTIME, 1),
        check("CAP_SETUID", true, "setresuid", CONTAINER_RUNTIME, 1),
    ]
}

/// `docker run IMAGE true`: the runtime's tail and the overcommit checks.
pub fn docker_true() -> Recording {
    let mut checks = overcommit("/usr/bin/true");
    checks.extend(runtime_tail());
    container("true", privileges(checks, &[0]))
}

/// `unshare -Ur`, then mount a tmpfs: SYS_ADMIN granted in the task's own child user
/// namespace.
pub fn unshare_then_mount() -> Recording {
    let mut checks = overcommit("/usr/bin/mount");
    let mut mount = check("CAP_SYS_ADMIN", true, "mount", "/usr/bin/mount", 1);
    mount.namespace = CapNamespace::Child;
    checks.push(mount);
    command(
        &["unshare", "-Ur", "mount", "-t", "tmpfs", "x", "/mnt"],
        privileges(checks, &[1000]),
    )
}

/// A tmpfs mount as root, in the task's own namespace: SYS_ADMIN required.
pub fn mount_as_root() -> Recording {
    let mut checks = overcommit("/usr/bin/mount");
    checks.push(check("CAP_SYS_ADMIN", true, "mount", "/usr/bin/mount", 1));
    command(
        &["mount", "-t", "tmpfs", "x", "/mnt"],
        privileges(checks, &[0]),
    )
}

/// A binary with `setcap cap_net_bind_service+ep`, run as uid 1000, binding :80.
pub fn setcap_bind() -> Recording {
    let program = "/usr/local/bin/server";
    let mut checks = overcommit(program);
    checks.push(check("CAP_NET_BIND_SERVICE", true, "bind", program, 1));
    let mut p = privileges(checks, &[1000]);
    p.privileged_execs.push(PrivilegedExec {
        program: program.to_owned(),
        setuid: false,
        setgid: false,
        file_caps: vec!["CAP_NET_BIND_SERVICE".to_owned()],
        count: 1,
    });
    command(&["server", "--port", "80"], p)
}

/// A setuid-root binary run by uid 1000 (`id` copied and chmod u+s).
pub fn setuid_exec() -> Recording {
    let program = "/usr/local/bin/suid-id";
    let mut p = privileges(overcommit(program), &[1000, 0]);
    p.privileged_execs.push(PrivilegedExec {
        program: program.to_owned(),
        setuid: true,
        setgid: false,
        file_caps: Vec::new(),
        count: 1,
    });
    command(&["suid-id"], p)
}

/// nginx in Docker (the official image's measured behaviour, by hand): the master starts as
/// root, creates its cache directories and gives them to user nginx (101), switches its
/// workers to 101; writes its pid file and cache; the entrypoint rewrites a shipped config.
pub fn nginx_container() -> Recording {
    let nginx = "/usr/sbin/nginx";
    let mut checks = overcommit(nginx);
    checks.extend(runtime_tail());
    checks.push(check("CAP_CHOWN", true, "fchown", nginx, 5));
    checks.push(check("CAP_SETGID", true, "setgid", nginx, 2));
    checks.push(check("CAP_SETGID", true, "setgroups", nginx, 2));
    checks.push(check("CAP_SETUID", true, "setuid", nginx, 2));
    checks.push(check("CAP_SYS_ADMIN", true, "pwrite64", nginx, 3));
    let mut p = privileges(checks, &[0, 101]);
    p.root_fs = Some(RootFs {
        writes: vec![
            RootWrite {
                path: "/var/cache/nginx/client_temp".into(),
                in_image: false,
                dir: true,
            },
            RootWrite {
                path: "/var/cache/nginx/proxy_temp".into(),
                in_image: false,
                dir: true,
            },
            RootWrite {
                path: "/run/nginx.pid".into(),
                in_image: false,
                dir: false,
            },
            RootWrite {
                path: "/etc/nginx/conf.d/default.conf".into(),
                in_image: true,
                dir: false,
            },
        ],
        image_entries: BTreeMap::from([
            ("/var/cache/nginx".to_owned(), 0),
            ("/var/cache".to_owned(), 2),
            ("/run".to_owned(), 0),
            ("/etc/nginx/conf.d".to_owned(), 1),
        ]),
    });
    container("nginx", p)
}

/// A static web server in a container that runs as root, needs no capability, writes only
/// in /tmp: everything fits.
pub fn quiet_container() -> Recording {
    let program = "/app/server";
    let mut checks = overcommit(program);
    checks.extend(runtime_tail());
    let mut p = privileges(checks, &[0]);
    p.root_fs = Some(RootFs {
        writes: vec![RootWrite {
            path: "/tmp/cache.db".into(),
            in_image: false,
            dir: false,
        }],
        image_entries: BTreeMap::from([("/tmp".to_owned(), 0)]),
    });
    container("quiet", p)
}

/// The bundle for `rec`, with a seccomp profile named `profile.json`.
pub fn bundle(rec: &Recording) -> Bundle {
    let options = Options {
        user: None,
        seccomp: Some(super::SeccompRef {
            path: "profile.json".into(),
            localhost_profile: "profiles/profile.json".into(),
        }),
        name: Some("app".into()),
    };
    match decide(std::slice::from_ref(rec), &options) {
        Ok(h) => Bundle::new(h, super::describe_target(&rec.target), &options),
        Err(e) => panic!("fixture does not decide: {e}"),
    }
}
