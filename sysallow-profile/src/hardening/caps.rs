//! Which capabilities a workload needs, from the checks the kernel made after the set-up
//! boundary. Each check is put in one class ([`CapClass`]) with a reason; a capability takes
//! the strongest class among its checks, so one real grant outweighs any number of advisory
//! ones.
//!
//! What is *not* treated as needing the capability, and why:
//! - advisory checks: the caller works without the capability. Where the hook reports the
//!   NOAUDIT bit that is the bit; where it does not (`tp_btf/cap_capable`), the one site
//!   that makes nearly every check: `cap_vm_enough_memory` (security/commoncap.c) asks for
//!   CAP_SYS_ADMIN with CAP_OPT_NOAUDIT on every accountable mapping, only to let root use
//!   the admin reserve under strict overcommit (mm/util.c `__vm_enough_memory`). It is
//!   reached from mmap, brk, mremap, mprotect (mm/mmap.c, mm/mremap.c, mm/mprotect.c), fork
//!   (kernel/fork.c `dup_mmap`), exec (fs/exec.c through `insert_vm_struct`), System V and
//!   tmpfs memory, including writes to tmpfs files (mm/shmem.c `shmem_acct_blocks`), and
//!   page faults that grow the stack (no syscall). CAP_SYS_ADMIN in those calls is taken as
//!   advisory; anywhere else it is required.
//! - not treated as advisory without the NOAUDIT bit, although some callers are: CAP_SYS_PTRACE
//!   in /proc reads (`ptrace_may_access` with PTRACE_MODE_NOAUDIT for /proc/PID/stat, but an
//!   audited check for /proc/PID/environ or mem), so it stays required.
//! - denied checks: the recorded run went on without them; adding one would change what the
//!   workload does. Listed, never added.
//! - checks in a user namespace the workload created (`unshare -U`): it holds every capability
//!   there whatever the container was given.
//! - checks under overridden credentials: overlayfs checks its mounter's credentials
//!   (fs/overlayfs `ovl_override_creds`), `file_ns_capable` a file opener's. The container's
//!   capability set does not decide them. Listed, never added.
//! - checks the container runtime made after the filter went in (runc and crun set
//!   capabilities and groups there, attributed to `(container runtime)`): the runtime's, not
//!   the workload's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::caps as captable;
use crate::privileges::{CapCheck, CapNamespace, Privileges};
use crate::recording::{CONTAINER_RUNTIME, Recording};
use crate::risk::{self, CapabilityRisk};

/// Why a capability is (or is not) in the bundle. Ordered weakest first: a capability takes
/// the greatest class among its checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapClass {
    /// Every check was denied and the run went on: reported, never added.
    DeniedOnly,
    /// Granted, but the caller works without it.
    Advisory,
    /// The runtime's own checks after the filter went in.
    RuntimeTail,
    /// Checked against credentials other than the task's own.
    OtherCredentials,
    /// Checked in a user namespace the workload created: it needs nothing from the container.
    ChildNamespace,
    /// Added so that the workload's own capability handling (capset, file capabilities of a
    /// binary it executes) behaves as recorded.
    Compatibility,
    /// Added; whether it is needed depends on a setting of the place it runs in (a sysctl, a
    /// resource limit), said in the reason.
    EnvironmentDependent,
    /// Added: granted, not advisory, in the task's own namespace, under its own credentials.
    Required,
}

impl CapClass {
    /// Whether the bundle adds the capability.
    pub fn added(self) -> bool {
        matches!(
            self,
            CapClass::Required | CapClass::EnvironmentDependent | CapClass::Compatibility
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            CapClass::DeniedOnly => "denied only",
            CapClass::RuntimeTail => "runtime's own",
            CapClass::OtherCredentials => "other credentials",
            CapClass::ChildNamespace => "own user namespace",
            CapClass::Advisory => "advisory",
            CapClass::Compatibility => "kept for compatibility",
            CapClass::EnvironmentDependent => "environment-dependent",
            CapClass::Required => "required",
        }
    }
}

