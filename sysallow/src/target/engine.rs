//! A minimal client of the Docker Engine API over its unix socket (Podman serves the same
//! compatible API), for the two requests target resolution needs:
//! `GET /containers/{id or name}/json` (inspect) and `GET /containers/json?all=1` (list).
//! Podman is inspected through its own libpod endpoint
//! (`GET /v4.0.0/libpod/containers/{id or name}/json`): its compatible answer says
//! `"Runtime": "oci"`, where libpod's `OCIRuntime` names runc or crun (Podman 4.3, measured).
//!
//! A blocking HTTP/1.1 exchange over `UnixStream` is enough for this: one request per
//! connection (`Connection: close`), a response with `Content-Length` or chunked. A crate
//! (bollard, hyper + hyperlocal) would bring an async runtime and dozens of dependencies into
//! a binary that otherwise needs none.
//! API reference: <https://docs.docker.com/engine/api/v1.41/#tag/Container>.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use super::conventions::Engine;

/// How long one API request may take (the daemon answers inspect in milliseconds).
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response read (a list of many containers is well under this).
const MAX_RESPONSE: u64 = 64 << 20;

/// An engine API socket: Docker's, or Podman's compatible one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSocket {
    pub path: PathBuf,
    pub engine: Engine,
}

impl EngineSocket {
    /// The sockets to try, in order: `DOCKER_HOST` (when `unix://`), else
    /// `/var/run/docker.sock`; then Podman's: `CONTAINER_HOST` (when `unix://`, the variable
    /// `podman --remote` reads), else its rootful socket `/run/podman/podman.sock`.
    pub fn from_env() -> Vec<EngineSocket> {
        let socket = |variable: &str, default: &str, engine: Engine| {
            let path = match std::env::var(variable) {
                Ok(host) if !host.is_empty() => host.strip_prefix("unix://").map(PathBuf::from),
                _ => Some(PathBuf::from(default)),
            };
            path.map(|path| EngineSocket { path, engine })
        };
        [
            socket("DOCKER_HOST", "/var/run/docker.sock", Engine::Docker),
            socket("CONTAINER_HOST", "/run/podman/podman.sock", Engine::Podman),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub fn docker(path: impl Into<PathBuf>) -> EngineSocket {
        EngineSocket {
            path: path.into(),
            engine: Engine::Docker,
        }
    }

    pub fn podman(path: impl Into<PathBuf>) -> EngineSocket {
        EngineSocket {
            path: path.into(),
            engine: Engine::Podman,
        }
    }
}

/// What inspect tells about a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerJson {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    /// The container's init process on the host; 0 when it is not running.
    pub pid: u32,
    pub running: bool,
    pub image: Option<String>,
    /// `HostConfig.CgroupParent` as given to `docker run` (empty for the default).
    pub cgroup_parent: String,
    /// `HostConfig.Runtime`: the OCI runtime that starts it (`runc`, `crun`, or a name given
    /// to the daemon with `--add-runtime`), which decides the post-filter tail.
    pub oci_runtime: Option<String>,
    /// `HostConfig.SecurityOpt` has `no-new-privileges` (which shrinks the runtime's tail).
    pub no_new_privileges: bool,
    /// `GraphDriver.Data.UpperDir` and `LowerDir` (top first) where the storage driver is an
    /// overlay (Docker's overlay2, Podman's overlay): the container's writable layer and the
    /// image's, kept until the container is removed.
    pub layers: Option<(String, Vec<String>)>,
    /// Where volumes, binds and tmpfs mounts sit inside it (`Mounts[].Destination`,
    /// `HostConfig.Tmpfs`).
    pub mounts: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no socket at {0}")]
    NoSocket(PathBuf),
    #[error("connecting to {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: bad HTTP response: {reason}")]
    Protocol { path: PathBuf, reason: String },
    #[error("{path}: HTTP {status}: {message}")]
    Status {
        path: PathBuf,
        status: u16,
        message: String,
    },
}

impl EngineError {
    /// A container that does not exist (HTTP 404), as opposed to a failure to ask.
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::Status { status: 404, .. })
    }
}

