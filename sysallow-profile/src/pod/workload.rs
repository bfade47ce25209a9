//! A pod's workload from its labels and name (kubelet passes no owner references to the
//! runtime). Each rule names the controller code that makes the labels and names it reads.

use std::collections::BTreeMap;

use super::{Workload, WorkloadKind};

/// Set by the Deployment controller on the ReplicaSet and its pods (`apps/v1`,
/// `DefaultDeploymentUniqueLabelKey`); the ReplicaSet is `<deployment>-<hash>`.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Set by the StatefulSet and DaemonSet controllers (`ControllerRevisionHashLabelKey`).
pub const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";
/// Set by the StatefulSet controller on each pod: the pod's own name, `<statefulset>-<ordinal>`.
pub const STATEFULSET_POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
/// Set by the DaemonSet controller on each pod (`DaemonSetTemplateGenerationKey`).
pub const POD_TEMPLATE_GENERATION: &str = "pod-template-generation";
/// Set by the Job controller since Kubernetes 1.27; `job-name` before and beside it.
pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_JOB_NAME: &str = "job-name";

/// The random tail the API server's name generator appends to `generateName` (5 characters
/// from `bcdfghjklmnpqrstvwxz2456789`), and how long the prefix may be before it is cut
/// (`names.SimpleNameGenerator`: 63 - 5 = 58).
const RANDOM_SUFFIX_LEN: usize = 5;
const MAX_GENERATED_PREFIX: usize = 58;

/// The digits the CronJob controller (v2, the only one since Kubernetes 1.21) appends to a
/// Job's name: the scheduled time in minutes since the Unix epoch (`getTimeHashInMinutes`).
/// They have had 8 digits since 1989 and keep 8 until 2160.
const CRONJOB_SUFFIX_DIGITS: usize = 8;

