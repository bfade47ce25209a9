//! The comment prefixes of generated rules: why each rule is in a profile. The generator
//! writes them; `explain`, `fix`, `merge` and the libseccomp warnings read them, so they are
//! kept stable (the table of meanings is in `generate`'s documentation).

pub const OBSERVED: &str = "observed";
pub const RUNTIME_TAIL: &str = "runtime tail: ";
pub const VDSO: &str = "policy: --vdso";
pub const PORTABLE: &str = "policy: --portable";
pub const ESSENTIAL: &str = "policy: essential";
pub const COMPANION: &str = "policy: companion";
pub const TIMING: &str = "policy: timing path";
pub const REPLACES: &str = "policy: replaces ";
pub const VERIFY: &str = "verify: ";
pub const IMPORTS: &str = "policy: imports";
pub const FILTER: &str = "filter in place: ";
pub const FALLBACK: &str = "fallback: ";
pub const ERRNO_PIN: &str = "errno pin: ";
pub const MERGED: &str = "merged: ";