impl EngineSocket {
    /// Inspect: `GET /containers/{query}/json` (Podman: its libpod endpoint). Both engines
    /// accept a full id, a unique id prefix, or a name.
    pub fn inspect(&self, query: &str) -> Result<ContainerJson, EngineError> {
        let prefix = match self.engine {
            Engine::Podman => "/v4.0.0/libpod",
            _ => "",
        };
        let body = self.get(&format!(
            "{prefix}/containers/{}/json",
            percent_encode(query)
        ))?;
        decode_inspect(self.engine.clone(), &body).map_err(|reason| self.protocol(reason))
    }

    /// `GET /containers/json?all=1`: (id, name without `/`) of every container.
    pub fn list(&self) -> Result<Vec<(String, String)>, EngineError> {
        let body = self.get("/containers/json?all=1")?;
        decode_list(&body).map_err(|reason| self.protocol(reason))
    }

    fn protocol(&self, reason: String) -> EngineError {
        EngineError::Protocol {
            path: self.path.clone(),
            reason,
        }
    }

    /// One GET; the body of a 2xx response, else the error message the daemon gave.
    fn get(&self, target: &str) -> Result<Vec<u8>, EngineError> {
        let path = &self.path;
        if !path.exists() {
            return Err(EngineError::NoSocket(path.clone()));
        }
        let mut stream = UnixStream::connect(path).map_err(|source| EngineError::Connect {
            path: path.clone(),
            source,
        })?;
        let io = |source| EngineError::Io {
            path: path.clone(),
            source,
        };
        stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
        stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: sysallow\r\n\
             Accept: application/json\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).map_err(io)?;
        let mut raw = Vec::new();
        stream
            .take(MAX_RESPONSE)
            .read_to_end(&mut raw)
            .map_err(io)?;
        let response = parse_response(&raw).map_err(|reason| self.protocol(reason))?;
        if (200..300).contains(&response.status) {
            return Ok(response.body);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&response.body).trim().to_owned());
        Err(EngineError::Status {
            path: path.clone(),
            status: response.status,
            message,
        })
    }
}

impl std::fmt::Display for EngineSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} API at {}", self.engine, self.path.display())
    }
}

/// The container an engine's inspect answer describes: Docker's `GET /containers/ID/json`, or
/// Podman's libpod one, which has the same fields but for the OCI runtime (`OCIRuntime`) and
/// the image name (`ImageName`).
pub fn decode_inspect(engine: Engine, body: &[u8]) -> Result<ContainerJson, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let str_at = |ptr: &str| value.pointer(ptr).and_then(|v| v.as_str());
    let (runtime_at, image_at) = match engine {
        Engine::Podman => ("/OCIRuntime", "/ImageName"),
        _ => ("/HostConfig/Runtime", "/Config/Image"),
    };
    let id = str_at("/Id").ok_or("inspect has no Id")?.to_owned();
    let layers = str_at("/GraphDriver/Data/UpperDir").map(|upper| {
        let lowers = str_at("/GraphDriver/Data/LowerDir")
            .unwrap_or_default()
            .split(':')
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        (upper.to_owned(), lowers)
    });
    let mut mounts: Vec<String> = value
        .pointer("/Mounts")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("Destination").and_then(|d| d.as_str()))
        .map(str::to_owned)
        .collect();
    if let Some(tmpfs) = value
        .pointer("/HostConfig/Tmpfs")
        .and_then(|v| v.as_object())
    {
        mounts.extend(tmpfs.keys().cloned());
    }
    Ok(ContainerJson {
        id,
        name: str_at("/Name")
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        pid: value
            .pointer("/State/Pid")
            .and_then(|v| v.as_u64())
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0),
        running: value
            .pointer("/State/Running")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        image: str_at(image_at).map(str::to_owned),
        cgroup_parent: str_at("/HostConfig/CgroupParent")
            .unwrap_or_default()
            .to_owned(),
        oci_runtime: str_at(runtime_at)
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        // Docker writes `no-new-privileges` or `no-new-privileges:true` (and accepts `=`).
        no_new_privileges: value
            .pointer("/HostConfig/SecurityOpt")
            .and_then(|v| v.as_array())
            .is_some_and(|opts| {
                opts.iter().filter_map(|o| o.as_str()).any(|o| {
                    matches!(
                        o,
                        "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
                    )
                })
            }),
        layers,
        mounts,
    })
}

