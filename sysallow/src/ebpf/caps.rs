//! Capability checks and privileged execs: configuring the kernel side (`sysallow-ebpf`
//! `capable`), choosing its hook, and reading what it kept into `Recording.privileges`.
//!
//! The hook is chosen by probing at load: `fexit/cap_capable` (its `opts` tell advisory
//! NOAUDIT checks apart) where the kernel accepts it and `cap_capable` still has `opts`;
//! otherwise the `capability:cap_capable` tracepoint as `tp_btf` (no `opts`). On the machine
//! this was written on, fexit is refused with EPERM at load, so `tp_btf` is used.

use std::collections::BTreeMap;

use aya::maps::{HashMap, MapData};
use aya::programs::{BtfTracePoint, FExit};
use aya::{Btf, Ebpf, EbpfLoader};
use sysallow_common::caps::{
    self, CapKey, EXEC_SETGID, EXEC_SETUID, NO_SYSCALL, NS_CHILD, NS_OWN, PrivExecKey,
    cap_flags_parts, cred_id_parts,
};
use sysallow_profile::Abi;
use sysallow_profile::privileges::{CapCheck, CapNamespace, PrivilegedExec, Privileges};

use super::kernel_btf::{BtfError, KernelBtf, Named, VMLINUX, attach_targets_only};
use super::{ForMap, TracerError, map_ref, program_mut, syscall_at};

/// Why capability checks cannot be recorded on this kernel.
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("the kernel's BTF ({VMLINUX})")]
    Btf(#[from] BtfError),
    #[error("aya refused the BTF of the programs' attach targets")]
    AyaBtf(#[source] aya::BtfError),
    #[error(
        "neither fexit/cap_capable ({fexit}) nor tp_btf/cap_capable ({tp_btf}) loads on this \
         kernel (the cap_capable tracepoint is Linux 6.14+)"
    )]
    NoHook { fexit: String, tp_btf: String },
    #[error("tp_btf/sched_process_exec, which sees the credentials an exec gave")]
    Exec(#[source] aya::programs::ProgramError),
}

