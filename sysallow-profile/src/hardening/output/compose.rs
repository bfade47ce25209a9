//! A compose service fragment (the Compose Specification's `services.NAME` keys `cap_drop`,
//! `cap_add`, `security_opt`, `read_only`, `tmpfs`, `volumes`, `user`), with the top-level
//! `volumes` it names.

use serde_json::{Map, Value, json};

use super::super::{Bundle, short_name};
use super::volume_name;

/// The service's keys, as a value (an object).
pub fn compose_service(bundle: &Bundle) -> Value {
    let mut service = Map::new();
    service.insert("cap_drop".into(), json!(["ALL"]));
    let added: Vec<&str> = bundle.added().into_iter().map(short_name).collect();
    if !added.is_empty() {
        service.insert("cap_add".into(), json!(added));
    }
    let mut security_opt = Vec::new();
    if bundle.no_new_privileges() {
        security_opt.push("no-new-privileges:true".to_owned());
    }
    if let Some(seccomp) = &bundle.seccomp {
        security_opt.push(format!("seccomp={}", seccomp.path));
    }
    if !security_opt.is_empty() {
        service.insert("security_opt".into(), json!(security_opt));
    }
    if bundle.read_only.read_only() {
        service.insert("read_only".into(), json!(true));
        let tmpfs: Vec<&str> = bundle.read_only.tmpfs().map(|m| m.path.as_str()).collect();
        if !tmpfs.is_empty() {
            service.insert("tmpfs".into(), json!(tmpfs));
        }
        let volumes: Vec<String> = bundle
            .read_only
            .volumes()
            .map(|m| format!("{}:{}", volume_name(&bundle.name, &m.path), m.path))
            .collect();
        if !volumes.is_empty() {
            service.insert("volumes".into(), json!(volumes));
        }
    }
    if let Some(user) = &bundle.user.user {
        service.insert("user".into(), json!(user));
    }
    Value::Object(service)
}

/// The whole fragment as a value: `services: {NAME: ...}` and the named volumes.
fn document(bundle: &Bundle) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "services".into(),
        json!({ bundle.name.clone(): compose_service(bundle) }),
    );
    let volumes: Map<String, Value> = if bundle.read_only.read_only() {
        bundle
            .read_only
            .volumes()
            .map(|m| (volume_name(&bundle.name, &m.path), json!({})))
            .collect()
    } else {
        Map::new()
    };
    if !volumes.is_empty() {
        doc.insert("volumes".into(), Value::Object(volumes));
    }
    Value::Object(doc)
}

/// The fragment as YAML, headed by a comment (merge it into the service's own definition).
pub fn compose_yaml(bundle: &Bundle) -> String {
    let body = serde_norway::to_string(&document(bundle)).unwrap_or_default();
    format!(
        "# sysallow run-time layer for {}: merge into the service's definition\n\
         # (docker compose -f compose.yaml -f this.yaml).\n{body}",
        bundle.source
    )
}
