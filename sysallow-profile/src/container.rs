//! Who ran a container: the engine (also what `sysallow::target` recognises a container's
//! cgroup by) and the OCI runtime, typed at the boundary. Engines report these as strings (Docker's `HostConfig.Runtime`,
//! conmon's `--runtime` path, containerd's shim binary); they are read here once, by exact
//! name, so that a typo or an unknown runtime is `Other` and never selects runc's or crun's
//! tail by accident. In a Recording both are written as their plain names.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::runtime::OciRuntime;

/// The engine that ran a container.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Engine {
    Docker,
    Podman,
    Containerd,
    CriO,
    /// A Kubernetes pod's container under the cgroupfs driver, where containerd and CRI-O
    /// cannot be told apart from the path.
    Kubernetes,
    /// A container whose engine nothing named: a bare 64-hex-digit cgroup outside the known
    /// parents (e.g. Docker with `--cgroup-parent`) that no engine's API answered for.
    Unknown,
    /// A name sysallow does not know, kept as written.
    Other(String),
}

impl Engine {
    pub fn as_str(&self) -> &str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
            Engine::Containerd => "containerd",
            Engine::CriO => "cri-o",
            Engine::Kubernetes => "kubernetes",
            Engine::Unknown => "unknown",
            Engine::Other(name) => name,
        }
    }
}

impl From<String> for Engine {
    fn from(name: String) -> Engine {
        match name.as_str() {
            "docker" => Engine::Docker,
            "podman" => Engine::Podman,
            "containerd" => Engine::Containerd,
            // Earlier recordings wrote `crio`.
            "cri-o" | "crio" => Engine::CriO,
            "kubernetes" => Engine::Kubernetes,
            "unknown" => Engine::Unknown,
            _ => Engine::Other(name),
        }
    }
}

impl From<&str> for Engine {
    fn from(name: &str) -> Engine {
        Engine::from(name.to_owned())
    }
}

impl From<Engine> for String {
    fn from(engine: Engine) -> String {
        engine.as_str().to_owned()
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The OCI runtime that started a container, as its engine reported it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Runtime {
    Known(OciRuntime),
    /// A runtime sysallow has no tail for (youki, kata, gVisor's runsc, ...), or one the
    /// engine named in a way not recognised; kept as reported.
    Other(String),
}

impl Runtime {
    /// Read what an engine reports: a runtime name (`runc`, `crun`), a path to its binary
    /// (`/usr/bin/crun`, conmon's `--runtime`), or containerd's runc shim type
    /// (`io.containerd.runc.v2`). Exact names only.
    pub fn from_reported(reported: &str) -> Runtime {
        let base = reported.rsplit('/').next().unwrap_or(reported);
        match base {
            "runc" | "io.containerd.runc.v1" | "io.containerd.runc.v2" => {
                Runtime::Known(OciRuntime::Runc)
            }
            "crun" => Runtime::Known(OciRuntime::Crun),
            _ => Runtime::Other(reported.to_owned()),
        }
    }

    /// The runtime whose measured tail applies, if sysallow has one.
    pub fn oci(&self) -> Option<OciRuntime> {
        match self {
            Runtime::Known(oci) => Some(*oci),
            Runtime::Other(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Runtime::Known(oci) => oci.name(),
            Runtime::Other(name) => name,
        }
    }
}

impl From<String> for Runtime {
    fn from(name: String) -> Runtime {
        Runtime::from_reported(&name)
    }
}

impl From<&str> for Runtime {
    fn from(name: &str) -> Runtime {
        Runtime::from_reported(name)
    }
}

impl From<Runtime> for String {
    fn from(runtime: Runtime) -> String {
        runtime.as_str().to_owned()
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_are_read_by_exact_name_only() {
        for (reported, expected) in [
            ("runc", Some(OciRuntime::Runc)),
            ("/usr/sbin/runc", Some(OciRuntime::Runc)),
            ("io.containerd.runc.v2", Some(OciRuntime::Runc)),
            ("crun", Some(OciRuntime::Crun)),
            ("/usr/bin/crun", Some(OciRuntime::Crun)),
            // A typo or another runtime: no tail is chosen by a substring.
            ("crunch", None),
            ("runc-debug", None),
            ("youki", None),
        ] {
            assert_eq!(
                Runtime::from_reported(reported).oci(),
                expected,
                "{reported}"
            );
        }
        assert_eq!(Runtime::from_reported("youki").to_string(), "youki");
    }

    #[test]
    fn names_round_trip_through_a_recording() {
        for name in [
            "docker",
            "podman",
            "containerd",
            "cri-o",
            "kubernetes",
            "lxc",
        ] {
            let engine = Engine::from(name.to_owned());
            let json = serde_json::to_string(&engine).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Engine>(&json).unwrap(), engine);
        }
        assert_eq!(Engine::from("crio".to_owned()), Engine::CriO);
        assert_eq!(Engine::from("lxc".to_owned()), Engine::Other("lxc".into()));
        let runtime: Runtime = serde_json::from_str("\"crun\"").unwrap();
        assert_eq!(runtime, Runtime::Known(OciRuntime::Crun));
        assert_eq!(serde_json::to_string(&runtime).unwrap(), "\"crun\"");
    }
}