/// What the capability programs need of the running kernel's BTF: the struct field offsets
/// they read, whether `cap_capable` has `opts`, and the ids of their attach targets. The BTF
/// itself is not kept.
pub struct Offsets {
    fields: Vec<(&'static str, u32)>,
    cap_capable_has_opts: bool,
    /// (id, kind, name) of each attach target the kernel has.
    targets: Vec<(u32, Named, &'static str)>,
}

/// The attach targets: fexit's function and the tracepoints' `btf_trace_*` typedefs.
const CAP_CAPABLE: &str = "cap_capable";
const TRACE_CAP_CAPABLE: &str = "btf_trace_cap_capable";
const TRACE_EXEC: &str = "btf_trace_sched_process_exec";

impl Offsets {
    /// Find in the kernel's BTF every field the programs read.
    pub fn read(kernel: &KernelBtf) -> Result<Offsets, CapsError> {
        use caps::globals as g;
        let wanted: [(&'static str, &str, &str); 13] = [
            (g::TASK_REAL_CRED_OFFSET, "task_struct", "real_cred"),
            (g::CRED_UID_OFFSET, "cred", "uid"),
            (g::CRED_GID_OFFSET, "cred", "gid"),
            (g::CRED_EUID_OFFSET, "cred", "euid"),
            (g::CRED_EGID_OFFSET, "cred", "egid"),
            (g::CRED_CAP_PERMITTED_OFFSET, "cred", "cap_permitted"),
            (g::CRED_CAP_AMBIENT_OFFSET, "cred", "cap_ambient"),
            (g::CRED_USER_NS_OFFSET, "cred", "user_ns"),
            (g::USER_NS_PARENT_OFFSET, "user_namespace", "parent"),
            (g::BPRM_FILE_OFFSET, "linux_binprm", "file"),
            (g::BPRM_FILENAME_OFFSET, "linux_binprm", "filename"),
            (g::FILE_INODE_OFFSET, "file", "f_inode"),
            (g::INODE_MODE_OFFSET, "inode", "i_mode"),
        ];
        // One pass over the kernel's types finds every struct and attach target by name.
        let mut names: Vec<(&str, Named)> = vec![
            (CAP_CAPABLE, Named::Func),
            (TRACE_CAP_CAPABLE, Named::Typedef),
            (TRACE_EXEC, Named::Typedef),
        ];
        for (_, strukt, _) in &wanted {
            if !names.contains(&(*strukt, Named::Struct)) {
                names.push((strukt, Named::Struct));
            }
        }
        let ids = kernel.type_ids(&names);
        let id_of = |name: &str, named: Named| {
            names
                .iter()
                .zip(&ids)
                .find(|((n, k), _)| *n == name && *k == named)
                .and_then(|(_, id)| *id)
        };
        let mut fields = Vec::with_capacity(wanted.len());
        for (global, strukt, member) in wanted {
            let id = id_of(strukt, Named::Struct).ok_or_else(|| BtfError::NoStruct {
                name: strukt.to_owned(),
            })?;
            fields.push((global, kernel.struct_member_offset(id, strukt, member)?));
        }
        // Linux 5.1+ calls the fourth parameter `opts` (before, `audit`).
        let cap_capable_has_opts = id_of(CAP_CAPABLE, Named::Func)
            .and_then(|id| kernel.params_of(id))
            .is_some_and(|params| params.get(3).is_some_and(|p| p == "opts"));
        let targets = [
            (Named::Func, CAP_CAPABLE),
            (Named::Typedef, TRACE_CAP_CAPABLE),
            (Named::Typedef, TRACE_EXEC),
        ]
        .into_iter()
        .filter_map(|(named, name)| id_of(name, named).map(|id| (id, named, name)))
        .collect();
        Ok(Offsets {
            fields,
            cap_capable_has_opts,
            targets,
        })
    }

    /// Set the programs' globals before the object is loaded.
    pub fn configure<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        for (global, offset) in &self.fields {
            loader.override_global(global, offset, true);
        }
    }

    /// The BTF aya loads the programs with: only their attach targets (see
    /// `kernel_btf::attach_targets_only`).
    fn attach_btf(&self) -> Result<Btf, CapsError> {
        let blob = attach_targets_only(&self.targets);
        Btf::parse(&blob, aya::Endianness::default()).map_err(CapsError::AyaBtf)
    }
}

/// The hook that saw the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// `sysallow_common::caps::hooks::*`.
    pub name: &'static str,
    pub sees_noaudit: bool,
    /// Why fexit was not used, when it was not.
    pub fexit_refused: Option<String>,
}

impl Hook {
    /// One line for `record`'s output: which hook, and what it cannot see.
    pub fn describe(&self) -> String {
        match &self.fexit_refused {
            None => format!("capability checks seen by {} (with NOAUDIT)", self.name),
            Some(why) => format!(
                "capability checks seen by {} (fexit/cap_capable refused: {why}; without \
                 NOAUDIT, advisory checks are told apart by syscall)",
                self.name
            ),
        }
    }
}

/// Load and attach the capability programs: the first hook that loads, then the exec one.
pub fn attach(ebpf: &mut Ebpf, offsets: &Offsets) -> Result<Hook, TracerError> {
    let btf = offsets.attach_btf()?;
    let fexit_refused = if offsets.cap_capable_has_opts {
        let fexit = program_mut::<FExit>(ebpf, caps::programs::CAP_CAPABLE_FEXIT)
            .map_err(|e| sysallow_profile::error_chain(&e))
            .and_then(|p| {
                p.load(CAP_CAPABLE, &btf)
                    .and_then(|()| p.attach().map(drop))
                    .map_err(|e| sysallow_profile::error_chain(&e))
            });
        fexit.err()
    } else {
        Some("cap_capable has no opts parameter on this kernel".to_owned())
    };
    let hook = match fexit_refused {
        None => Hook {
            name: caps::hooks::FEXIT,
            sees_noaudit: true,
            fexit_refused: None,
        },
        Some(why) => {
            let tp = program_mut::<BtfTracePoint>(ebpf, caps::programs::CAP_CAPABLE_TP)
                .map_err(|e| sysallow_profile::error_chain(&e))
                .and_then(|p| {
                    p.load("cap_capable", &btf)
                        .and_then(|()| p.attach().map(drop))
                        .map_err(|e| sysallow_profile::error_chain(&e))
                });
            if let Err(tp_btf) = tp {
                return Err(CapsError::NoHook { fexit: why, tp_btf }.into());
            }
            Hook {
                name: caps::hooks::TP_BTF,
                sees_noaudit: false,
                fexit_refused: Some(why),
            }
        }
    };
    let exec: &mut BtfTracePoint = program_mut(ebpf, caps::programs::EXEC_CREDS)?;
    exec.load("sched_process_exec", &btf)
        .and_then(|()| exec.attach().map(drop))
        .map_err(CapsError::Exec)?;
    Ok(hook)
}

/// What the kernel side kept, read back for several targets at once (each map walked once):
/// `by_index` maps a target's index to its place in the result, `slots` a program slot to
/// that place and the program it stands for (as `Tracer::counts_of` names them).
pub fn read(
    ebpf: &Ebpf,
    hook: &Hook,
    by_index: &BTreeMap<u32, usize>,
    slots: &BTreeMap<u32, (usize, String)>,
    host: Abi,
) -> Result<Vec<Privileges>, TracerError> {
    let abis = host.host_abis();
    let n = by_index.len();
    let mut checks: Vec<BTreeMap<CapCheck, u64>> = vec![BTreeMap::new(); n];
    let map: HashMap<&MapData, CapKey, u64> = map_ref(ebpf, caps::maps::CAP_CHECKS)?;
    for entry in map.iter() {
        let (key, count) = entry.for_map(caps::maps::CAP_CHECKS)?;
        // Only the workloads' slots: the set-up slot (a runtime's capset, setgroups and
        // mounts before the boundary) and other targets' slots are not in `slots`.
        let Some((i, program)) = slots.get(&key.slot) else {
            continue;
        };
        let (granted, ns, override_creds, noaudit) = cap_flags_parts(key.flags);
        let syscall = if key.syscall == NO_SYSCALL {
            None
        } else {
            syscall_at(abis, key.syscall).map(|(abi, nr)| {
                let name = abi
                    .syscall_name(nr)
                    .map_or_else(|| format!("nr_{nr}"), str::to_owned);
                (abi, name)
            })
        };
        let check = CapCheck {
            capability: capability_name(key.cap),
            granted,
            namespace: match ns {
                NS_OWN => CapNamespace::Own,
                NS_CHILD => CapNamespace::Child,
                _ => CapNamespace::Other,
            },
            override_creds,
            noaudit,
            syscall,
            program: program.clone(),
            count: 0,
        };
        *checks[*i].entry(check).or_default() += count;
    }
    let mut all: Vec<Privileges> = checks
        .into_iter()
        .map(|checks| Privileges {
            hook: hook.name.to_owned(),
            sees_noaudit: hook.sees_noaudit,
            checks: checks
                .into_iter()
                .map(|(check, count)| CapCheck { count, ..check })
                .collect(),
            ..Privileges::default()
        })
        .collect();

    let execs: HashMap<&MapData, PrivExecKey, u64> = map_ref(ebpf, caps::maps::PRIV_EXECS)?;
    let mut by_exec: Vec<BTreeMap<PrivilegedExec, u64>> = vec![BTreeMap::new(); n];
    for entry in execs.iter() {
        let (key, count) = entry.for_map(caps::maps::PRIV_EXECS)?;
        let Some(&i) = by_index.get(&key.target) else {
            continue;
        };
        let exec = PrivilegedExec {
            program: String::from_utf8_lossy(key.path_bytes()).into_owned(),
            setuid: key.kind & EXEC_SETUID != 0,
            setgid: key.kind & EXEC_SETGID != 0,
            file_caps: (0..64)
                .filter(|bit| key.file_caps & (1u64 << bit) != 0)
                .map(capability_name)
                .collect(),
            count: 0,
        };
        *by_exec[i].entry(exec).or_default() += count;
    }
    for (privileges, by_exec) in all.iter_mut().zip(by_exec) {
        privileges.privileged_execs = by_exec
            .into_iter()
            .map(|(exec, count)| PrivilegedExec { count, ..exec })
            .collect();
    }

    let ids: HashMap<&MapData, u64, u8> = map_ref(ebpf, caps::maps::CRED_IDS)?;
    for key in ids.keys() {
        let key = key.for_map(caps::maps::CRED_IDS)?;
        let (target, gid, id) = cred_id_parts(key);
        let Some(&i) = by_index.get(&target) else {
            continue;
        };
        if gid {
            all[i].egids.insert(id);
        } else {
            all[i].euids.insert(id);
        }
    }
    Ok(all)
}

/// `CAP_CHOWN`, or `cap_<n>` for a number the table does not know.
fn capability_name(number: u32) -> String {
    sysallow_profile::caps::by_number(number)
        .map_or_else(|| format!("cap_{number}"), |c| c.name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown_capabilities() {
        assert_eq!(capability_name(0), "CAP_CHOWN");
        assert_eq!(capability_name(21), "CAP_SYS_ADMIN");
        assert_eq!(capability_name(63), "cap_63");
    }
}
