//! The tracer as a node agent drives it (library level: `sysallow::ebpf::Tracer`, no CLI): one
//! armed parent in leaf-split mode (`TARGET_LEAF`) with containers simulated by nested cgroups
//! at depths 2 and 3 (`P/podX/ctr`, `P/besteffort/podX/ctr`) running real processes; children
//! ignored before and after their first syscall; finished children released and their slots
//! reused by more children than the slot limit holds. Counts are compared with what a known
//! program makes (`workloads/calls.c`: exactly N getppid calls). Root.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sysallow::cgroup::Cgroup2Mount;
use sysallow::ebpf::{ArmedTarget, Root, TargetCounts, Tracer, TracerError};
use sysallow_common::{MAX_SLOTS, TARGET_BOUNDARY, TARGET_LEAF};
use sysallow_profile::Abi;
use sysallow_profile::recording::{CONTAINER_RUNTIME, UNATTRIBUTED};

use crate::common;

/// A cgroup tree of the test's own under the v2 mount: every process in it is killed and every
/// directory removed (deepest first) on drop, also on panic.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        let mount = Cgroup2Mount::find().unwrap();
        let root = mount
            .path
            .join(format!("sysallow-agent-{tag}-{}", std::process::id()));
        let tree = Tree { root };
        // A stale one from a killed run of this test with the same pid: clear it first.
        tree.clear();
        std::fs::create_dir(&tree.root).unwrap();
        tree
    }

    /// `rel` below the root, created with its parents.
    fn dir(&self, rel: &str) -> PathBuf {
        let dir = self.root.join(rel);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn clear(&self) {
        if !self.root.exists() {
            return;
        }
        let mut dirs = sysallow::cgroup::tree(&self.root);
        // Deepest first.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in &dirs {
            let _ = std::fs::write(dir.join("cgroup.kill"), "1");
        }
        for dir in &dirs {
            for _ in 0..200 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The cgroup id of a directory: its inode number.
fn id(dir: &Path) -> u64 {
    std::fs::metadata(dir).unwrap().ino()
}

/// Start `script` under `sh`, which first moves itself into `dir` (so all of it runs there).
fn start_in(dir: &Path, script: &str) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec sh -c '{script}'",
            dir.display()
        ))
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// Run `calls n` in `dir` to its end.
fn calls_in(dir: &Path, calls: &Path, n: u64) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec {} {n}",
            dir.display(),
            calls.display()
        ))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// A loaded tracer armed on `parent` in leaf-split mode, with `slots` program slots.
fn leaf_tracer(parent: &Path, slots: u32) -> (Tracer, ArmedTarget) {
    leaf_tracer_with(parent, slots, 0)
}

/// Likewise, with more `TARGET_*` flags.
fn leaf_tracer_with(parent: &Path, slots: u32, flags: u32) -> (Tracer, ArmedTarget) {
    leaf_tracer_full(parent, slots, flags, false, false)
}

/// Likewise, recording capability checks or not (the agent does), and failed syscalls or not
/// (`agent --exit-facts`).
fn leaf_tracer_full(
    parent: &Path,
    slots: u32,
    flags: u32,
    capabilities: bool,
    exit_facts: bool,
) -> (Tracer, ArmedTarget) {
    let tracefs = sysallow::privilege::tracefs().unwrap();
    let mount = Cgroup2Mount::find().unwrap();
    let dir = mount.open(parent).unwrap();
    Tracer::load(
        &tracefs,
        &Root {
            cgroup_id: dir.id,
            level: dir.level,
            flags: TARGET_LEAF | flags,
            running: Vec::new(),
            slots,
            capabilities,
            exit_facts,
        },
    )
    .unwrap()
}

fn getppid() -> u32 {
    Abi::native().syscall_nr("getppid").unwrap()
}

/// A program's counts in a target: syscall number -> count.
fn program_counts(counts: &TargetCounts, program: &str) -> BTreeMap<u32, u64> {
    counts
        .counts
        .iter()
        .filter(|((_, _, p), _)| p == program)
        .map(|((_, nr, _), n)| (*nr, *n))
        .collect()
}