/// (id, name without `/`) of every container in an engine's list answer
/// (`GET /containers/json`).
pub fn decode_list(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let items = value.as_array().ok_or("container list is not an array")?;
    Ok(items
        .iter()
        .filter_map(|c| {
            let id = c.get("Id")?.as_str()?.to_owned();
            let name = c
                .get("Names")
                .and_then(|n| n.get(0))
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned();
            Some((id, name))
        })
        .collect())
}

/// A whole HTTP/1.1 response.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Parse a whole HTTP/1.1 response (the server closed the connection after it).
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad Content-Length")?);
        }
    }
    let rest = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or("body shorter than Content-Length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

/// Decode `Transfer-Encoding: chunked` (RFC 9112 §7.1): `size-hex[;ext]\r\n data \r\n`...,
/// ended by a zero-size chunk.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_line = std::str::from_utf8(&rest[..line_end]).map_err(|_| "bad chunk size")?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("truncated chunk")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

/// Percent-encode a path segment (container names are `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, but the
/// query comes from the user).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunked_and_sized_responses() {
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
        let r = parse_response(chunked).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{\"a\":1}"[..]));
        let sized = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}trailing";
        let r = parse_response(sized).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"{}"[..]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab")
                .is_err()
        );
    }

    #[test]
    fn decodes_podmans_libpod_inspect() {
        // Abridged from Podman 4.3.1's `GET /v4.0.0/libpod/containers/sleeper/json`.
        let body = br#"{"Id":"c0638d273e01","Name":"sleeper","State":{"Running":true,"Pid":18308},
            "ImageName":"localhost/sysallow-test:latest","OCIRuntime":"runc",
            "HostConfig":{"CgroupParent":"/sysallow-pm2","SecurityOpt":["no-new-privileges"],
            "Runtime":"oci"}}"#;
        let c = decode_inspect(Engine::Podman, body).unwrap();
        assert_eq!(
            (c.name.as_str(), c.pid, c.running),
            ("sleeper", 18308, true)
        );
        assert_eq!(c.oci_runtime.as_deref(), Some("runc"));
        assert_eq!(c.image.as_deref(), Some("localhost/sysallow-test:latest"));
        assert!(c.no_new_privileges);
        assert_eq!((c.layers, c.mounts.len()), (None, 0));
        // Read as Docker's answer, the runtime is Podman's placeholder.
        let c = decode_inspect(Engine::Docker, body).unwrap();
        assert_eq!(c.oci_runtime.as_deref(), Some("oci"));
    }

    #[test]
    fn decodes_the_overlay_layers_and_the_mounts() {
        // Abridged from Docker 20.10's inspect of `docker run -v data:/data --tmpfs /run`.
        let body = br#"{"Id":"ab","Name":"/web","State":{"Running":false,"Pid":0},
            "GraphDriver":{"Name":"overlay2","Data":{
              "LowerDir":"/d/overlay2/ab-init/diff:/d/overlay2/img/diff",
              "MergedDir":"/d/overlay2/ab/merged","UpperDir":"/d/overlay2/ab/diff",
              "WorkDir":"/d/overlay2/ab/work"}},
            "Mounts":[{"Type":"volume","Name":"data","Destination":"/data"}],
            "HostConfig":{"Tmpfs":{"/run":""}}}"#;
        let c = decode_inspect(Engine::Docker, body).unwrap();
        assert_eq!(
            c.layers,
            Some((
                "/d/overlay2/ab/diff".to_owned(),
                vec![
                    "/d/overlay2/ab-init/diff".to_owned(),
                    "/d/overlay2/img/diff".to_owned()
                ]
            ))
        );
        assert_eq!(c.mounts, ["/data", "/run"]);
    }

    #[test]
    fn encodes_path_segments() {
        assert_eq!(percent_encode("web-1.x_y"), "web-1.x_y");
        assert_eq!(percent_encode("a/../b c"), "a%2F..%2Fb%20c");
    }
}
