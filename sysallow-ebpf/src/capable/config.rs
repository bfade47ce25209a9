//! Load-time configuration of the capability programs: struct field offsets the collector
//! reads from the running kernel's BTF (`/sys/kernel/btf/vmlinux`) and overrides before
//! loading (names in `sysallow_common::caps::globals`). The defaults are only placeholders
//! the loader always replaces (`override_global(.., must_exist = true)`). `#[used]`, as in
//! `crate::config`: no constant of the same value may be merged into one.
use aya_ebpf::Global;

/// `task_struct.real_cred`: the task's own (objective) credentials.
#[unsafe(no_mangle)]
#[used]
pub static TASK_REAL_CRED_OFFSET: Global<u32> = Global::new(0);
/// `cred.uid`, `gid`, `euid`, `egid` (`kuid_t`/`kgid_t`: one `u32`).
#[unsafe(no_mangle)]
#[used]
pub static CRED_UID_OFFSET: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
#[used]
pub static CRED_GID_OFFSET: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
#[used]
pub static CRED_EUID_OFFSET: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
#[used]
pub static CRED_EGID_OFFSET: Global<u32> = Global::new(0);
/// `cred.cap_permitted` and `cred.cap_ambient` (`kernel_cap_t`: one `u64`, Linux 6.3+).
#[unsafe(no_mangle)]
#[used]
pub static CRED_CAP_PERMITTED_OFFSET: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
#[used]
pub static CRED_CAP_AMBIENT_OFFSET: Global<u32> = Global::new(0);
/// `cred.user_ns` and `user_namespace.parent`.
#[unsafe(no_mangle)]
#[used]
pub static CRED_USER_NS_OFFSET: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
#[used]
pub static USER_NS_PARENT_OFFSET: Global<u32> = Global::new(0);
/// `linux_binprm.file`, `linux_binprm.filename`, `file.f_inode`, `inode.i_mode`.
#[unsafe(no_mangle)]
#[used]
pub static BPRM_FILE_OFFSET: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
#[used]
pub static BPRM_FILENAME_OFFSET: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
#[used]
pub static FILE_INODE_OFFSET: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
#[used]
pub static INODE_MODE_OFFSET: Global<u32> = Global::new(0);