/// One group of checks (or one exec) behind a decision.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub class: CapClass,
    /// The syscall the check was made in (`execve` for a file capability), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscall: Option<String>,
    pub program: String,
    pub granted: bool,
    pub count: u64,
}

/// The decision for one capability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapDecision {
    /// `CAP_CHOWN`.
    pub capability: String,
    pub class: CapClass,
    /// Why, for a user: the reason of the deciding class, and what else was seen.
    pub reason: String,
    /// Docker gives it by default (so `--cap-drop` of the defaults keeps it).
    pub docker_default: bool,
    /// Its risk class (`risk::capability_risk`).
    pub risk: CapabilityRisk,
    pub evidence: Vec<Evidence>,
}

/// Syscalls in which a CAP_SYS_ADMIN check comes from the overcommit heuristic
/// (`cap_vm_enough_memory`, see the module's comment for the kernel call sites).
const MEMORY_ACCOUNTING: &[&str] = &[
    "mmap",
    "mmap2",
    "brk",
    "mremap",
    "mprotect",
    "pkey_mprotect",
    "munmap",
    "execve",
    "execveat",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "shmget",
    "shmat",
    "memfd_create",
    "write",
    "writev",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "fallocate",
    "copy_file_range",
    "sendfile",
    "sendfile64",
    "splice",
];

/// Syscalls that look a path up: a denied DAC_OVERRIDE or DAC_READ_SEARCH there is a
/// directory the task could not enter or a file it could not open, tried after the ordinary
/// permission check failed (fs/namei.c `generic_permission`).
const PATH_LOOKUPS: &[&str] = &[
    "execve",
    "execveat",
    "open",
    "openat",
    "openat2",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "chdir",
    "readlink",
    "readlinkat",
    "getxattr",
    "lgetxattr",
];

/// Syscalls that lock memory: `can_do_mlock` (mm/mlock.c) asks for CAP_IPC_LOCK before it
/// looks at RLIMIT_MEMLOCK, so a grant there does not show the capability was needed.
const MEMORY_LOCKING: &[&str] = &["mlock", "mlock2", "mlockall", "mmap", "mmap2", "shmctl"];

/// The class of one check and its reason.
fn classify(check: &CapCheck) -> CapClass {
    let cap = captable::normalize(&check.capability);
    let syscall = check.syscall.as_ref().map(|(_, s)| s.as_str());
    let in_list = |list: &[&str]| syscall.is_some_and(|s| list.contains(&s));
    if check.program == CONTAINER_RUNTIME {
        return CapClass::RuntimeTail;
    }
    if check.namespace == CapNamespace::Child {
        return CapClass::ChildNamespace;
    }
    if check.override_creds {
        return CapClass::OtherCredentials;
    }
    if !check.granted {
        return CapClass::DeniedOnly;
    }
    match check.noaudit {
        Some(true) => return CapClass::Advisory,
        Some(false) => {}
        // Outside a syscall, CAP_SYS_ADMIN is a page fault growing the stack.
        None if cap == "CAP_SYS_ADMIN" && (syscall.is_none() || in_list(MEMORY_ACCOUNTING)) => {
            return CapClass::Advisory;
        }
        None => {}
    }
    match cap.as_str() {
        "CAP_NET_BIND_SERVICE" => CapClass::EnvironmentDependent,
        "CAP_NET_RAW" if is_ping(&check.program) => CapClass::EnvironmentDependent,
        "CAP_IPC_LOCK" if in_list(MEMORY_LOCKING) => CapClass::EnvironmentDependent,
        // capset asks for CAP_SETPCAP (audited) only to let the new inheritable set exceed
        // the old permitted one (security/commoncap.c `cap_inh_is_capped`): the workload
        // sets its own capabilities, and keeps this one so that capset behaves as recorded.
        "CAP_SETPCAP" if syscall == Some("capset") => CapClass::Compatibility,
        _ => CapClass::Required,
    }
}