/// getppid calls counted in a target, over all its programs.
fn getppids(counts: &TargetCounts) -> u64 {
    counts
        .counts
        .iter()
        .filter(|((_, nr, _), _)| *nr == getppid())
        .map(|(_, n)| n)
        .sum()
}

fn child_of(tracer: &Tracer, cgroup_id: u64) -> Option<ArmedTarget> {
    tracer
        .child_targets()
        .unwrap()
        .into_iter()
        .find(|c| c.cgroup_id == cgroup_id)
}

/// Every getppid counted by the tracer: the parent's and every child's.
fn all_getppids(tracer: &Tracer, parent: &ArmedTarget) -> u64 {
    let host = Abi::native();
    let mut total = getppids(&tracer.counts(parent, host).unwrap());
    for child in tracer.child_targets().unwrap() {
        total += getppids(&tracer.counts(&child, host).unwrap());
    }
    total
}

fn assert_no_losses(tracer: &Tracer) {
    assert_eq!(tracer.losses().unwrap().nonzero(), vec![]);
}

#[test]
fn leaf_mode_makes_each_container_at_any_depth_a_target_from_its_first_syscall() {
    require!(root, gcc);
    let work = tempfile::tempdir().unwrap();
    let calls = common::compile_workload(work.path(), "calls", &[]);
    let calls_path = std::fs::canonicalize(&calls).unwrap();
    let program = calls_path.to_str().unwrap();
    let tree = Tree::new("leaf");
    let (tracer, parent) = leaf_tracer(&tree.root, MAX_SLOTS);
    let host = Abi::native();

    // Made after the programs were loaded: the tracer learns of them only from the kernel.
    let deep = tree.dir("besteffort/pod-a/ctr-1");
    let shallow = tree.dir("pod-b/ctr-2");
    calls_in(&deep, &calls, 1001);
    calls_in(&shallow, &calls, 2002);
    // A task in the armed cgroup itself stays the parent's.
    calls_in(&tree.root, &calls, 3003);
    // Unrelated: the test's own cgroup, outside the armed one.
    let mut outside = Command::new(&calls).arg("4004").spawn().unwrap();
    assert!(outside.wait().unwrap().success());

    let children = tracer.child_targets().unwrap();
    let ids: Vec<u64> = children.iter().map(|c| c.cgroup_id).collect();
    assert_eq!(children.len(), 2, "{children:?}");
    assert!(
        ids.contains(&id(&deep)) && ids.contains(&id(&shallow)),
        "{ids:?}"
    );
    // No intermediate cgroup (the QoS and pod levels hold no task) became a target.
    for rel in ["besteffort", "besteffort/pod-a", "pod-b"] {
        assert!(!ids.contains(&id(&tree.root.join(rel))), "{rel}");
    }

    let parent_counts = tracer.counts(&parent, host).unwrap();
    assert_eq!(getppids(&parent_counts), 3003);
    let reference = program_counts(&parent_counts, program);
    let mut without_marker = reference.clone();
    without_marker.remove(&getppid());
    for (dir, n) in [(&deep, 1001), (&shallow, 2002)] {
        let child = child_of(&tracer, id(dir)).unwrap();
        let counts = tracer.counts(&child, host).unwrap();
        let mine = program_counts(&counts, program);
        assert_eq!(mine.get(&getppid()), Some(&n), "{}", dir.display());
        // The same program makes the same calls in a child as in the parent, apart from its
        // marker: counted whole, from its start.
        let mut rest = mine.clone();
        rest.remove(&getppid());
        assert_eq!(rest, without_marker, "{}", dir.display());
        // Before its exec, the shell that moved itself in: its first syscalls there (the exec
        // itself among them) are the child's, not lost to a target made later.
        let execve = host.syscall_nr("execve").unwrap();
        let before = program_counts(&counts, UNATTRIBUTED);
        assert_eq!(
            before.get(&execve),
            Some(&1),
            "{}: {before:?}",
            dir.display()
        );
    }
    // One read of every child (a periodic flush) gives what each read alone gives.
    let children = tracer.child_targets().unwrap();
    let together = tracer.counts_of(&children, host).unwrap();
    assert_eq!(together.len(), children.len());
    for (child, flushed) in children.iter().zip(&together) {
        let alone = tracer.counts(child, host).unwrap();
        assert_eq!(flushed.counts, alone.counts);
        assert_eq!(flushed.first_seen, alone.first_seen);
        assert_eq!(flushed.setup, alone.setup);
        assert!(!flushed.counts.is_empty());
    }
    // The unrelated process counted nowhere.
    assert_eq!(all_getppids(&tracer, &parent), 1001 + 2002 + 3003);
    assert_no_losses(&tracer);
}

