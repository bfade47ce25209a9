//! Structural tests of each output, read back with a parser (no golden files): the compose
//! fragment is YAML with the Compose Specification's service keys, the securityContext has
//! the core/v1 fields, the docker flags parse back into the decisions.

use serde_json::Value;

use super::super::fixtures;
use super::*;

/// The keys the Compose Specification defines for a service that these fragments use
/// (compose-spec `schema/compose-spec.json`, `definitions.service.properties`).
const COMPOSE_SERVICE_KEYS: &[&str] = &[
    "cap_add",
    "cap_drop",
    "security_opt",
    "read_only",
    "tmpfs",
    "volumes",
    "user",
];

/// The core/v1 SecurityContext fields these use.
const SECURITY_CONTEXT_FIELDS: &[&str] = &[
    "capabilities",
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "seccompProfile",
];

fn yaml(text: &str) -> Value {
    match serde_norway::from_str::<Value>(text) {
        Ok(v) => v,
        Err(e) => panic!("not YAML: {e}\n{text}"),
    }
}

#[test]
fn the_compose_fragment_parses_with_the_specs_service_keys() {
    let b = fixtures::bundle(&fixtures::nginx_container());
    let doc = yaml(&compose_yaml(&b));
    let service = &doc["services"]["app"];
    let Some(keys) = service.as_object() else {
        panic!("no service object: {doc}");
    };
    for key in keys.keys() {
        assert!(COMPOSE_SERVICE_KEYS.contains(&key.as_str()), "{key}");
    }
    assert_eq!(service["cap_drop"], serde_json::json!(["ALL"]));
    assert_eq!(
        service["cap_add"],
        serde_json::json!(["CHOWN", "SETGID", "SETUID"])
    );
    assert_eq!(service["read_only"], Value::Bool(true));
    assert_eq!(
        service["tmpfs"],
        serde_json::json!(["/run", "/var/cache/nginx"])
    );
    assert_eq!(
        service["volumes"],
        serde_json::json!(["app-etc-nginx-conf-d:/etc/nginx/conf.d"])
    );
    assert!(doc["volumes"]["app-etc-nginx-conf-d"].is_object());
    let opts = service["security_opt"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(opts.contains(&Value::from("no-new-privileges:true")));
    assert!(opts.contains(&Value::from("seccomp=profile.json")));
    assert!(service.get("user").is_none(), "nginx needs root");
}

#[test]
fn the_security_context_has_the_fields_and_the_pod_spec_its_volumes() {
    let b = fixtures::bundle(&fixtures::quiet_container());
    let ctx = kubernetes_security_context(&b);
    let Some(fields) = ctx.as_object() else {
        panic!("not an object");
    };
    for key in fields.keys() {
        assert!(SECURITY_CONTEXT_FIELDS.contains(&key.as_str()), "{key}");
    }
    assert_eq!(ctx["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(ctx["capabilities"].get("add").is_none());
    assert_eq!(ctx["allowPrivilegeEscalation"], Value::Bool(false));
    assert_eq!(ctx["readOnlyRootFilesystem"], Value::Bool(true));
    assert_eq!(ctx["runAsNonRoot"], Value::Bool(true));
    assert_eq!(ctx["runAsUser"], Value::from(65534));
    assert_eq!(ctx["seccompProfile"]["type"], Value::from("Localhost"));
    assert_eq!(
        ctx["seccompProfile"]["localhostProfile"],
        Value::from("profiles/profile.json")
    );
    let doc = yaml(&kubernetes_yaml(&b));
    assert_eq!(doc["containers"][0]["securityContext"], ctx);
    assert_eq!(
        doc["containers"][0]["volumeMounts"][0],
        serde_json::json!({"name": "app-tmp", "mountPath": "/tmp"})
    );
    assert_eq!(
        doc["volumes"][0],
        serde_json::json!({"name": "app-tmp", "emptyDir": {"medium": "Memory"}})
    );
    assert_eq!(
        b.pod_security.level,
        super::super::pss::PssLevel::Restricted
    );
    assert!(kubernetes_yaml(&b).contains("Pod Security Standard met: restricted"));
}

#[test]
fn a_root_workload_with_capabilities_is_baseline_and_says_why_not_restricted() {
    let b = fixtures::bundle(&fixtures::nginx_container());
    assert_eq!(b.pod_security.level, super::super::pss::PssLevel::Baseline);
    let unmet = b.pod_security.unmet.join("\n");
    assert!(unmet.contains("runAsNonRoot"), "{unmet}");
    assert!(unmet.contains("CHOWN"), "{unmet}");
    let ctx = kubernetes_security_context(&b);
    assert!(ctx.get("runAsNonRoot").is_none());
    assert_eq!(
        ctx["capabilities"]["add"],
        serde_json::json!(["CHOWN", "SETGID", "SETUID"])
    );
}

/// The flags after `flag`, in order.
fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].as_str())
        .collect()
}

