//! Writing the run-time layer bundle beside a profile (`generate --bundle DIR`): shared by
//! `generate`, which alone knows the profile's path the outputs must name.

use std::path::Path;

use anyhow::Context as _;
use sysallow::output::Output;
use sysallow_profile::Recording;
use sysallow_profile::hardening::{self, Bundle, Options, SeccompRef, output};

/// Decide the run-time layer of `recordings`; the outputs name `profile` (the seccomp
/// profile, `None` for stdout). Pure: nothing is written, so a recording without privileges
/// fails before the profile is.
pub fn decide(
    recordings: &[Recording],
    profile: Option<&Path>,
    name: &str,
    user: Option<String>,
) -> anyhow::Result<Bundle> {
    let seccomp = profile.map(|p| SeccompRef {
        path: p.display().to_string(),
        // Where a kubelet finds it when copied to /var/lib/kubelet/seccomp/profiles/ on
        // every node (generate's help says how; with the Security Profiles Operator it is
        // operator/NAMESPACE/NAME.json instead).
        localhost_profile: format!(
            "profiles/{}",
            p.file_name()
                .map_or_else(|| "profile.json".into(), |f| f.to_string_lossy())
        ),
    });
    let options = Options {
        user,
        seccomp,
        name: Some(name.to_owned()),
    };
    let decided = hardening::decide(recordings, &options).context("deciding the run-time layer")?;
    let source = recordings
        .first()
        .map_or_else(String::new, |r| hardening::describe_target(&r.target));
    Ok(Bundle::new(decided, source, &options))
}

/// Write every output of `bundle` into `dir` (created if missing), each file atomically.
pub fn write(dir: &Path, bundle: &Bundle) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (file, text) in output::files(bundle) {
        let path = dir.join(file);
        Output::prepare(&path, None)
            .and_then(|o| o.commit(&text))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// One line per decision for stderr: what the bundle adds and sets.
pub fn summary(bundle: &Bundle) -> String {
    let added = bundle.added();
    format!(
        "cap-add [{}], no-new-privileges {}, user {}, read-only root {}, Pod Security {}",
        added
            .iter()
            .map(|c| hardening::short_name(c))
            .collect::<Vec<_>>()
            .join(" "),
        if bundle.no_new_privileges() {
            "yes"
        } else {
            "no"
        },
        bundle.user.user.as_deref().unwrap_or("(the image's)"),
        if bundle.read_only.read_only() {
            "yes"
        } else {
            "no"
        },
        bundle.pod_security.level.name()
    )
}
