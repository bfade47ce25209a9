//! Risk classes for what a diff adds: the one place that says which syscalls deserve a second
//! look in review, why, and on whose authority.
//!
//! A syscall belongs to the first class in [`CLASSES`] that holds it. The hand-made classes
//! come first, each with its source; then two classes computed from Docker's default profile
//! (`data/docker-default.json`, embedded): what Docker denies, and what Docker allows only with
//! a capability or only for some argument values. Everything else is `ordinary`.
//!
//! `--fail-on risky` selects every class with `risky: true`, i.e. all but `ordinary`.

use std::sync::LazyLock;

use serde::Serialize;

use crate::abi::Abi;
use crate::formats::{self, FormatError};
use crate::policy::{Allowance, Grant, NormalizedPolicy, describe_arg};

pub use crate::baseline::{DOCKER_DEFAULT_JSON, PODMAN_DEFAULT_JSON};

/// Who decides whether a syscall is in a class.
#[derive(Debug)]
pub enum Members {
    /// These names, in every ABI that has them.
    Listed(&'static [&'static str]),
    /// Denied by Docker's default profile in that ABI.
    DockerDenied,
    /// Allowed by Docker's default only with a capability or for some argument values.
    DockerRestricted,
    /// Everything else.
    Rest,
}

/// A risk class.
#[derive(Debug)]
pub struct RiskClass {
    /// Stable identifier, used in JSON.
    pub id: &'static str,
    pub title: &'static str,
    /// Whether `--fail-on risky` selects it.
    pub risky: bool,
    /// One line a reviewer can act on.
    pub reason: &'static str,
    /// Where the claim comes from.
    pub source: &'static str,
    pub members: Members,
}

/// The classes, in the order they are tried.
pub static CLASSES: &[RiskClass] = &[
    RiskClass {
        id: "namespace_escape",
        title: "container escape / namespaces",
        risky: true,
        reason: "changes mounts, the root or namespaces: the classic way out of a container; \
                 allow only if the program really manages mounts or namespaces",
        source: "Docker docs, 'Significant syscalls blocked by the default profile' \
                 (docs.docker.com/engine/security/seccomp/); open_by_handle_at: the 2014 \
                 'shocker' escape; fsconfig: CVE-2022-0185",
        members: Members::Listed(&[
            "mount",
            "umount",
            "umount2",
            "unshare",
            "setns",
            "pivot_root",
            "chroot",
            "open_tree",
            "move_mount",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "mount_setattr",
            "open_by_handle_at",
        ]),
    },
    RiskClass {
        id: "kernel_code",
        title: "kernel extension / tracing",
        risky: true,
        reason: "loads code into the kernel, replaces it, or traces it (BPF, modules, kexec, \
                 perf): control over the whole host; an application almost never needs it",
        source: "Docker docs, 'Significant syscalls blocked by the default profile'; BPF \
                 verifier escapes such as CVE-2021-3490",
        members: Members::Listed(&[
            "bpf",
            "perf_event_open",
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "kexec_load",
            "kexec_file_load",
        ]),
    },
    RiskClass {
        id: "process_memory",
        title: "other processes' memory",
        risky: true,
        reason: "reads or writes another process's memory or file descriptors: can steal \
                 secrets, and ptrace could bypass seccomp before kernel 4.8",
        source: "Docker docs ('Tracing/profiling syscall ... blocked in Linux kernel versions \
                 before 4.8 to avoid seccomp bypass'); pidfd_getfd(2)",
        members: Members::Listed(&[
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "pidfd_getfd",
        ]),
    },
    RiskClass {
        id: "keyring",
        title: "kernel keyring",
        risky: true,
        reason: "the kernel keyring is not namespaced: a container could read or plant keys \
                 of other containers or the host",
        source: "Docker docs ('Prevent containers from using the kernel keyring, which is not \
                 namespaced')",
        members: Members::Listed(&["keyctl", "add_key", "request_key"]),
    },
    RiskClass {
        id: "io_uring",
        title: "io_uring",
        risky: true,
        reason: "io_uring performs I/O without further syscalls, so seccomp never sees those \
                 operations; a frequent route of kernel exploits",
        source: "moby/moby#46762 (removed from Docker's default, 2023); Google security blog, \
                 'Learnings from kCTF VRP's 42 Linux kernel exploits submissions' (2023-06)",
        members: Members::Listed(&["io_uring_setup", "io_uring_enter", "io_uring_register"]),
    },
    RiskClass {
        id: "userfaultfd",
        title: "userfaultfd",
        risky: true,
        reason: "lets a process stall page faults the kernel takes on its memory, the usual \
                 way to win kernel race exploits; the kernel restricts it by default",
        source: "Docker docs ('Userspace page fault handling, largely needed for process \
                 migration'); kernel admin-guide/sysctl/vm.rst, unprivileged_userfaultfd",
        members: Members::Listed(&["userfaultfd"]),
    },
    RiskClass {
        id: "docker_denied",
        title: "denied by Docker's default",
        risky: true,
        reason: "Docker's default profile denies it, so containers rarely need it; check why \
                 this one does",
        source: "data/docker-default.json (moby/profiles seccomp/default.json at cd3bed8)",
        members: Members::DockerDenied,
    },
    RiskClass {
        id: "docker_restricted",
        title: "restricted by Docker's default",
        risky: true,
        reason: "Docker's default allows it only with a capability or for some argument \
                 values; check this profile restricts it as much",
        source: "data/docker-default.json (moby/profiles seccomp/default.json at cd3bed8)",
        members: Members::DockerRestricted,
    },
    RiskClass {
        id: ORDINARY,
        title: "ordinary",
        risky: false,
        reason: "Docker's default profile allows it to every container",
        source: "data/docker-default.json (moby/profiles seccomp/default.json at cd3bed8)",
        members: Members::Rest,
    },
];

