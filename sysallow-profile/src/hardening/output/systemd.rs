//! systemd unit lines (systemd.exec(5)) for `sysallow record -- CMD` users: the bounding
//! set, ambient capabilities for a non-root `User=`, `NoNewPrivileges=`, and a read-only
//! file system with the written directories writable where the writes were recorded.

use super::super::Bundle;

/// The `[Service]` lines.
pub fn systemd_lines(bundle: &Bundle) -> String {
    let added = bundle.added();
    let mut out = format!(
        "# sysallow run-time layer for {}\n[Service]\n",
        bundle.source
    );
    // An empty assignment empties the bounding set (systemd.exec(5)).
    out.push_str(&format!("CapabilityBoundingSet={}\n", added.join(" ")));
    if let Some(user) = &bundle.user.user {
        out.push_str(&format!("User={user}\n"));
    }
    // systemd, unlike Docker, can give a non-root User= capabilities: as ambient ones. The
    // bundle proposes a non-root user only when it needs none from outside, so ambient
    // capabilities are written for a unit whose user the bundle did not choose (a comment).
    if !added.is_empty() {
        out.push_str(&format!(
            "# With a non-root User=, the capabilities must also be ambient:\n\
             #AmbientCapabilities={}\n",
            added.join(" ")
        ));
    }
    out.push_str(&format!(
        "NoNewPrivileges={}\n",
        if bundle.no_new_privileges() {
            "yes"
        } else {
            "no"
        }
    ));
    if bundle.read_only.read_only() {
        out.push_str("ProtectSystem=strict\n");
        for m in bundle.read_only.tmpfs() {
            out.push_str(&format!("TemporaryFileSystem={}\n", m.path));
        }
        for m in bundle.read_only.volumes() {
            out.push_str(&format!("ReadWritePaths={}\n", m.path));
        }
    }
    out
}
