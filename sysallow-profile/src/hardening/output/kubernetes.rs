//! A Kubernetes container's securityContext (core/v1 SecurityContext), and a pod spec
//! fragment with it and the volumes a read-only root needs (emptyDir, in memory for a
//! tmpfs).

use serde_json::{Map, Value, json};

use super::super::{Bundle, short_name};
use super::volume_name;

/// The container's `securityContext`.
pub fn kubernetes_security_context(bundle: &Bundle) -> Value {
    let mut ctx = Map::new();
    let added: Vec<&str> = bundle.added().into_iter().map(short_name).collect();
    let mut caps = Map::new();
    caps.insert("drop".into(), json!(["ALL"]));
    if !added.is_empty() {
        caps.insert("add".into(), json!(added));
    }
    ctx.insert("capabilities".into(), Value::Object(caps));
    // allowPrivilegeEscalation is Kubernetes' no_new_privs.
    ctx.insert(
        "allowPrivilegeEscalation".into(),
        json!(!bundle.no_new_privileges()),
    );
    if bundle.read_only.read_only() {
        ctx.insert("readOnlyRootFilesystem".into(), json!(true));
    }
    if bundle.user.non_root() {
        ctx.insert("runAsNonRoot".into(), json!(true));
        // runAsUser takes a number; a user name stays with the image (runAsNonRoot then
        // needs the image's USER to be numeric, which kubelet checks).
        if let Some(uid) = bundle.user.uid() {
            ctx.insert("runAsUser".into(), json!(uid));
        }
        if let Some(gid) = bundle.user.gid() {
            ctx.insert("runAsGroup".into(), json!(gid));
        }
    }
    let seccomp = match &bundle.seccomp {
        Some(s) => json!({"type": "Localhost", "localhostProfile": s.localhost_profile}),
        None => json!({"type": "RuntimeDefault"}),
    };
    ctx.insert("seccompProfile".into(), seccomp);
    Value::Object(ctx)
}

/// A pod spec fragment: `containers: [{name, securityContext, volumeMounts}]` and
/// `volumes`.
pub fn kubernetes_pod_spec(bundle: &Bundle) -> Value {
    let mut container = Map::new();
    container.insert("name".into(), json!(bundle.name));
    container.insert(
        "securityContext".into(),
        kubernetes_security_context(bundle),
    );
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    if bundle.read_only.read_only() {
        for m in &bundle.read_only.mounts {
            let name = volume_name(&bundle.name, &m.path);
            mounts.push(json!({"name": name, "mountPath": m.path}));
            // A volume with the image's content has no Kubernetes equivalent that fills
            // itself: an emptyDir on disk, filled by an init container (the bundle's warning
            // says so).
            let empty_dir = match m.kind {
                super::super::rootfs::MountKind::Tmpfs => json!({"medium": "Memory"}),
                super::super::rootfs::MountKind::Volume => json!({}),
            };
            volumes.push(json!({"name": name, "emptyDir": empty_dir}));
        }
    }
    if !mounts.is_empty() {
        container.insert("volumeMounts".into(), Value::Array(mounts));
    }
    let mut spec = Map::new();
    spec.insert("containers".into(), json!([Value::Object(container)]));
    if !volumes.is_empty() {
        spec.insert("volumes".into(), Value::Array(volumes));
    }
    Value::Object(spec)
}

/// The pod spec fragment as YAML, headed by the Pod Security level it meets.
pub fn kubernetes_yaml(bundle: &Bundle) -> String {
    let body = serde_norway::to_string(&kubernetes_pod_spec(bundle)).unwrap_or_default();
    let mut head = format!(
        "# sysallow run-time layer for {}: merge into the pod template's spec.\n\
         # Pod Security Standard met: {}\n",
        bundle.source,
        bundle.pod_security.level.name()
    );
    for unmet in &bundle.pod_security.unmet {
        head.push_str(&format!("#   not {unmet}\n"));
    }
    head + &body
}