fn is_ping(program: &str) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    base == "ping" || base == "ping4" || base == "ping6"
}

/// The reason for `class` on capability `cap`, given its evidence.
fn reason(cap: &str, class: CapClass, evidence: &[Evidence], sees_noaudit: bool) -> String {
    let of_class: Vec<&Evidence> = evidence.iter().filter(|e| e.class == class).collect();
    let count: u64 = of_class.iter().map(|e| e.count).sum();
    let sites = sites(&of_class);
    let main = match class {
        CapClass::Required => format!(
            "granted {count}× ({sites}), not advisory, under the task's own credentials and \
             not in a user namespace it created: without it those calls fail"
        ),
        CapClass::EnvironmentDependent => match cap {
            "CAP_NET_BIND_SERVICE" => format!(
                "granted {count}× ({sites}): binding a port below \
                 net.ipv4.ip_unprivileged_port_start (1024 by default) needs it. Docker sets \
                 that sysctl to 0 in a container's own network namespace, where no check is \
                 made at all (measured), so it is not needed there; it is with --network host \
                 or a runtime that keeps 1024. Kept, as the one capability Kubernetes' \
                 restricted level allows"
            ),
            "CAP_NET_RAW" => format!(
                "granted {count}× ({sites}): ping opens a raw socket only when its group is \
                 outside net.ipv4.ping_group_range; Docker widens that range in a container's \
                 own network namespace, where ping uses an unprivileged ICMP socket. Kept; \
                 not needed where the range covers the workload's group"
            ),
            "CAP_IPC_LOCK" => format!(
                "granted {count}× ({sites}): the kernel asks for it before it looks at \
                 RLIMIT_MEMLOCK (mm/mlock.c can_do_mlock), so it is needed only for locking \
                 more than that limit (docker run --ulimit memlock). Kept"
            ),
            _ => format!("granted {count}× ({sites}); depends on the environment"),
        },
        CapClass::Compatibility => {
            let mut parts = Vec::new();
            let execs: Vec<&&Evidence> = of_class
                .iter()
                .filter(|e| e.syscall.as_deref() == Some("execve") && e.granted)
                .collect();
            if !execs.is_empty() {
                let programs = join(execs.iter().map(|e| e.program.as_str()));
                parts.push(format!(
                    "{programs} carries it as a file capability (setcap): a binary whose file \
                     capabilities are effective fails to exec with EPERM when one is outside \
                     the bounding set (security/commoncap.c), so it is kept"
                ));
            }
            if of_class
                .iter()
                .any(|e| e.syscall.as_deref() == Some("capset"))
            {
                parts.push(
                    "the workload sets its own capabilities (capset), which asks for \
                     CAP_SETPCAP to let its inheritable set exceed its permitted one \
                     (security/commoncap.c cap_inh_is_capped); kept so that capset behaves as \
                     recorded"
                        .to_owned(),
                );
            }
            parts.join("; ")
        }
        CapClass::Advisory => {
            let overcommit = cap == "CAP_SYS_ADMIN"
                && of_class.iter().all(|e| {
                    e.syscall
                        .as_deref()
                        .is_none_or(|s| MEMORY_ACCOUNTING.contains(&s))
                });
            if sees_noaudit && !overcommit {
                format!(
                    "granted {count}× ({sites}) with the caller's NOAUDIT bit: the caller works \
                     without it"
                )
            } else {
                format!(
                    "granted {count}× ({sites}): the kernel's overcommit heuristic \
                     (security/commoncap.c cap_vm_enough_memory, CAP_OPT_NOAUDIT) asks on \
                     every accountable mapping, only to let root use the admin reserve under \
                     strict overcommit; not needed (measured: `true` alone makes 10 such \
                     checks)"
                )
            }
        }
        CapClass::ChildNamespace => format!(
            "checked {count}× ({sites}) in a user namespace the workload created itself: it \
             holds every capability there, whatever the container was given"
        ),
        CapClass::OtherCredentials => format!(
            "checked {count}× ({sites}) against credentials other than the task's own \
             (overlayfs checks its mounter's, file_ns_capable a file opener's): the container's \
             capability set does not decide it; not added"
        ),
        CapClass::RuntimeTail => format!(
            "checked {count}× by the container runtime after the filter went in (its own \
             capset and setgroups before the entrypoint): not the workload's"
        ),
        CapClass::DeniedOnly => {
            let lookups = of_class.iter().all(|e| {
                e.syscall
                    .as_deref()
                    .is_some_and(|s| PATH_LOOKUPS.contains(&s))
            });
            if lookups && (cap == "CAP_DAC_READ_SEARCH" || cap == "CAP_DAC_OVERRIDE") {
                format!(
                    "denied {count}× ({sites}), harmless: a path lookup through a directory \
                     the user may not search; the kernel tries this capability only after the \
                     ordinary permission check failed, and a PATH search goes on to the next \
                     directory (measured: `nice -n -5 true` as nobody, the exec worked). Not \
                     added"
                )
            } else {
                format!(
                    "denied {count}× ({sites}): the recorded run went on without it, so the \
                     bundle does not add it (adding it would change what the workload does); \
                     if those calls should succeed, add it by hand"
                )
            }
        }
    };
    let others: Vec<String> = {
        let mut by_class: BTreeMap<CapClass, u64> = BTreeMap::new();
        for e in evidence.iter().filter(|e| e.class != class) {
            *by_class.entry(e.class).or_default() += e.count;
        }
        by_class
            .iter()
            .rev()
            .map(|(c, n)| format!("{n}× {}", c.name()))
            .collect()
    };
    if others.is_empty() {
        main
    } else {
        format!("{main} (also {})", others.join(", "))
    }
}

