//! A synchronous client of the Kubernetes Container Runtime Interface (`runtime.v1`) over the
//! runtime's unix socket: containerd's CRI plugin (`unix:///run/containerd/containerd.sock`)
//! or CRI-O (`unix:///var/run/crio/crio.sock`), the API kubelet itself talks.
//!
//! gRPC is tonic's, on a current-thread tokio runtime this client owns: the agent (and the
//! tests that play kubelet) call it like any other blocking function, and the rest of the
//! binary never sees async code. The messages and stubs are `sysallow_cri::v1`, generated from
//! the vendored `api.proto`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use sysallow_cri::v1;
use sysallow_cri::v1::image_service_client::ImageServiceClient;
use sysallow_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint};

pub use sysallow_cri::v1 as api;

/// containerd's socket, kubelet's usual `--container-runtime-endpoint`.
pub const CONTAINERD_ENDPOINT: &str = "unix:///run/containerd/containerd.sock";
/// CRI-O's socket.
pub const CRIO_ENDPOINT: &str = "unix:///var/run/crio/crio.sock";

/// How long one call may take: a runtime that does not answer in this time is stuck, and the
/// agent says so rather than waiting forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error(
        "runtime endpoint {endpoint:?} is not a unix socket: give unix:///PATH (as kubelet's \
         --container-runtime-endpoint) or an absolute path"
    )]
    Endpoint { endpoint: String },
    #[error("starting the CRI client's event loop")]
    Runtime(#[source] std::io::Error),
    #[error("connecting to the container runtime at {socket}")]
    Connect {
        socket: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("CRI {call} at {socket}: {}", .status.message())]
    Call {
        call: &'static str,
        socket: PathBuf,
        status: Box<tonic::Status>,
    },
}

impl CriError {
    /// The gRPC status of a failed call, if it was one (`NotFound` for an id that is gone).
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            CriError::Call { status, .. } => Some(status.code()),
            _ => None,
        }
    }
}

/// The socket path of a CRI endpoint: `unix:///run/x.sock`, `unix:/run/x.sock` or a path.
pub fn socket_path(endpoint: &str) -> Result<PathBuf, CriError> {
    let path = match endpoint.strip_prefix("unix://") {
        Some(rest) => rest,
        None => endpoint.strip_prefix("unix:").unwrap_or(endpoint),
    };
    if path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(CriError::Endpoint {
            endpoint: endpoint.to_owned(),
        })
    }
}

/// A connection to one runtime's CRI services.
pub struct CriClient {
    runtime: tokio::runtime::Runtime,
    socket: PathBuf,
    runtime_service: RuntimeServiceClient<Channel>,
    image_service: ImageServiceClient<Channel>,
}

impl CriClient {
    /// Connect to `endpoint` (see [`socket_path`]). The socket is opened at once, so a wrong
    /// path or a missing permission is reported here.
    pub fn connect(endpoint: &str) -> Result<CriClient, CriError> {
        let socket = socket_path(endpoint)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(CriError::Runtime)?;
        let channel =
            runtime
                .block_on(connect_unix(&socket))
                .map_err(|source| CriError::Connect {
                    socket: socket.clone(),
                    source,
                })?;
        Ok(CriClient {
            runtime,
            socket,
            runtime_service: RuntimeServiceClient::new(channel.clone()),
            image_service: ImageServiceClient::new(channel),
        })
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Run one call of the runtime service (any of them: the tests make kubelet's calls
    /// through this).
    pub fn runtime_call<T, F>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(RuntimeServiceClient<Channel>) -> F,
    ) -> Result<T, CriError>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let future = f(self.runtime_service.clone());
        self.block_on(call, future)
    }