impl Workload {
    /// The workload a pod belongs to, from the pod's labels (the pod's own, as kubelet passes
    /// them to RunPodSandbox) and its name:
    ///
    /// - `pod-template-hash` → the Deployment, the pod's name less `-<hash>-<5 chars>`. When
    ///   the API server cut a long `<deployment>-<hash>-` to 58 characters, the name is that
    ///   cut prefix (less any cut part of the hash): still the same for every replica.
    /// - `controller-revision-hash` and `statefulset.kubernetes.io/pod-name` equal to the
    ///   pod's name → the StatefulSet, the pod's name less `-<ordinal>`.
    /// - `controller-revision-hash` and `pod-template-generation` → the DaemonSet, the pod's
    ///   name less `-<5 chars>`.
    /// - `batch.kubernetes.io/job-name` (or `job-name`) → the Job; a CronJob when the Job is
    ///   named `<cronjob>-<8 digits>`. That is a guess from the name alone: the CronJob
    ///   controller names every Job it starts so, but a Job someone named `backup-20260101`
    ///   by hand is taken for CronJob `backup`'s too.
    /// - anything else → the pod is its own workload (kind `Pod`, its name).
    ///
    /// A pod whose name does not have the shape its labels promise is its own workload: labels
    /// are the user's to set, so they are trusted only where the name agrees.
    pub fn from_pod(pod_name: &str, labels: &BTreeMap<String, String>) -> Workload {
        let label = |key: &str| {
            labels
                .get(key)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        let found = if let Some(hash) = label(POD_TEMPLATE_HASH) {
            deployment(pod_name, hash).map(|name| (WorkloadKind::Deployment, name))
        } else if label(CONTROLLER_REVISION_HASH).is_some()
            && label(STATEFULSET_POD_NAME) == Some(pod_name)
        {
            statefulset(pod_name).map(|name| (WorkloadKind::StatefulSet, name))
        } else if label(CONTROLLER_REVISION_HASH).is_some()
            && label(POD_TEMPLATE_GENERATION).is_some()
        {
            generated_prefix(pod_name).map(|name| (WorkloadKind::DaemonSet, name))
        } else {
            label(JOB_NAME)
                .or_else(|| label(LEGACY_JOB_NAME))
                .map(|job| match cronjob(job) {
                    Some(cronjob) => (WorkloadKind::CronJob, cronjob.to_owned()),
                    None => (WorkloadKind::Job, job.to_owned()),
                })
        };
        let (kind, name) = found.unwrap_or_else(|| (WorkloadKind::Pod, pod_name.to_owned()));
        Workload { kind, name }
    }
}

/// `<prefix>-<5 chars>` → `<prefix>`, for names the API server generated. A prefix longer than
/// 58 characters was cut to 58 first, so a 63-character name is its first 58 (less a `-`).
fn generated_prefix(pod_name: &str) -> Option<String> {
    if pod_name.len() == MAX_GENERATED_PREFIX + RANDOM_SUFFIX_LEN {
        let cut = pod_name.get(..MAX_GENERATED_PREFIX)?.trim_end_matches('-');
        return (!cut.is_empty()).then(|| cut.to_owned());
    }
    let (prefix, random) = pod_name.rsplit_once('-')?;
    (random.len() == RANDOM_SUFFIX_LEN
        && random.bytes().all(|b| b.is_ascii_alphanumeric())
        && !prefix.is_empty())
    .then(|| prefix.to_owned())
}

fn deployment(pod_name: &str, hash: &str) -> Option<String> {
    let replicaset = generated_prefix(pod_name)?;
    if let Some(name) = replicaset
        .strip_suffix(hash)
        .and_then(|n| n.strip_suffix('-'))
    {
        return (!name.is_empty()).then(|| name.to_owned());
    }
    // `<deployment>-<hash>-` longer than 58 characters was cut to 58: what is left ends with
    // the start of the hash, or inside the Deployment's name when that alone is as long.
    if pod_name.len() != MAX_GENERATED_PREFIX + RANDOM_SUFFIX_LEN {
        return None;
    }
    let name = match replicaset.rsplit_once('-') {
        Some((name, tail)) if !tail.is_empty() && hash.starts_with(tail) => name,
        _ => replicaset.as_str(),
    };
    (!name.is_empty()).then(|| name.to_owned())
}

fn statefulset(pod_name: &str) -> Option<String> {
    let (name, ordinal) = pod_name.rsplit_once('-')?;
    (!name.is_empty() && !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.to_owned())
}

fn cronjob(job: &str) -> Option<&str> {
    let (name, minutes) = job.rsplit_once('-')?;
    (!name.is_empty()
        && minutes.len() == CRONJOB_SUFFIX_DIGITS
        && minutes.bytes().all(|b| b.is_ascii_digit()))
    .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn workload(pod: &str, pairs: &[(&str, &str)]) -> (WorkloadKind, String) {
        let w = Workload::from_pod(pod, &labels(pairs));
        (w.kind, w.name)
    }

    #[test]
    fn deployment_replicas_share_their_deployment() {
        for pod in [
            "web-frontend-7d4b9c8f5-x2x7k",
            "web-frontend-7d4b9c8f5-q9lzm",
        ] {
            assert_eq!(
                workload(pod, &[("app", "web"), (POD_TEMPLATE_HASH, "7d4b9c8f5")]),
                (WorkloadKind::Deployment, "web-frontend".to_owned())
            );
        }
    }

    #[test]
    fn a_long_deployment_name_cut_by_the_name_generator_still_groups_replicas() {
        // The Deployment's name is 52 characters: `<name>-<10-char hash>-` is 64, cut to 58.
        let name = "payments-reconciliation-worker-europe-west-primary-a";
        assert_eq!(name.len(), 52);
        let hash = "6b8f9d7c4f";
        let cut = &format!("{name}-{hash}-")[..MAX_GENERATED_PREFIX];
        for random in ["x2x7k", "q9lzm"] {
            let pod = format!("{cut}{random}");
            assert_eq!(
                workload(&pod, &[(POD_TEMPLATE_HASH, hash)]),
                (WorkloadKind::Deployment, name.to_owned()),
                "{pod}"
            );
        }
    }

    #[test]
    fn a_hash_label_the_name_does_not_agree_with_is_not_trusted() {
        assert_eq!(
            workload("my-debug-pod", &[(POD_TEMPLATE_HASH, "7d4b9c8f5")]),
            (WorkloadKind::Pod, "my-debug-pod".to_owned())
        );
    }

    #[test]
    fn statefulset_pods_drop_their_ordinal() {
        for pod in ["postgres-0", "postgres-12"] {
            assert_eq!(
                workload(
                    pod,
                    &[
                        (CONTROLLER_REVISION_HASH, "postgres-5d8c7b6f9"),
                        (STATEFULSET_POD_NAME, pod),
                        ("apps.kubernetes.io/pod-index", "0"),
                    ]
                ),
                (WorkloadKind::StatefulSet, "postgres".to_owned())
            );
        }
    }

    #[test]
    fn daemonset_pods_drop_their_random_tail() {
        assert_eq!(
            workload(
                "fluent-bit-7xk2p",
                &[
                    (CONTROLLER_REVISION_HASH, "6c9d8f7b5d"),
                    (POD_TEMPLATE_GENERATION, "3"),
                    ("k8s-app", "fluent-bit"),
                ]
            ),
            (WorkloadKind::DaemonSet, "fluent-bit".to_owned())
        );
    }

    #[test]
    fn a_long_daemonset_name_cut_by_the_name_generator_still_groups_its_pods() {
        let name = "node-local-dns-cache-with-a-very-long-descriptive-name-x1";
        assert_eq!(name.len(), 57);
        // `<name>-` is 58 characters: kept whole, then the random tail.
        let labels = [
            (CONTROLLER_REVISION_HASH, "6c9d8f7b5d"),
            (POD_TEMPLATE_GENERATION, "1"),
        ];
        for random in ["7xk2p", "b9zq4"] {
            assert_eq!(
                workload(&format!("{name}-{random}"), &labels),
                (WorkloadKind::DaemonSet, name.to_owned())
            );
        }
        // One character longer: `<name>-` is cut to 58, dropping the `-` before the tail.
        let longer = format!("{name}z");
        for random in ["7xk2p", "b9zq4"] {
            assert_eq!(
                workload(&format!("{longer}{random}"), &labels),
                (WorkloadKind::DaemonSet, longer.clone())
            );
        }
    }

    #[test]
    fn job_pods_take_the_job_label() {
        assert_eq!(
            workload(
                "db-migrate-v42-hk7q2",
                &[
                    (JOB_NAME, "db-migrate-v42"),
                    (LEGACY_JOB_NAME, "db-migrate-v42"),
                    (
                        "batch.kubernetes.io/controller-uid",
                        "0b5b1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
                    ),
                ]
            ),
            (WorkloadKind::Job, "db-migrate-v42".to_owned())
        );
        // Before Kubernetes 1.27 only `job-name` was set.
        assert_eq!(
            workload("report-x7p2q", &[(LEGACY_JOB_NAME, "report")]),
            (WorkloadKind::Job, "report".to_owned())
        );
    }

    #[test]
    fn cronjob_jobs_are_named_with_their_scheduled_minute() {
        // 29_645_820 minutes since the epoch: 2026-05-14 07:00 UTC.
        assert_eq!(
            workload(
                "nightly-backup-29645820-8s7fk",
                &[(JOB_NAME, "nightly-backup-29645820")]
            ),
            (WorkloadKind::CronJob, "nightly-backup".to_owned())
        );
        // Not 8 digits: a Job a person named.
        assert_eq!(
            workload("build-1234-8s7fk", &[(JOB_NAME, "build-1234")]),
            (WorkloadKind::Job, "build-1234".to_owned())
        );
    }

    #[test]
    fn an_unowned_pod_is_its_own_workload() {
        assert_eq!(
            workload("debug-shell", &[("run", "debug-shell")]),
            (WorkloadKind::Pod, "debug-shell".to_owned())
        );
        // A StatefulSet's labels on a pod whose name is not the one they give.
        assert_eq!(
            workload(
                "postgres-0",
                &[
                    (CONTROLLER_REVISION_HASH, "x"),
                    (STATEFULSET_POD_NAME, "postgres-1")
                ]
            ),
            (WorkloadKind::Pod, "postgres-0".to_owned())
        );
    }
}
