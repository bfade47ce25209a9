//! What changed in the run-time layer between two bundles: a capability gained or lost is a
//! reviewed change with its risk (`risk::capability_class`), as are no-new-privileges, the
//! user and a read-only root. `--fail-on` treats them as it treats syscalls: `added` selects
//! whatever lets more run, `risky` a risky capability gained.

use serde::Serialize;

use super::Bundle;
use super::caps::CapClass;
use crate::risk::{self, CapabilityRisk};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapChange {
    pub capability: String,
    /// The class in OLD and NEW; None where the capability was not seen.
    pub old: Option<CapClass>,
    pub new: Option<CapClass>,
    /// NEW adds it and OLD did not.
    pub gained: bool,
    /// OLD added it and NEW does not.
    pub lost: bool,
    pub risk: CapabilityRisk,
    /// Why NEW decided as it did (or OLD, for a capability NEW no longer saw).
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    /// `no_new_privileges`, `user`, `read_only`.
    pub setting: &'static str,
    pub old: String,
    pub new: String,
    /// NEW lets more run (no-new-privileges off, root again, a writable root, a mount more).
    pub widens: bool,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuntimeDiff {
    pub capabilities: Vec<CapChange>,
    pub settings: Vec<SettingChange>,
}

impl RuntimeDiff {
    pub fn compute(old: &Bundle, new: &Bundle) -> RuntimeDiff {
        let mut names: Vec<&str> = old
            .capabilities
            .iter()
            .chain(&new.capabilities)
            .map(|d| d.capability.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut capabilities = Vec::new();
        for name in names {
            let o = old.capabilities.iter().find(|d| d.capability == name);
            let n = new.capabilities.iter().find(|d| d.capability == name);
            let (oc, nc) = (o.map(|d| d.class), n.map(|d| d.class));
            if oc == nc {
                continue;
            }
            let was = oc.is_some_and(CapClass::added);
            let is = nc.is_some_and(CapClass::added);
            capabilities.push(CapChange {
                capability: name.to_owned(),
                old: oc,
                new: nc,
                gained: is && !was,
                lost: was && !is,
                risk: risk::capability_risk(name),
                reason: n.or(o).map(|d| d.reason.clone()).unwrap_or_default(),
            });
        }
        let mut settings = Vec::new();
        let (on, nn) = (old.no_new_privileges(), new.no_new_privileges());
        if on != nn {
            settings.push(SettingChange {
                setting: "no_new_privileges",
                old: on.to_string(),
                new: nn.to_string(),
                widens: on && !nn,
                reason: new.no_new_privileges.reason.clone(),
            });
        }
        let user = |b: &Bundle| {
            b.user
                .user
                .clone()
                .unwrap_or_else(|| "(image's)".to_owned())
        };
        if old.user.user != new.user.user {
            settings.push(SettingChange {
                setting: "user",
                old: user(old),
                new: user(new),
                widens: old.user.non_root() && !new.user.non_root(),
                reason: new.user.reasons.join("; "),
            });
        }
        let mounts = |b: &Bundle| {
            if b.read_only.read_only() {
                let m: Vec<String> = b.read_only.mounts.iter().map(|m| m.path.clone()).collect();
                format!("read-only, writable: [{}]", m.join(", "))
            } else {
                "writable".to_owned()
            }
        };
        let (om, nm) = (mounts(old), mounts(new));
        if om != nm {
            let widens = (old.read_only.read_only() && !new.read_only.read_only())
                || new
                    .read_only
                    .mounts
                    .iter()
                    .any(|m| !old.read_only.mounts.iter().any(|o| o.path == m.path));
            settings.push(SettingChange {
                setting: "read_only",
                old: om,
                new: nm,
                widens,
                reason: new.read_only.reason.clone(),
            });
        }
        RuntimeDiff {
            capabilities,
            settings,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.capabilities.is_empty() && self.settings.is_empty()
    }

    /// Whether NEW lets more run: a capability gained, or a setting widened.
    pub fn widens(&self) -> bool {
        self.capabilities.iter().any(|c| c.gained) || self.settings.iter().any(|s| s.widens)
    }

    /// Whether a risky capability was gained, or no-new-privileges was lost (an exec may
    /// raise privileges again).
    pub fn risky(&self) -> bool {
        self.capabilities.iter().any(|c| c.gained && c.risk.risky)
            || self
                .settings
                .iter()
                .any(|s| s.setting == "no_new_privileges" && s.widens)
    }

    /// Lines for a reviewer (`+` gained, `-` lost, `~` reclassified or changed).
    pub fn render_text(&self) -> String {
        let mut out = String::from("Run-time layer:\n");
        if self.is_empty() {
            out.push_str("  no change\n");
            return out;
        }
        let class = |c: Option<CapClass>| c.map_or("not seen", CapClass::name);
        for c in &self.capabilities {
            let sign = if c.gained {
                '+'
            } else if c.lost {
                '-'
            } else {
                '~'
            };
            let risk = if c.gained {
                format!(
                    " [risk: {}{}]",
                    c.risk.class,
                    if c.risk.risky { ", risky" } else { "" }
                )
            } else {
                String::new()
            };
            out.push_str(&format!(
                "  {sign} {}: {} -> {}{risk}\n      {}\n",
                c.capability,
                class(c.old),
                class(c.new),
                c.reason
            ));
        }
        for s in &self.settings {
            out.push_str(&format!(
                "  {} {}: {} -> {}\n      {}\n",
                if s.widens { '+' } else { '~' },
                s.setting,
                s.old,
                s.new,
                s.reason
            ));
        }
        out
    }

    /// Markdown for a pull-request comment.
    pub fn render_markdown(&self) -> String {
        let mut out = String::from("### Run-time layer\n\n");
        if self.is_empty() {
            out.push_str("No change.\n");
            return out;
        }
        out.push_str("| change | capability or setting | old | new | risk | why |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- |\n");
        let class = |c: Option<CapClass>| c.map_or("not seen", CapClass::name);
        for c in &self.capabilities {
            let change = if c.gained {
                "gained"
            } else if c.lost {
                "lost"
            } else {
                "reclassified"
            };
            out.push_str(&format!(
                "| {change} | `{}` | {} | {} | {}{} | {} |\n",
                c.capability,
                class(c.old),
                class(c.new),
                c.risk.class,
                if c.risk.risky { " (risky)" } else { "" },
                c.reason.replace('|', "\\|")
            ));
        }
        for s in &self.settings {
            out.push_str(&format!(
                "| {} | {} | {} | {} | | {} |\n",
                if s.widens { "widened" } else { "changed" },
                s.setting,
                s.old,
                s.new,
                s.reason.replace('|', "\\|")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardening::fixtures;

    #[test]
    fn gaining_sys_admin_is_a_risky_widening_and_losing_chown_is_not() {
        let old = fixtures::bundle(&fixtures::chown_as_root());
        let new = fixtures::bundle(&fixtures::mount_as_root());
        let d = RuntimeDiff::compute(&old, &new);
        let admin = d
            .capabilities
            .iter()
            .find(|c| c.capability == "CAP_SYS_ADMIN")
            .cloned();
        let admin = admin.unwrap_or_else(|| panic!("no SYS_ADMIN change: {d:?}"));
        assert!(admin.gained && admin.risk.risky);
        assert_eq!(admin.risk.class, "host_control");
        let chown = d.capabilities.iter().find(|c| c.capability == "CAP_CHOWN");
        assert!(chown.is_some_and(|c| c.lost && !c.gained));
        assert!(d.widens() && d.risky());
        assert!(d.render_text().contains("+ CAP_SYS_ADMIN"));
        assert!(d.render_markdown().contains("| gained | `CAP_SYS_ADMIN`"));
        // The other way round: a loss and an ordinary gain.
        let back = RuntimeDiff::compute(&new, &old);
        assert!(back.widens(), "CHOWN gained");
        assert!(!back.risky(), "CHOWN is in Docker's defaults: not risky");
        assert!(RuntimeDiff::compute(&old, &old).is_empty());
    }
}