/// `setpriority in /usr/bin/nice, ...`: at most three sites, then how many more.
fn sites(evidence: &[&Evidence]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in evidence {
        let site = match &e.syscall {
            Some(s) => format!("{s} in {}", e.program),
            None => format!("outside a syscall in {}", e.program),
        };
        if !seen.contains(&site) {
            seen.push(site);
        }
    }
    let more = seen.len().saturating_sub(3);
    seen.truncate(3);
    let mut text = seen.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

fn join<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = names.collect();
    v.sort_unstable();
    v.dedup();
    v.join(", ")
}

/// Checks are summed by class, syscall, program and result.
type EvidenceKey = (CapClass, Option<String>, String, bool);

/// A decision per capability seen, strongest class first, then by name.
pub fn decide(privileges: &Privileges) -> Vec<CapDecision> {
    let mut by_cap: BTreeMap<String, BTreeMap<EvidenceKey, u64>> = BTreeMap::new();
    for check in &privileges.checks {
        let cap = captable::normalize(&check.capability);
        let key = (
            classify(check),
            check.syscall.as_ref().map(|(_, s)| s.clone()),
            check.program.clone(),
            check.granted,
        );
        *by_cap.entry(cap).or_default().entry(key).or_default() += check.count;
    }
    for exec in &privileges.privileged_execs {
        for cap in &exec.file_caps {
            let key = (
                CapClass::Compatibility,
                Some("execve".to_owned()),
                exec.program.clone(),
                true,
            );
            *by_cap
                .entry(captable::normalize(cap))
                .or_default()
                .entry(key)
                .or_default() += exec.count;
        }
    }
    let mut decisions: Vec<CapDecision> = by_cap
        .into_iter()
        .map(|(capability, groups)| {
            let evidence: Vec<Evidence> = groups
                .into_iter()
                .map(|((class, syscall, program, granted), count)| Evidence {
                    class,
                    syscall,
                    program,
                    granted,
                    count,
                })
                .collect();
            let class = evidence
                .iter()
                .map(|e| e.class)
                .max()
                .unwrap_or(CapClass::DeniedOnly);
            CapDecision {
                reason: reason(&capability, class, &evidence, privileges.sees_noaudit),
                docker_default: captable::docker_default(&capability),
                risk: risk::capability_risk(&capability),
                capability,
                class,
                evidence,
            }
        })
        .collect();
    decisions.sort_by(|a, b| {
        b.class
            .cmp(&a.class)
            .then_with(|| a.capability.cmp(&b.capability))
    });
    decisions
}

