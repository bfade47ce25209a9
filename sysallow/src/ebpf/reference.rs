//! The bench's reference programs (`cargo xtask bench`): one tiny program attached to
//! `sys_enter`, so that the bench can tell what the tracepoint itself costs from what
//! sysallow's program adds. They are an object of their own (`sysallow-ebpf`'s
//! `sysallow-ebpf-reference` binary), which only the bench loads: the object `record` loads
//! has none of them.

use aya::programs::RawTracePoint;
use sysallow_common::globals;

use super::{TracerError, program_mut, without_kernel_btf};

/// The reference object, or an empty stub when built without the BPF toolchain.
static REFERENCE_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sysallow-ebpf-reference"));

/// Which reference to attach.
#[derive(Clone, Copy, Debug)]
pub enum Reference {
    /// A program that returns at once.
    Empty,
    /// The cgroup test every syscall pays in `record` (`in_armed_cgroup`), and nothing else.
    CgroupTest { level: u32, cgroup_id: u64 },
}

/// A reference program attached to `raw_syscalls:sys_enter`; detached when dropped.
pub struct ReferenceProgram {
    _ebpf: aya::Ebpf,
}

impl ReferenceProgram {
    pub fn attach(reference: Reference) -> Result<Self, TracerError> {
        if REFERENCE_OBJECT.is_empty() {
            return Err(TracerError::NoObject);
        }
        let (program, level, cgroup_id) = match reference {
            Reference::Empty => ("reference_empty", 0, 0),
            Reference::CgroupTest { level, cgroup_id } => {
                ("reference_cgroup_test", level, cgroup_id)
            }
        };
        let mut loader = without_kernel_btf(aya::EbpfLoader::new);
        loader
            .override_global(globals::TARGET_LEVEL, &level, true)
            .override_global(globals::TARGET_CGROUP, &cgroup_id, true);
        let mut ebpf = loader.load(REFERENCE_OBJECT)?;
        let raw: &mut RawTracePoint = program_mut(&mut ebpf, program)?;
        raw.load()
            .and_then(|()| raw.attach("sys_enter").map(drop))
            .map_err(|source| TracerError::Program { program, source })?;
        Ok(ReferenceProgram { _ebpf: ebpf })
    }
}