/// The id of the class that is not risky; reports leave it out.
pub const ORDINARY: &str = "ordinary";

/// A syscall's class, with the reason for this syscall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Risk {
    /// The class id.
    pub class: &'static str,
    pub title: &'static str,
    pub risky: bool,
    pub reason: String,
}

/// A built-in profile, normalized once.
fn normalized(json: &str) -> Result<NormalizedPolicy, String> {
    formats::read(json)
        .map(|doc| NormalizedPolicy::from_document(&doc))
        .map_err(|e: FormatError| e.to_string())
}

static DOCKER: LazyLock<Result<NormalizedPolicy, String>> =
    LazyLock::new(|| normalized(DOCKER_DEFAULT_JSON));

/// Docker's default profile, normalized. An error only if the embedded data does not read,
/// which a unit test rules out.
pub fn docker_default() -> Result<&'static NormalizedPolicy, &'static str> {
    DOCKER.as_ref().map_err(String::as_str)
}

static PODMAN: LazyLock<Result<NormalizedPolicy, String>> =
    LazyLock::new(|| normalized(PODMAN_DEFAULT_JSON));

/// Podman's default profile (containers-common's `seccomp.json`), normalized; as
/// [`docker_default`].
pub fn podman_default() -> Result<&'static NormalizedPolicy, &'static str> {
    PODMAN.as_ref().map_err(String::as_str)
}

/// The class of `name` in `abi`.
pub fn classify(abi: Abi, name: &str) -> Risk {
    let docker = docker_default().ok();
    let allowance = docker.map(|d| d.allowance(abi, name));
    for class in CLASSES {
        let member = match class.members {
            Members::Listed(names) => names.contains(&name),
            Members::DockerDenied => allowance == Some(Allowance::Denied),
            Members::DockerRestricted => allowance == Some(Allowance::Conditional),
            Members::Rest => true,
        };
        if !member {
            continue;
        }
        let reason = match (&class.members, docker) {
            (Members::DockerRestricted, Some(d)) => docker_restriction(&d.grants(abi, name)),
            (Members::Rest, None) => {
                "Docker's default profile could not be read to compare".to_owned()
            }
            _ => class.reason.to_owned(),
        };
        return Risk {
            class: class.id,
            title: class.title,
            risky: class.risky,
            reason,
        };
    }
    // The last class holds everything; this is only reached if CLASSES is edited wrongly.
    Risk {
        class: ORDINARY,
        title: "ordinary",
        risky: false,
        reason: String::new(),
    }
}