    /// Run one call of the image service.
    pub fn image_call<T, F>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(ImageServiceClient<Channel>) -> F,
    ) -> Result<T, CriError>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let future = f(self.image_service.clone());
        self.block_on(call, future)
    }

    /// Wait for one call's answer; a failed call names itself and the socket.
    fn block_on<T>(
        &mut self,
        call: &'static str,
        future: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, CriError> {
        self.runtime
            .block_on(future)
            .map(tonic::Response::into_inner)
            .map_err(|status| CriError::Call {
                call,
                socket: self.socket.clone(),
                status: Box::new(status),
            })
    }

    /// The runtime's name and version, and the CRI version it serves.
    pub fn version(&mut self) -> Result<v1::VersionResponse, CriError> {
        self.runtime_call("Version", |mut c| async move {
            c.version(v1::VersionRequest {
                version: "v1".to_owned(),
            })
            .await
        })
    }

    /// Every pod sandbox the runtime knows (ready or not).
    pub fn list_pod_sandboxes(&mut self) -> Result<Vec<v1::PodSandbox>, CriError> {
        self.runtime_call("ListPodSandbox", |mut c| async move {
            c.list_pod_sandbox(v1::ListPodSandboxRequest { filter: None })
                .await
        })
        .map(|r| r.items)
    }

    /// One sandbox's status (its labels, annotations and namespace options).
    pub fn pod_sandbox_status(
        &mut self,
        id: &str,
    ) -> Result<Option<v1::PodSandboxStatus>, CriError> {
        let id = id.to_owned();
        self.runtime_call("PodSandboxStatus", |mut c| async move {
            c.pod_sandbox_status(v1::PodSandboxStatusRequest {
                pod_sandbox_id: id,
                verbose: false,
            })
            .await
        })
        .map(|r| r.status)
    }

    /// Every container the runtime knows, in any state.
    pub fn list_containers(&mut self) -> Result<Vec<v1::Container>, CriError> {
        self.runtime_call("ListContainers", |mut c| async move {
            c.list_containers(v1::ListContainersRequest { filter: None })
                .await
        })
        .map(|r| r.containers)
    }

    /// One container's status (state, exit code, labels, annotations, log path).
    pub fn container_status(&mut self, id: &str) -> Result<Option<v1::ContainerStatus>, CriError> {
        let id = id.to_owned();
        self.runtime_call("ContainerStatus", |mut c| async move {
            c.container_status(v1::ContainerStatusRequest {
                container_id: id,
                verbose: false,
            })
            .await
        })
        .map(|r| r.status)
    }
}

/// A channel whose every connection is a fresh stream on `socket`. The URI is only a
/// placeholder tonic requires; nothing is resolved or dialled over the network.
async fn connect_unix(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let socket = socket.to_owned();
    Endpoint::from_static("http://cri.invalid")
        .connect_timeout(CALL_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_a_socket() {
        assert_eq!(
            socket_path(CONTAINERD_ENDPOINT).ok(),
            Some(PathBuf::from("/run/containerd/containerd.sock"))
        );
        assert_eq!(
            socket_path(CRIO_ENDPOINT).ok(),
            Some(PathBuf::from("/var/run/crio/crio.sock"))
        );
        assert_eq!(
            socket_path("unix:/tmp/c.sock").ok(),
            Some(PathBuf::from("/tmp/c.sock"))
        );
        assert_eq!(
            socket_path("/tmp/c.sock").ok(),
            Some(PathBuf::from("/tmp/c.sock"))
        );
        assert!(matches!(
            socket_path("tcp://127.0.0.1:1"),
            Err(CriError::Endpoint { .. })
        ));
        assert!(matches!(
            socket_path("unix://relative.sock"),
            Err(CriError::Endpoint { .. })
        ));
    }

    #[test]
    fn a_missing_socket_is_named() {
        let dir = tempfile::tempdir().ok();
        let socket = dir
            .as_ref()
            .map_or_else(|| PathBuf::from("/nonexistent"), |d| d.path().to_owned())
            .join("none.sock");
        let err = CriClient::connect(&format!("unix://{}", socket.display()))
            .err()
            .map(|e| sysallow_profile::error_chain(&e));
        let err = err.unwrap_or_default();
        assert!(
            err.contains("connecting to the container runtime at") && err.contains("none.sock"),
            "{err}"
        );
    }
}