#[test]
fn both_docker_forms_grant_the_same_set() {
    for rec in [
        fixtures::nginx_container(),
        fixtures::read_mode000_as_root(),
        fixtures::docker_true(),
    ] {
        let b = fixtures::bundle(&rec);
        let want: Vec<&str> = b
            .added()
            .into_iter()
            .map(crate::hardening::short_name)
            .collect();
        let all = docker_args(&b, DockerForm::DropAll);
        assert_eq!(values(&all, "--cap-drop"), vec!["ALL"]);
        assert_eq!(values(&all, "--cap-add"), want);
        // From Docker's defaults: what remains of the 14 plus what is added is the set.
        let from = docker_args(&b, DockerForm::FromDefaults);
        let dropped = values(&from, "--cap-drop");
        let mut granted: Vec<String> = crate::caps::docker_defaults()
            .map(crate::hardening::short_name)
            .filter(|c| !dropped.contains(c))
            .map(str::to_owned)
            .collect();
        granted.extend(values(&from, "--cap-add").into_iter().map(str::to_owned));
        granted.sort_unstable();
        assert_eq!(
            granted,
            want,
            "{}",
            docker_command(&b, DockerForm::FromDefaults)
        );
    }
    let b = fixtures::bundle(&fixtures::docker_true());
    let line = docker_command(&b, DockerForm::FromDefaults);
    assert_eq!(
        values(&docker_args(&b, DockerForm::FromDefaults), "--cap-drop").len(),
        14
    );
    assert!(line.starts_with("docker run --cap-drop CHOWN"), "{line}");
    assert!(line.ends_with(" IMAGE"));
}

#[test]
fn docker_and_podman_carry_the_rest_of_the_layer() {
    let b = fixtures::bundle(&fixtures::quiet_container());
    let args = docker_args(&b, DockerForm::DropAll);
    assert_eq!(
        values(&args, "--security-opt"),
        vec!["no-new-privileges", "seccomp=profile.json"]
    );
    assert!(args.contains(&"--read-only".to_owned()));
    assert_eq!(values(&args, "--tmpfs"), vec!["/tmp"]);
    assert_eq!(values(&args, "--user"), vec!["65534"]);
    let podman = podman_args(&b);
    let ro = podman.iter().position(|a| a == "--read-only");
    assert!(ro.is_some_and(|i| podman.get(i + 1).map(String::as_str) == Some("--read-only-tmpfs=false")));
    assert!(podman_command(&b).starts_with("podman run --cap-drop ALL"));
    // A command's bundle: no read-only root (its writes are not recorded).
    let b = fixtures::bundle(&fixtures::chown_as_root());
    let args = docker_args(&b, DockerForm::DropAll);
    assert!(!args.contains(&"--read-only".to_owned()));
}

#[test]
fn systemd_lines_set_the_bounding_set_and_no_new_privileges() {
    let b = fixtures::bundle(&fixtures::chown_as_root());
    let text = systemd_lines(&b);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"[Service]"));
    assert!(lines.contains(&"CapabilityBoundingSet=CAP_CHOWN"));
    assert!(lines.contains(&"NoNewPrivileges=yes"));
    assert!(lines.contains(&"#AmbientCapabilities=CAP_CHOWN"));
    let b = fixtures::bundle(&fixtures::true_cmd());
    let text = systemd_lines(&b);
    assert!(
        text.lines().any(|l| l == "CapabilityBoundingSet="),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "User=65534"), "{text}");
    let b = fixtures::bundle(&fixtures::setuid_exec());
    assert!(systemd_lines(&b).lines().any(|l| l == "NoNewPrivileges=no"));
    let b = fixtures::bundle(&fixtures::nginx_container());
    let text = systemd_lines(&b);
    assert!(text.lines().any(|l| l == "ProtectSystem=strict"));
    assert!(text.lines().any(|l| l == "TemporaryFileSystem=/run"));
    assert!(
        text.lines()
            .any(|l| l == "ReadWritePaths=/etc/nginx/conf.d")
    );
}

#[test]
fn volume_names_are_dns_labels() {
    assert_eq!(
        volume_name("app", "/var/cache/nginx"),
        "app-var-cache-nginx"
    );
    assert_eq!(volume_name("My_App", "/a b/..c"), "my-app-a-b-c");
    let long = volume_name("app", &"/x".repeat(100));
    assert!(long.len() <= 63 && !long.ends_with('-'));
}

#[test]
fn the_bundle_files_are_all_written() {
    let b = fixtures::bundle(&fixtures::nginx_container());
    let names: Vec<&str> = files(&b).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec![
            "bundle.json",
            "docker.sh",
            "podman.sh",
            "compose.yaml",
            "kubernetes.yaml",
            "systemd.conf"
        ]
    );
}