/// "Docker's default allows it only: with CAP_SYS_ADMIN; or if arg0 < 38 ..."
fn docker_restriction(grants: &std::collections::BTreeSet<Grant>) -> String {
    let ways: Vec<String> = grants
        .iter()
        .filter(|g| g.verdict.allows() && g.gate.below_kernel.is_none())
        .map(|g| {
            let mut parts = Vec::new();
            if !g.args.is_empty() {
                let args: Vec<String> = g.args.iter().map(describe_arg).collect();
                parts.push(format!("if {}", args.join(" && ")));
            }
            parts.extend(g.gate.caps.iter().map(|c| format!("with {c}")));
            if !g.gate.without_caps.is_empty() && !g.args.is_empty() {
                // "if flags are safe, for a container without CAP_SYS_ADMIN": the cap-less
                // half of a pair of rules; the other half is listed on its own.
                parts.push(format!(
                    "(without {})",
                    g.gate
                        .without_caps
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            parts.join(" ")
        })
        .filter(|w| !w.is_empty())
        .collect();
    format!(
        "Docker's default allows it only {}; check this profile restricts it as much",
        if ways.is_empty() {
            "conditionally".to_owned()
        } else {
            ways.join("; or ")
        }
    )
}

/// A risk class for capabilities: what a reviewer should know when a bundle gains one.
#[derive(Debug)]
pub struct CapabilityRiskClass {
    /// Stable identifier, used in JSON.
    pub id: &'static str,
    /// Whether `--fail-on risky` selects a capability gained in this class.
    pub risky: bool,
    pub reason: &'static str,
    pub source: &'static str,
    /// Its members (`CAP_` names); the last class takes everything else.
    pub members: Option<&'static [&'static str]>,
}

/// The capability classes, in the order they are tried.
pub static CAPABILITY_CLASSES: &[CapabilityRiskClass] = &[
    CapabilityRiskClass {
        id: "host_control",
        risky: true,
        reason: "reaches past the container: mounts and namespaces (SYS_ADMIN), other \
                 processes' memory (SYS_PTRACE), kernel modules, raw devices and I/O ports, \
                 eBPF and perf, the network stack's configuration, files by handle \
                 (DAC_READ_SEARCH: the 2014 'shocker' escape), the clock, reboot, MAC policy",
        source: "capabilities(7); Docker docs, 'Runtime privilege and Linux capabilities' \
                 (docs.docker.com/engine/containers/run/): none of these is in Docker's \
                 default set",
        members: Some(&[
            "CAP_SYS_ADMIN",
            "CAP_SYS_PTRACE",
            "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO",
            "CAP_NET_ADMIN",
            "CAP_DAC_READ_SEARCH",
            "CAP_BPF",
            "CAP_PERFMON",
            "CAP_SYS_BOOT",
            "CAP_SYS_TIME",
            "CAP_MAC_ADMIN",
            "CAP_MAC_OVERRIDE",
            "CAP_AUDIT_CONTROL",
            "CAP_SYSLOG",
            "CAP_CHECKPOINT_RESTORE",
            "CAP_LINUX_IMMUTABLE",
        ]),
    },
    CapabilityRiskClass {
        id: "beyond_docker_default",
        risky: true,
        reason: "not in Docker's default set: a container gets it only when asked for",
        source: "moby oci/caps/defaults.go (DefaultCapabilities), caps.rs",
        members: None,
    },
    CapabilityRiskClass {
        id: "docker_default",
        risky: false,
        reason: "in Docker's default set of 14: a container has it unless dropped",
        source: "moby oci/caps/defaults.go (DefaultCapabilities), caps.rs",
        members: None,
    },
];

/// A capability's risk, as a bundle keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRisk {
    /// The class id (`host_control`, `beyond_docker_default`, `docker_default`).
    pub class: String,
    pub risky: bool,
}

/// The class of capability `name` (`CAP_SYS_ADMIN` or `sys_admin`).
pub fn capability_class(name: &str) -> &'static CapabilityRiskClass {
    let name = crate::caps::normalize(name);
    let [host, beyond, default] = [0, 1, 2].map(|i| &CAPABILITY_CLASSES[i]);
    if host.members.is_some_and(|m| m.contains(&name.as_str())) {
        host
    } else if crate::caps::docker_default(&name) {
        default
    } else {
        beyond
    }
}