#[test]
fn an_ignored_child_is_not_counted_whether_ignored_before_or_after_its_first_syscall() {
    require!(root, gcc);
    let work = tempfile::tempdir().unwrap();
    let calls = common::compile_workload(work.path(), "calls", &[]);
    let calls_path = std::fs::canonicalize(&calls).unwrap();
    let program = calls_path.to_str().unwrap();
    let tree = Tree::new("ignore");
    let (mut tracer, parent) = leaf_tracer(&tree.root, MAX_SLOTS);
    let host = Abi::native();

    // Before: a pause container the agent knows it does not want, ignored before it runs.
    let pause = tree.dir("pod-i/pause");
    let released = tracer.ignore_child(id(&pause)).unwrap();
    assert!(released.slots.is_empty(), "{released:?}");
    calls_in(&pause, &calls, 500);
    assert!(child_of(&tracer, id(&pause)).is_none());

    // After: a container that has run (and is still running) when the agent decides.
    let late = tree.dir("pod-i/ctr");
    let fifo = work.path().join("go");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut running = start_in(
        &late,
        &format!(
            "{calls} 700; read x < {fifo}; {calls} 900",
            calls = calls_path.display(),
            fifo = fifo.display()
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let child = loop {
        // The calls' own (the shell running them makes a getppid of its own at start).
        if let Some(child) = child_of(&tracer, id(&late))
            && program_counts(&tracer.counts(&child, host).unwrap(), program).get(&getppid())
                == Some(&700)
        {
            break child;
        }
        assert!(
            Instant::now() < deadline,
            "the first 700 calls were not counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let released = tracer.ignore_child(id(&late)).unwrap();
    // Its base and set-up slots, and the slots of the programs it ran (sh, calls).
    assert!(
        released.slots.contains(&child.info.base_slot),
        "{released:?}"
    );
    assert!(
        released.slots.contains(&child.info.setup_slot),
        "{released:?}"
    );
    assert!(released.slots.len() >= 3, "{released:?}");
    assert!(child_of(&tracer, id(&late)).is_none());
    // Ignoring again is nothing new.
    assert!(tracer.ignore_child(id(&late)).unwrap().slots.is_empty());
    std::fs::write(&fifo, "go\n").unwrap();
    assert!(running.wait().unwrap().success());

    // Nothing of either counted anywhere (the 700 went with the freed slots).
    assert_eq!(all_getppids(&tracer, &parent), 0);
    // The freed slots are whole again: a new container takes them and counts only its own.
    let next = tree.dir("pod-j/ctr");
    calls_in(&next, &calls, 321);
    let newcomer = child_of(&tracer, id(&next)).unwrap();
    assert!(
        released.slots.contains(&newcomer.info.base_slot),
        "{newcomer:?}"
    );
    let counts = tracer.counts(&newcomer, host).unwrap();
    assert_eq!(getppids(&counts), 321);
    assert_eq!(all_getppids(&tracer, &parent), 321);
    // Ignored children stay known until released; then they are forgotten (one gone, one
    // still there but empty), freeing nothing more.
    let mut both = vec![id(&pause), id(&late)];
    both.sort_unstable();
    assert_eq!(tracer.ignored_children().unwrap(), both);
    std::fs::remove_dir(&pause).unwrap();
    for cgroup_id in both {
        assert!(tracer.release_child(cgroup_id).unwrap().slots.is_empty());
    }
    assert!(tracer.ignored_children().unwrap().is_empty());
    assert_no_losses(&tracer);
}

#[test]
fn released_children_give_their_slots_to_more_children_than_the_limit_holds() {
    require!(root, gcc);
    let work = tempfile::tempdir().unwrap();
    let calls = common::compile_workload(work.path(), "calls", &[]);
    let tree = Tree::new("release");
    // The parent's 2 slots and room for 2 containers of 3 slots (base, set-up, `calls`).
    const SLOTS: u32 = 8;
    let (mut tracer, parent) = leaf_tracer(&tree.root, SLOTS);
    let host = Abi::native();

    // A child still running cannot be released.
    let busy = tree.dir("pod-busy/ctr");
    let mut sleeper = start_in(&busy, "exec sleep 600");
    let deadline = Instant::now() + Duration::from_secs(10);
    // Until it is a target and has exec'd `sleep` (its own program slot): killed earlier, on a
    // busy machine, it would hold one program slot fewer.
    let comm = format!("/proc/{}/comm", sleeper.id());
    while child_of(&tracer, id(&busy)).is_none()
        || std::fs::read_to_string(&comm).unwrap_or_default().trim() != "sleep"
    {
        assert!(
            Instant::now() < deadline,
            "the sleeper never made a syscall or never exec'd sleep"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = tracer.release_child(id(&busy)).unwrap_err();
    assert!(matches!(err, TracerError::ChildInUse { .. }), "{err}");
    assert!(child_of(&tracer, id(&busy)).is_some());
    common::harness::signal(sleeper.id() as i32, libc::SIGKILL);
    sleeper.wait().unwrap();
    let released = tracer.release_child(id(&busy)).unwrap();
    // Base, set-up, and the two programs it exec'd (sh, sleep).
    assert_eq!(released.slots.len(), 4, "{released:?}");

    // 12 containers, 6 times what the slots hold; two at a time, half of them released while
    // their cgroup is still there (empty), half once it is gone.
    let mut bases = std::collections::BTreeSet::new();
    for round in 0..6u64 {
        let pair: Vec<(PathBuf, u64)> = (0..2u64)
            .map(|i| {
                let n = 100 * round + 10 * i + 7;
                (tree.dir(&format!("besteffort/pod-{round}-{i}/ctr")), n)
            })
            .collect();
        for (dir, n) in &pair {
            calls_in(dir, &calls, *n);
        }
        for (i, (dir, n)) in pair.iter().enumerate() {
            let child = child_of(&tracer, id(dir))
                .unwrap_or_else(|| panic!("round {round}: {} is no target", dir.display()));
            bases.insert(child.info.base_slot);
            let counts = tracer.counts(&child, host).unwrap();
            // Exactly its own: nothing left over from the children that had its slots before.
            assert_eq!(getppids(&counts), *n, "round {round}: {}", dir.display());
            let cgroup_id = id(dir);
            if i == 1 {
                std::fs::remove_dir(dir).unwrap();
            }
            let released = tracer.release_child(cgroup_id).unwrap();
            assert_eq!(released.slots.len(), 3, "round {round}: {released:?}");
            assert!(released.slots.iter().all(|s| *s < SLOTS), "{released:?}");
            assert!(child_of(&tracer, cgroup_id).is_none());
        }
    }
    assert!(bases.len() <= 2, "only two children fit at once: {bases:?}");
    // Released children leave nothing counted behind.
    assert_eq!(all_getppids(&tracer, &parent), 0);
    assert_no_losses(&tracer);
}

#[test]
fn a_released_child_s_capability_checks_and_ids_do_not_pass_to_the_child_reusing_its_slots() {
    require!(root);
    let tree = Tree::new("caps-release");
    // The parent's 2 slots and exactly one container of 5 (base, set-up, sh and two programs):
    // the second container can only have the first one's slots.
    const SLOTS: u32 = 7;
    let (mut tracer, _parent) = leaf_tracer_full(&tree.root, SLOTS, 0, true, false);
    let host = Abi::native();

    // The first: drops to nobody (setresuid and setresgid: CAP_SETUID and CAP_SETGID checks
    // in setpriv's slot; euid 65534 at the exec of true).
    let first = tree.dir("pod-a/ctr");
    let mut a = start_in(
        &first,
        "exec setpriv --reuid=65534 --regid=65534 --clear-groups /bin/true",
    );
    assert!(a.wait().unwrap().success());
    let a = child_of(&tracer, id(&first)).expect("the first container is a target");
    let privileges = |tracer: &Tracer, child: &ArmedTarget| {
        tracer
            .counts(child, host)
            .unwrap()
            .privileges
            .expect("capability checks are recorded on this kernel (tp_btf/cap_capable)")
    };
    let setid = |p: &sysallow_profile::privileges::Privileges| -> Vec<String> {
        p.checks
            .iter()
            .filter(|c| c.capability == "CAP_SETUID" || c.capability == "CAP_SETGID")
            .map(|c| format!("{} by {}", c.capability, c.program))
            .collect()
    };
    let before = privileges(&tracer, &a);
    assert!(!setid(&before).is_empty(), "{before:?}");
    assert!(before.euids.contains(&65534), "{before:?}");
    let released = tracer.release_child(id(&first)).unwrap();
    assert_eq!(released.slots.len(), 5, "{released:?}");

    // The second: root, no change of ids, five slots again (sh, true, echo): all the first's.
    let second = tree.dir("pod-b/ctr");
    let mut b = start_in(&second, "/bin/true; /bin/echo x > /dev/null");
    assert!(b.wait().unwrap().success());
    let b = child_of(&tracer, id(&second)).expect("the second container is a target");
    assert_eq!(b.info.base_slot, a.info.base_slot, "{a:?} {b:?}");
    let after = privileges(&tracer, &b);
    assert!(
        setid(&after).is_empty(),
        "the first container's checks were inherited: {:?}",
        setid(&after)
    );
    assert_eq!(
        after.euids,
        [0].into(),
        "the first container's ids were inherited"
    );
    assert!(after.privileged_execs.is_empty(), "{after:?}");
    // It made checks of its own (every process's mmaps make advisory CAP_SYS_ADMIN ones): the
    // maps were read, not empty.
    assert!(!after.checks.is_empty(), "{after:?}");
    assert_no_losses(&tracer);
}

#[test]
fn a_container_running_before_the_agent_is_adopted_as_its_workload() {
    require!(root, gcc);
    let work = tempfile::tempdir().unwrap();
    let calls = common::compile_workload(work.path(), "calls", &[]);
    let calls_path = std::fs::canonicalize(&calls).unwrap();
    let tree = Tree::new("adopt");
    let ctr = tree.dir("burstable/pod-a/ctr");
    let fifo = work.path().join("go");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // Running, and blocked, before the tracer exists.
    let mut running = start_in(
        &ctr,
        &format!(
            "read x < {fifo}; {calls} 555",
            calls = calls_path.display(),
            fifo = fifo.display()
        ),
    );
    // Wait until the inner shell (the outer one execs it: same pid) is blocked opening the
    // FIFO, so that it makes no syscall between the tracer's load and its adoption.
    let openat = Abi::native().syscall_nr("openat").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pids = loop {
        let pids = sysallow::cgroup::procs(&ctr);
        if let [pid] = pids[..] {
            let cmdline = common::harness::cmdline(pid as i32);
            let syscall =
                std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
            if cmdline.contains("read x")
                && !cmdline.contains("cgroup.procs")
                && syscall.split_whitespace().next() == Some(&openat.to_string())
            {
                break pids;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the container never blocked on its FIFO"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // With the runtime boundary, as a node agent arms it: a process not adopted would be
    // counted as the runtime's set-up.
    let (mut tracer, _parent) = leaf_tracer_with(&tree.root, MAX_SLOTS, TARGET_BOUNDARY);
    let host = Abi::native();
    let running_exes: Vec<(u32, String)> = pids
        .iter()
        .map(|pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
            (*pid, exe.display().to_string())
        })
        .collect();
    let child = tracer
        .adopt_child(id(&ctr), &running_exes)
        .unwrap()
        .expect("a target");
    assert_eq!(child.cgroup_id, id(&ctr));
    std::fs::write(&fifo, "go\n").unwrap();
    assert!(running.wait().unwrap().success());

    let children = tracer.child_targets().unwrap();
    assert_eq!(children.len(), 1, "{children:?}");
    assert_eq!(children[0].info, child.info);
    let counts = tracer.counts(&child, host).unwrap();
    let program = calls_path.to_str().unwrap();
    assert_eq!(
        program_counts(&counts, program).get(&getppid()),
        Some(&555),
        "{counts:?}"
    );
    // The adopted shell's own syscalls after it woke (fork, wait) are its program's.
    assert!(
        !program_counts(&counts, &running_exes[0].1).is_empty(),
        "{counts:?}"
    );
    assert!(counts.setup.is_empty(), "set-up: {:?}", counts.setup);
    // Adopting again finds the same target.
    let again = tracer
        .adopt_child(id(&ctr), &[])
        .unwrap()
        .expect("a target");
    assert_eq!(again.info, child.info);
    // An ignored child is not adopted.
    let other = tree.dir("burstable/pod-a/pause");
    tracer.ignore_child(id(&other)).unwrap();
    assert!(tracer.adopt_child(id(&other), &[]).unwrap().is_none());
    assert_no_losses(&tracer);
}

#[test]
fn with_the_runtime_boundary_a_leaf_s_set_up_is_counted_apart() {
    require!(root, gcc);
    let work = tempfile::tempdir().unwrap();
    let calls = common::compile_workload(work.path(), "calls", &[]);
    let calls_path = std::fs::canonicalize(&calls).unwrap();
    let program = calls_path.to_str().unwrap();
    let tree = Tree::new("boundary");
    let (tracer, _parent) = leaf_tracer_with(&tree.root, MAX_SLOTS, TARGET_BOUNDARY);
    let host = Abi::native();
    let ctr = tree.dir("kubepods-besteffort.slice/pod-a.slice/cri-containerd-x.scope");
    // The shell that moves itself in and execs stands for a runtime: its syscalls up to the
    // exec are the set-up; from the exec on, the entrypoint's are the workload.
    calls_in(&ctr, &calls_path, 77);
    let child = child_of(&tracer, id(&ctr)).unwrap();
    assert_ne!(child.info.flags & TARGET_BOUNDARY, 0, "{child:?}");
    let counts = tracer.counts(&child, host).unwrap();
    let programs: std::collections::BTreeSet<&str> =
        counts.counts.keys().map(|(_, _, p)| p.as_str()).collect();
    assert_eq!(programs, [program].into(), "{counts:?}");
    assert_eq!(program_counts(&counts, program).get(&getppid()), Some(&77));
    let execve = host.syscall_nr("execve").unwrap();
    assert_eq!(
        counts.setup.get(&(host, execve)),
        Some(&1),
        "{:?}",
        counts.setup
    );
    assert_no_losses(&tracer);
}

/// `filter_calls` in a leaf of a boundary parent: the process installs `before` filters, moves
/// into the leaf, installs the container's filter there and makes 50 getppid and 3 ENOSYS
/// calls without an exec. Its counts, with failed syscalls recorded if `exit_facts`.
fn filter_then_calls(tag: &str, before: u32, exit_facts: bool) -> TargetCounts {
    let work = tempfile::tempdir().unwrap();
    let program = common::compile_workload(work.path(), "filter_calls", &[]);
    let tree = Tree::new(tag);
    let (tracer, _parent) =
        leaf_tracer_full(&tree.root, MAX_SLOTS, TARGET_BOUNDARY, false, exit_facts);
    let ctr = tree.dir("besteffort/pod-f/ctr");
    let out = Command::new(&program)
        .arg(ctr.join("cgroup.procs"))
        .args([before.to_string(), "50".into(), "3".into()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let child = child_of(&tracer, id(&ctr)).unwrap();
    let counts = tracer.counts(&child, Abi::native()).unwrap();
    assert_no_losses(&tracer);
    counts
}

/// The boundary is the filter install itself, read at the process's next syscall: no exec
/// is needed, the install is the runtime's, and everything after it is the workload's.
fn assert_armed_at_the_filter(counts: &TargetCounts) {
    let host = Abi::native();
    let seccomp = host.syscall_nr("seccomp").unwrap();
    assert_eq!(counts.setup.get(&(host, seccomp)), Some(&1), "{counts:?}");
    // A process armed by its filter runs the runtime's tail until it execs (as runc does).
    let workload = program_counts(counts, CONTAINER_RUNTIME);
    assert_eq!(workload.get(&getppid()), Some(&50), "{counts:?}");
    assert_eq!(workload.get(&180), Some(&3), "{counts:?}");
    assert_eq!(workload.get(&seccomp), None, "{counts:?}");
    assert_eq!(getppids(counts), 50, "{counts:?}");
}

#[test]
fn with_the_runtime_boundary_a_filter_install_arms_the_process_at_its_next_syscall() {
    require!(root, gcc);
    let counts = filter_then_calls("filter", 0, false);
    assert_armed_at_the_filter(&counts);
    // The agent's default: no `sys_exit`, so no failure is counted.
    assert!(counts.exits.is_empty(), "{:?}", counts.exits);
}

#[test]
fn a_runtime_already_under_a_filter_is_armed_by_the_container_s_own_filter() {
    // With only the SYSCALL_WORK_SECCOMP bit to go by, the second filter would change nothing
    // and the workload would count as set-up: this needs `task->seccomp.filter` from BTF.
    require!(root, gcc);
    let counts = filter_then_calls("nested", 2, false);
    assert_armed_at_the_filter(&counts);
}

#[test]
fn failed_syscalls_are_counted_only_with_exit_facts() {
    require!(root, gcc);
    let counts = filter_then_calls("exits", 0, true);
    assert_armed_at_the_filter(&counts);
    let facts = counts.exits.get(&(Abi::native(), 180));
    assert_eq!(
        facts.map(|f| (f.entered_enosys, f.entered_eperm, f.denied_enosys)),
        Some((3, 0, 0)),
        "{:?}",
        counts.exits
    );
}

#[test]
fn a_process_that_moves_to_another_container_is_counted_there_from_then_on() {
    // Leaf mode keeps each CPU's last answer by process: a move to another cgroup must make
    // it stale (`cgroup_attach_task`), or the process's syscalls would go on counting in the
    // container it left. The process is pinned to one CPU, so the stale answer would be used.
    require!(root, gcc);
    let work = tempfile::tempdir().unwrap();
    let program = common::compile_workload(work.path(), "migrate_calls", &[]);
    let tree = Tree::new("migrate");
    let (tracer, _parent) = leaf_tracer(&tree.root, MAX_SLOTS);
    let a = tree.dir("besteffort/pod-a/ctr");
    let b = tree.dir("besteffort/pod-b/ctr");
    let out = Command::new(&program)
        .arg(a.join("cgroup.procs"))
        .arg("300")
        .arg(b.join("cgroup.procs"))
        .arg("200")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let host = Abi::native();
    let in_a = getppids(
        &tracer
            .counts(&child_of(&tracer, id(&a)).unwrap(), host)
            .unwrap(),
    );
    let in_b = getppids(
        &tracer
            .counts(&child_of(&tracer, id(&b)).unwrap(), host)
            .unwrap(),
    );
    assert_eq!((in_a, in_b), (300, 200));
    assert_no_losses(&tracer);
}