/// prctl options that change the task's own capabilities (linux/prctl.h).
const OWN_CAPABILITY_PRCTLS: &[(u64, &str)] = &[
    (libc::PR_CAPBSET_DROP as u64, "PR_CAPBSET_DROP"),
    (libc::PR_CAP_AMBIENT as u64, "PR_CAP_AMBIENT"),
    (libc::PR_SET_KEEPCAPS as u64, "PR_SET_KEEPCAPS"),
    (libc::PR_SET_SECUREBITS as u64, "PR_SET_SECUREBITS"),
];

/// What the workload's own capset and prctl calls (after the boundary, not the runtime's
/// tail) say: it sets its own capabilities. capset's sets are not captured, so a capability
/// it keeps without using it during the recording is not known: said, for verify to show.
pub fn own_capability_handling(recordings: &[Recording]) -> Vec<String> {
    let mut notes = Vec::new();
    let mut capset: BTreeMap<String, u64> = BTreeMap::new();
    let mut capset_failed = 0;
    let mut prctls: BTreeMap<&str, ()> = BTreeMap::new();
    let mut prctl_programs: BTreeMap<String, u64> = BTreeMap::new();
    for rec in recordings {
        for abi in rec.abis.values() {
            if let Some(sys) = abi.syscalls.get("capset") {
                capset_failed += sys.failed.eperm;
                for (program, n) in &sys.programs {
                    if program != CONTAINER_RUNTIME {
                        *capset.entry(program.clone()).or_default() += n;
                    }
                }
            }
            if let Some(sys) = abi.syscalls.get("prctl") {
                let workload: Vec<(&String, &u64)> = sys
                    .programs
                    .iter()
                    .filter(|(p, _)| *p != CONTAINER_RUNTIME)
                    .collect();
                let values = sys.args.as_ref().map(|a| &a.values);
                let own: Vec<&str> = OWN_CAPABILITY_PRCTLS
                    .iter()
                    .filter(|(v, _)| values.is_some_and(|vals| vals.contains(v)))
                    .map(|(_, name)| *name)
                    .collect();
                if !workload.is_empty() && !own.is_empty() {
                    for name in own {
                        prctls.insert(name, ());
                    }
                    for (p, n) in workload {
                        *prctl_programs.entry(p.clone()).or_default() += n;
                    }
                }
            }
        }
    }
    if !capset.is_empty() {
        let who: Vec<String> = capset.iter().map(|(p, n)| format!("{p} ×{n}")).collect();
        notes.push(format!(
            "the workload sets its own capabilities (capset by {}): every capability it was \
             granted is decided above, but capset's sets are not recorded, so one it only keeps \
             (without using it while recorded) is not known; if it fails under the bundle with \
             EPERM from capset, add that one (verify shows it)",
            who.join(", ")
        ));
    }
    if capset_failed > 0 {
        notes.push(format!(
            "capset failed {capset_failed}× with EPERM while recorded: something asked for a \
             capability it did not hold; the bundle cannot tell which (capset's sets are not \
             recorded)"
        ));
    }
    if !prctls.is_empty() {
        let who: Vec<String> = prctl_programs.keys().cloned().collect();
        notes.push(format!(
            "the workload changes its own capability sets with prctl ({}; by {}): the ones it \
             asks for must be in the bundle's bounding set; those it was granted are decided \
             above",
            prctls.keys().copied().collect::<Vec<_>>().join(", "),
            who.join(", ")
        ));
    }
    notes
}

#[cfg(test)]
mod tests;
