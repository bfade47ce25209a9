//! The decisions together: no-new-privileges, the user, the invariant that a non-root user
//! never goes with a capability it would not have.

use proptest::prelude::*;

use super::fixtures::{self, check};
use super::rootfs::ReadOnlyVerdict;
use super::user::UserVerdict;
use super::*;
use crate::privileges::{CapNamespace, PrivilegedExec, RootFs, RootWrite};

#[test]
fn a_setuid_exec_does_not_fit_no_new_privileges_and_says_which() {
    let b = fixtures::bundle(&fixtures::setuid_exec());
    assert!(!b.no_new_privileges.fits);
    assert!(
        b.no_new_privileges
            .reason
            .contains("/usr/local/bin/suid-id is setuid"),
        "{}",
        b.no_new_privileges.reason
    );
    assert_eq!(b.no_new_privileges.blocking.len(), 1);
    let b = fixtures::bundle(&fixtures::setcap_bind());
    assert!(!b.no_new_privileges.fits);
    assert!(
        b.no_new_privileges
            .reason
            .contains("gains CAP_NET_BIND_SERVICE")
    );
    for rec in [fixtures::true_cmd(), fixtures::nginx_container()] {
        assert!(fixtures::bundle(&rec).no_new_privileges.fits);
    }
}

#[test]
fn required_capabilities_make_non_root_infeasible() {
    let b = fixtures::bundle(&fixtures::chown_as_root());
    assert_eq!(b.user.verdict, UserVerdict::NotFeasible);
    assert_eq!(b.user.user, None);
    assert!(b.user.reasons[0].contains("CAP_CHOWN (required)"));
    assert!(b.user.reasons[0].contains("bounding set"));
}

#[test]
fn a_root_workload_that_needs_nothing_gets_nobody_or_the_given_user() {
    let b = fixtures::bundle(&fixtures::quiet_container());
    assert_eq!(b.user.verdict, UserVerdict::Feasible, "{:?}", b.user);
    assert_eq!(b.user.user.as_deref(), Some("65534"));
    assert_eq!(b.user.uid(), Some(NOBODY));
    let rec = fixtures::quiet_container();
    let options = Options {
        user: Some("1000:1000".into()),
        ..Options::default()
    };
    let h = decide(std::slice::from_ref(&rec), &options);
    let h = h.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.user.user.as_deref(), Some("1000:1000"));
    assert_eq!((h.user.uid(), h.user.gid()), (Some(1000), Some(1000)));
    let b = Bundle::new(h, "x".into(), &options);
    let ctx = output::kubernetes_security_context(&b);
    assert_eq!(ctx["runAsGroup"], serde_json::json!(1000));
    // A command that needs nothing: feasible, with what the recording could not see said.
    let b = fixtures::bundle(&fixtures::true_cmd());
    assert_eq!(b.user.verdict, UserVerdict::Feasible);
    assert!(
        b.user
            .reasons
            .iter()
            .any(|r| r.contains("writes were not recorded"))
    );
}

#[test]
fn nginx_needs_its_capabilities_root_and_a_volume_for_its_rewritten_config() {
    let b = fixtures::bundle(&fixtures::nginx_container());
    assert_eq!(b.added(), vec!["CAP_CHOWN", "CAP_SETGID", "CAP_SETUID"]);
    assert_eq!(b.user.verdict, UserVerdict::NotFeasible);
    let reasons = b.user.reasons.join(" ");
    assert!(reasons.contains("switches users itself"), "{reasons}");
    assert!(
        reasons.contains("/etc/nginx/conf.d/default.conf"),
        "{reasons}"
    );
    assert_eq!(b.read_only.verdict, ReadOnlyVerdict::Fits);
    let mounts: Vec<&str> = b.read_only.mounts.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        mounts,
        vec!["/etc/nginx/conf.d", "/run", "/var/cache/nginx"]
    );
    // pwrite64 on its cache (a tmpfs under --read-only) makes overcommit checks: advisory.
    let admin = b
        .capabilities
        .iter()
        .find(|c| c.capability == "CAP_SYS_ADMIN");
    assert!(admin.is_some_and(|c| c.class == CapClass::Advisory));
}

#[test]
fn a_non_root_workload_keeps_its_user_and_file_capabilities() {
    let b = fixtures::bundle(&fixtures::setcap_bind());
    assert_eq!(b.user.verdict, UserVerdict::AlreadyNonRoot);
    assert_eq!(b.user.user.as_deref(), Some("1000"));
    assert_eq!(b.added(), vec!["CAP_NET_BIND_SERVICE"]);
    assert!(!b.pairs_non_root_with_unusable_caps());
    assert!(!b.no_new_privileges(), "the exec must gain its capability");
}

