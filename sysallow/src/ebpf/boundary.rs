//! Where the kernel side reads a task's seccomp state for the runtime boundary
//! (`sysallow-ebpf` `boundary`): a container's process is the runtime's until its seccomp
//! state changes after it asked to install a filter.
//!
//! The state is `task->seccomp.filter`, at an offset the kernel's BTF gives: a new filter is a
//! new pointer, also for a runtime that already runs under a filter (a node inside a
//! container). Where the BTF does not give it, the `SYSCALL_WORK_SECCOMP` bit of
//! `thread_info.syscall_work`, which tells only the first filter apart; a runtime already
//! under a filter is then armed at its exec instead (the fallback boundary).

use aya::EbpfLoader;
use sysallow_common::globals;

use super::kernel_btf::{BtfError, KernelBtf, Named};

/// Offset and mask of the 8 bytes read from `task_struct`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeccompState {
    pub offset: u32,
    pub mask: u64,
}

impl SeccompState {
    /// `thread_info.syscall_work` (x86 with THREAD_INFO_IN_TASK: `thread_info` is the first
    /// member of `task_struct`, `{ unsigned long flags; unsigned long syscall_work; ... }`,
    /// Linux 5.11+), bit 0 `SYSCALL_WORK_SECCOMP` (include/linux/thread_info.h).
    pub const SYSCALL_WORK: SeccompState = SeccompState { offset: 8, mask: 1 };

    /// `task_struct.seccomp.filter` from the kernel's BTF.
    pub fn from_btf(kernel: &KernelBtf) -> Result<SeccompState, BtfError> {
        let ids = kernel.type_ids(&[("task_struct", Named::Struct), ("seccomp", Named::Struct)]);
        let id = |i: usize, name: &str| {
            ids[i].ok_or_else(|| BtfError::NoStruct {
                name: name.to_owned(),
            })
        };
        let seccomp =
            kernel.struct_member_offset(id(0, "task_struct")?, "task_struct", "seccomp")?;
        let filter = kernel.struct_member_offset(id(1, "seccomp")?, "seccomp", "filter")?;
        Ok(SeccompState {
            offset: seccomp + filter,
            mask: u64::MAX,
        })
    }

    /// Set the programs' globals before the object is loaded.
    pub fn configure<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        loader
            .override_global(globals::SECCOMP_STATE_OFFSET, &self.offset, true)
            .override_global(globals::SECCOMP_STATE_MASK, &self.mask, true);
    }
}
