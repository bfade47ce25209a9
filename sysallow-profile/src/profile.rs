//! The Profile: a seccomp policy in the shape of Docker's `--security-opt seccomp=FILE`, the
//! richest of the formats users deploy. Every other format (OCI, Podman, Kubernetes, systemd)
//! is written from and read into this model (see `formats`).
//!
//! Field names follow moby's `api/types` seccomp definitions; unknown fields are refused so a
//! typo in a hand-edited profile is caught rather than ignored.

use serde::{Deserialize, Serialize};

/// What the kernel does with a matching syscall.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Action {
    #[serde(rename = "SCMP_ACT_ALLOW")]
    #[default]
    Allow,
    /// Fail with an errno (`errnoRet`, or the default errno for `defaultAction`).
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    #[serde(rename = "SCMP_ACT_KILL", alias = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    #[serde(rename = "SCMP_ACT_NOTIFY")]
    Notify,
}

/// A comparison of one syscall argument (`SCMP_CMP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "SCMP_CMP_NE")]
    Ne,
    #[serde(rename = "SCMP_CMP_LT")]
    Lt,
    #[serde(rename = "SCMP_CMP_LE")]
    Le,
    #[serde(rename = "SCMP_CMP_EQ")]
    Eq,
    #[serde(rename = "SCMP_CMP_GE")]
    Ge,
    #[serde(rename = "SCMP_CMP_GT")]
    Gt,
    /// `(arg & value) == valueTwo`.
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEq,
}

/// One argument condition. Conditions within a rule are ANDed; rules for one syscall are ORed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgCondition {
    pub index: u32,
    pub value: u64,
    #[serde(rename = "valueTwo", default, skip_serializing_if = "is_zero")]
    pub value_two: u64,
    pub op: Op,
}

impl ArgCondition {
    /// Whether argument value `v` passes, compared as 64-bit values (`SCMP_CMP_MASKED_EQ`
    /// takes `value` as the mask and `valueTwo` as the expected result, as runc and moby do).
    pub fn holds_for(&self, v: u64) -> bool {
        match self.op {
            Op::Eq => v == self.value,
            Op::Ne => v != self.value,
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
            Op::MaskedEq => v & self.value == self.value_two,
        }
    }

    /// Whether a call with arguments `args` passes. `wide` is false for a 32-bit ABI, whose
    /// arguments are 32 bits: only the low halves (of the argument and of the condition's
    /// values) are compared there. An index beyond 5 never holds (`check` rejects it).
    pub fn holds(&self, args: &[u64; 6], wide: bool) -> bool {
        let narrow = |v: u64| if wide { v } else { v & 0xffff_ffff };
        let Some(&arg) = usize::try_from(self.index).ok().and_then(|i| args.get(i)) else {
            return false;
        };
        ArgCondition {
            value: narrow(self.value),
            value_two: narrow(self.value_two),
            ..self.clone()
        }
        .holds_for(narrow(arg))
    }
}

/// Where rule `index` is, for messages: `syscalls[3] (read)`.
pub fn rule_place(index: usize, rule: &SyscallRule) -> String {
    format!("syscalls[{index}] ({})", rule.names.join(", "))
}

/// Conditions on the runtime under which a rule applies (Docker's default profile uses them to
/// grant syscalls with capabilities or on some architectures).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(rename = "minKernel", default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

impl RuleFilter {
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// One rule: these syscalls, under these conditions, get this action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyscallRule {
    pub names: Vec<String>,
    pub action: Action,
    #[serde(rename = "errnoRet", default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Podman's string spelling of the errno (`"ENOSYS"`), read and written by that format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub args: Vec<ArgCondition>,
    /// Why the rule is there.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(default, skip_serializing_if = "RuleFilter::is_empty")]
    pub includes: RuleFilter,
    #[serde(default, skip_serializing_if = "RuleFilter::is_empty")]
    pub excludes: RuleFilter,
}

/// A native architecture and the compat ones a task on it can also use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchMapEntry {
    pub architecture: String,
    /// Docker's own default profile writes `null` for "none"; read it as empty.
    #[serde(
        rename = "subArchitectures",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub sub_architectures: Vec<String>,
}

/// A seccomp profile (Docker format).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(rename = "defaultAction")]
    pub default_action: Action,
    #[serde(
        rename = "defaultErrnoRet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_errno_ret: Option<u32>,
    /// Podman's string spelling of the default errno.
    #[serde(
        rename = "defaultErrno",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_errno: Option<String>,
    /// Architectures as a flat list (`SCMP_ARCH_*`); exclusive with `archMap`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(rename = "archMap", default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMapEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(
        rename = "listenerPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
}

/// Docker's and Podman's default profiles write `null` for an empty list.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Profile {
    /// Every architecture the profile names, whether listed flat or through `archMap`.
    pub fn all_architectures(&self) -> Vec<String> {
        let mut arches = self.architectures.clone();
        for entry in &self.arch_map {
            arches.push(entry.architecture.clone());
            arches.extend(entry.sub_architectures.iter().cloned());
        }
        arches.sort();
        arches.dedup();
        arches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: Op, value: u64, value_two: u64) -> ArgCondition {
        ArgCondition {
            index: 0,
            value,
            value_two,
            op,
        }
    }

    #[test]
    fn masked_eq_uses_value_as_mask() {
        let c = cond(Op::MaskedEq, 0x7E02_0000, 0);
        assert!(c.holds(&[0x11, 0, 0, 0, 0, 0], true));
        assert!(!c.holds(&[0x2000_0000, 0, 0, 0, 0, 0], true));
    }

    #[test]
    fn a_32_bit_abi_compares_low_halves() {
        let c = cond(Op::Eq, 0x1_0000_0005, 0);
        assert!(!c.holds(&[5, 0, 0, 0, 0, 0], true));
        assert!(c.holds(&[5, 0, 0, 0, 0, 0], false));
        assert!(c.holds(&[0xffff_0000_0000_0005, 0, 0, 0, 0, 0], false));
        let beyond = ArgCondition { index: 6, ..c };
        assert!(!beyond.holds(&[5; 6], false));
    }
}