#[test]
fn a_recording_without_privileges_is_an_error() {
    let mut rec = fixtures::true_cmd();
    rec.privileges = None;
    assert!(matches!(
        decide(&[rec], &Options::default()),
        Err(HardeningError::NotRecorded(_))
    ));
    assert_eq!(
        decide(&[], &Options::default()),
        Err(HardeningError::NoRecordings)
    );
}

#[test]
fn runs_merge_a_capability_any_run_needed() {
    let both = [fixtures::true_cmd(), fixtures::chown_as_root()];
    let h = decide(&both, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.added(), vec!["CAP_CHOWN"]);
}

#[test]
fn bundles_round_trip_through_json() {
    let b = fixtures::bundle(&fixtures::nginx_container());
    let back = Bundle::from_json(&b.to_json()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, b);
    assert!(Bundle::looks_like(&b.to_json()));
    assert!(!Bundle::looks_like(&fixtures::true_cmd().to_json()));
    let newer = b.to_json().replace("\"version\": 1", "\"version\": 9");
    assert!(matches!(
        Bundle::from_json(&newer),
        Err(bundle::BundleError::Version(9))
    ));
}

const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_ADMIN",
    "CAP_NET_RAW",
    "CAP_DAC_READ_SEARCH",
    "CAP_SETUID",
];
const SYSCALLS: &[&str] = &["mmap", "bind", "mount", "openat", "capset", "socket"];
const PROGRAMS: &[&str] = &["/app", "/usr/bin/ping", crate::recording::CONTAINER_RUNTIME];

fn any_check() -> impl Strategy<Value = crate::privileges::CapCheck> {
    (
        0..CAPS.len(),
        any::<bool>(),
        0..3u8,
        any::<bool>(),
        prop::option::of(any::<bool>()),
        0..SYSCALLS.len(),
        0..PROGRAMS.len(),
        1..50u64,
    )
        .prop_map(|(c, granted, ns, over, noaudit, s, p, count)| {
            let mut ch = check(CAPS[c], granted, SYSCALLS[s], PROGRAMS[p], count);
            ch.namespace = match ns {
                0 => CapNamespace::Own,
                1 => CapNamespace::Child,
                _ => CapNamespace::Other,
            };
            ch.override_creds = over;
            ch.noaudit = noaudit;
            ch
        })
}

fn any_exec() -> impl Strategy<Value = PrivilegedExec> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(0..CAPS.len(), 0..2),
    )
        .prop_map(|(setuid, setgid, caps)| PrivilegedExec {
            program: "/bin/x".into(),
            setuid,
            setgid,
            file_caps: caps.into_iter().map(|c| CAPS[c].to_owned()).collect(),
            count: 1,
        })
}

proptest! {
    /// Whatever was recorded, no bundle pairs a non-root user with a capability that user
    /// would not have; every output agrees with the decisions.
    #[test]
    fn no_bundle_pairs_a_non_root_user_with_cap_adds(
        checks in prop::collection::vec(any_check(), 0..12),
        execs in prop::collection::vec(any_exec(), 0..2),
        euids in prop::collection::btree_set(prop_oneof![Just(0u32), Just(101u32), Just(1000u32)], 0..3),
        writes in prop::collection::vec((0..4usize, any::<bool>(), any::<bool>()), 0..4),
    ) {
        let paths = ["/tmp/a", "/run/x.pid", "/etc/app.conf", "/var/lib/app/db"];
        let mut p = fixtures::privileges(checks, &[]);
        p.euids = euids;
        p.privileged_execs = execs;
        p.root_fs = Some(RootFs {
            writes: writes
                .into_iter()
                .map(|(i, in_image, dir)| RootWrite { path: paths[i].into(), in_image, dir })
                .collect(),
            image_entries: Default::default(),
        });
        let b = fixtures::bundle(&fixtures::container("x", p));
        prop_assert!(!b.pairs_non_root_with_unusable_caps(), "{:#?}", b);
        let args = output::docker_args(&b, output::DockerForm::DropAll);
        let has_user = args.iter().any(|a| a == "--user");
        let has_add = args.iter().any(|a| a == "--cap-add");
        if has_user && has_add {
            // Only capabilities a binary's file capabilities grant, without NNP.
            prop_assert!(!b.no_new_privileges());
            let gained = b.file_capabilities();
            prop_assert!(b.added().iter().all(|c| gained.contains(c)), "{:#?}", b);
        }
        let ctx = output::kubernetes_security_context(&b);
        let non_root = ctx.get("runAsNonRoot").and_then(|v| v.as_bool()) == Some(true);
        let adds = ctx["capabilities"].get("add").is_some();
        if non_root && adds {
            prop_assert!(ctx["allowPrivilegeEscalation"] == serde_json::json!(true));
        }
    }
}