/// The risk of capability `name`, for a bundle.
pub fn capability_risk(name: &str) -> CapabilityRisk {
    let class = capability_class(name);
    CapabilityRisk {
        class: class.id.to_owned(),
        risky: class.risky,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capability_has_one_class_and_the_defaults_are_not_risky() {
        for cap in crate::caps::CAPABILITIES {
            let class = capability_class(cap.name);
            assert_eq!(class.risky, !cap.docker_default, "{}", cap.name);
            if cap.docker_default {
                assert_eq!(class.id, "docker_default", "{}", cap.name);
            }
        }
        for cap in [
            "sys_admin",
            "CAP_SYS_PTRACE",
            "CAP_SYS_MODULE",
            "CAP_NET_ADMIN",
        ] {
            assert_eq!(capability_risk(cap).class, "host_control", "{cap}");
        }
        assert_eq!(
            capability_risk("CAP_SYS_NICE").class,
            "beyond_docker_default"
        );
        // Every listed member is a capability the table knows.
        for class in CAPABILITY_CLASSES {
            for m in class.members.unwrap_or_default() {
                assert!(crate::caps::by_name(m).is_some(), "{m}");
            }
        }
    }

    #[test]
    fn docker_default_data_reads() {
        let d = match docker_default() {
            Ok(d) => d,
            Err(e) => panic!("embedded Docker default does not read: {e}"),
        };
        assert_eq!(d.allowance(Abi::X86_64, "read"), Allowance::Always);
        assert_eq!(d.allowance(Abi::X86_64, "clone"), Allowance::Conditional);
        assert_eq!(d.allowance(Abi::X86_64, "keyctl"), Allowance::Denied);
    }

    /// The vendored files are the ones whose provenance `data/README.md` gives: an update
    /// must update the README's sha256 too (and so say where the new file came from).
    #[test]
    fn vendored_data_is_what_this_readme_says() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
        let readme = std::fs::read_to_string(format!("{dir}/README.md")).unwrap();
        for (file, embedded) in [
            ("docker-default.json", DOCKER_DEFAULT_JSON),
            ("containers-common-default.json", PODMAN_DEFAULT_JSON),
        ] {
            let out = std::process::Command::new("sha256sum")
                .arg(format!("{dir}/{file}"))
                .output()
                .unwrap();
            assert!(out.status.success(), "sha256sum {file}");
            let text = String::from_utf8(out.stdout).unwrap();
            let sum = text.split_whitespace().next().unwrap();
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{file}`")))
                .unwrap_or_else(|| panic!("data/README.md has no row for {file}"));
            assert!(
                row.contains(sum),
                "{file} has sha256 {sum}, which data/README.md does not give: update its provenance"
            );
            assert_eq!(
                std::fs::read_to_string(format!("{dir}/{file}")).unwrap(),
                embedded,
                "{file}: the embedded copy is not the file"
            );
        }
    }

    #[test]
    fn podman_default_data_reads() {
        let doc = formats::read(PODMAN_DEFAULT_JSON).unwrap();
        let d = NormalizedPolicy::from_document(&doc);
        assert_eq!(d.allowance(Abi::X86_64, "read"), Allowance::Always);
        assert_eq!(d.allowance(Abi::X86_64, "kexec_load"), Allowance::Denied);
    }

    #[test]
    fn classes() {
        let class = |name| classify(Abi::X86_64, name).class;
        assert_eq!(class("mount"), "namespace_escape");
        assert_eq!(class("bpf"), "kernel_code");
        assert_eq!(class("ptrace"), "process_memory");
        assert_eq!(class("keyctl"), "keyring");
        assert_eq!(class("io_uring_setup"), "io_uring");
        assert_eq!(class("userfaultfd"), "userfaultfd");
        assert_eq!(class("swapon"), "docker_denied");
        assert_eq!(class("reboot"), "docker_restricted");
        assert_eq!(class("clone"), "docker_restricted");
        assert_eq!(class("read"), "ordinary");
        assert!(!classify(Abi::X86_64, "read").risky);
        let reason = classify(Abi::X86_64, "clone3").reason;
        assert!(reason.contains("CAP_SYS_ADMIN"), "{reason}");
        let reason = classify(Abi::X86_64, "socket").reason;
        assert!(reason.contains("arg0 < 38"), "{reason}");
    }

    #[test]
    fn every_class_has_a_reason_and_source() {
        for class in CLASSES {
            assert!(
                !class.reason.is_empty() && !class.source.is_empty(),
                "{}",
                class.id
            );
        }
        assert!(matches!(
            CLASSES.last().map(|c| &c.members),
            Some(Members::Rest)
        ));
    }
}
