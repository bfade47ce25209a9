//! Every class, from the rows measured on this machine (`fixtures`).

use super::*;
use crate::abi::Abi;
use crate::hardening::fixtures::{self, check};

fn decisions(rec: &Recording) -> Vec<CapDecision> {
    match &rec.privileges {
        Some(p) => decide(p),
        None => panic!("fixture without privileges"),
    }
}

fn class_of(decisions: &[CapDecision], cap: &str) -> Option<CapClass> {
    decisions
        .iter()
        .find(|d| d.capability == cap)
        .map(|d| d.class)
}

fn added(decisions: &[CapDecision]) -> Vec<&str> {
    decisions
        .iter()
        .filter(|d| d.class.added())
        .map(|d| d.capability.as_str())
        .collect()
}

#[test]
fn true_and_an_mmap_loop_need_nothing() {
    for rec in [fixtures::true_cmd(), fixtures::mmap_loop()] {
        let d = decisions(&rec);
        assert!(added(&d).is_empty(), "{d:#?}");
        assert_eq!(class_of(&d, "CAP_SYS_ADMIN"), Some(CapClass::Advisory));
        assert!(d[0].reason.contains("overcommit"), "{}", d[0].reason);
    }
    let d = decisions(&fixtures::mmap_loop());
    let total: u64 = d[0].evidence.iter().map(|e| e.count).sum();
    assert_eq!(total, 1019, "the measured count is kept");
}

#[test]
fn chown_needs_chown_and_nice_needs_sys_nice() {
    let d = decisions(&fixtures::chown_as_root());
    assert_eq!(added(&d), vec!["CAP_CHOWN"]);
    assert_eq!(d[0].class, CapClass::Required);
    assert!(
        d[0].reason.contains("fchownat in /usr/bin/chown"),
        "{}",
        d[0].reason
    );
    assert!(d[0].docker_default && !d[0].risk.risky);
    let d = decisions(&fixtures::nice_as_root());
    assert_eq!(added(&d), vec!["CAP_SYS_NICE"]);
    assert_eq!(d[0].risk.class, "beyond_docker_default");
}

#[test]
fn a_denied_capability_is_listed_and_never_added() {
    let d = decisions(&fixtures::chown_without_cap());
    assert_eq!(class_of(&d, "CAP_CHOWN"), Some(CapClass::DeniedOnly));
    // setpriv's own bounding-set drop is a real grant.
    assert_eq!(class_of(&d, "CAP_SETPCAP"), Some(CapClass::Required));
    assert_eq!(added(&d), vec!["CAP_SETPCAP"]);
}

#[test]
fn path_search_denials_are_harmless_and_the_real_failure_is_said() {
    let d = decisions(&fixtures::nice_as_nobody());
    assert!(added(&d).is_empty(), "{d:#?}");
    for cap in ["CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH"] {
        let row = d.iter().find(|r| r.capability == cap);
        let row = row.unwrap_or_else(|| panic!("{cap} missing"));
        assert_eq!(row.class, CapClass::DeniedOnly);
        assert!(row.reason.contains("harmless"), "{}", row.reason);
        assert!(row.reason.contains("denied 11×"), "{}", row.reason);
    }
    let nice = d.iter().find(|r| r.capability == "CAP_SYS_NICE");
    let nice = nice.unwrap_or_else(|| panic!("SYS_NICE missing"));
    assert_eq!(nice.class, CapClass::DeniedOnly);
    assert!(!nice.reason.contains("harmless"), "{}", nice.reason);
}

#[test]
fn reading_a_mode_000_file_needs_dac_read_search() {
    let d = decisions(&fixtures::read_mode000_as_root());
    assert_eq!(added(&d), vec!["CAP_DAC_READ_SEARCH"]);
    assert_eq!(d[0].risk.class, "host_control");
}

#[test]
fn a_child_user_namespace_needs_nothing() {
    let d = decisions(&fixtures::unshare_then_mount());
    assert!(added(&d).is_empty(), "{d:#?}");
    let admin = d.iter().find(|r| r.capability == "CAP_SYS_ADMIN");
    let admin = admin.unwrap_or_else(|| panic!("SYS_ADMIN missing"));
    assert_eq!(admin.class, CapClass::ChildNamespace);
    assert!(
        admin.reason.contains("also 10× advisory"),
        "{}",
        admin.reason
    );
}

#[test]
fn port_80_on_the_host_is_environment_dependent_and_nothing_in_docker() {
    let d = decisions(&fixtures::bind80_on_host());
    assert_eq!(
        class_of(&d, "CAP_NET_BIND_SERVICE"),
        Some(CapClass::EnvironmentDependent)
    );
    assert!(d[0].reason.contains("ip_unprivileged_port_start"));
    assert_eq!(added(&d), vec!["CAP_NET_BIND_SERVICE"]);
    let d = decisions(&fixtures::bind80_in_docker());
    assert!(added(&d).is_empty(), "{d:#?}");
}

#[test]
fn the_runtime_tail_is_not_the_workloads() {
    let d = decisions(&fixtures::docker_true());
    assert!(added(&d).is_empty(), "{d:#?}");
    for cap in ["CAP_SETPCAP", "CAP_SETGID", "CAP_SETUID"] {
        assert_eq!(class_of(&d, cap), Some(CapClass::RuntimeTail), "{cap}");
    }
}

#[test]
fn a_file_capability_is_kept_and_its_use_is_environment_dependent() {
    let d = decisions(&fixtures::setcap_bind());
    let row = d.iter().find(|r| r.capability == "CAP_NET_BIND_SERVICE");
    let row = row.unwrap_or_else(|| panic!("missing"));
    // Environment-dependent outranks compatibility; both are added and both are said.
    assert_eq!(row.class, CapClass::EnvironmentDependent);
    assert!(
        row.reason.contains("1× kept for compatibility"),
        "{}",
        row.reason
    );
    // A file capability alone (never used while recorded) is kept for compatibility.
    let mut p = fixtures::privileges(Vec::new(), &[1000]);
    p.privileged_execs.push(crate::privileges::PrivilegedExec {
        program: "/usr/bin/ping".into(),
        setuid: false,
        setgid: false,
        file_caps: vec!["cap_net_raw".into()],
        count: 2,
    });
    let d = decide(&p);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].capability, "CAP_NET_RAW");
    assert_eq!(d[0].class, CapClass::Compatibility);
    assert!(
        d[0].reason.contains("/usr/bin/ping carries it"),
        "{}",
        d[0].reason
    );
}

#[test]
fn noaudit_where_the_hook_reports_it_decides() {
    let mut p = fixtures::privileges(Vec::new(), &[0]);
    p.sees_noaudit = true;
    p.hook = "fexit/cap_capable".into();
    let mut advisory = check("CAP_SYS_PTRACE", true, "openat", "/usr/bin/ps", 40);
    advisory.noaudit = Some(true);
    // The hook says it is audited: required even in mmap.
    let mut real = check("CAP_SYS_ADMIN", true, "mmap", "/app", 1);
    real.noaudit = Some(false);
    p.checks = vec![advisory, real];
    let d = decide(&p);
    assert_eq!(class_of(&d, "CAP_SYS_PTRACE"), Some(CapClass::Advisory));
    assert_eq!(class_of(&d, "CAP_SYS_ADMIN"), Some(CapClass::Required));
    let ptrace = d.iter().find(|r| r.capability == "CAP_SYS_PTRACE");
    assert!(ptrace.is_some_and(|r| r.reason.contains("NOAUDIT bit")));
}

#[test]
fn overridden_credentials_ping_mlock_and_capset() {
    let mut over = check("CAP_DAC_OVERRIDE", true, "openat", "/app", 2);
    over.override_creds = true;
    let p = fixtures::privileges(
        vec![
            over,
            check("CAP_NET_RAW", true, "socket", "/usr/bin/ping", 1),
            check("CAP_NET_RAW", true, "socket", "/usr/sbin/tcpdump", 1),
            check("CAP_IPC_LOCK", true, "mlock", "/app", 1),
            check("CAP_SETPCAP", true, "capset", "/app", 1),
            // A SYS_ADMIN check in a syscall outside the memory calls is real.
            check("CAP_SYS_ADMIN", true, "sethostname", "/app", 1),
        ],
        &[0],
    );
    let d = decide(&p);
    assert_eq!(
        class_of(&d, "CAP_DAC_OVERRIDE"),
        Some(CapClass::OtherCredentials)
    );
    // tcpdump's raw socket is required whatever ping does.
    assert_eq!(class_of(&d, "CAP_NET_RAW"), Some(CapClass::Required));
    assert_eq!(
        class_of(&d, "CAP_IPC_LOCK"),
        Some(CapClass::EnvironmentDependent)
    );
    assert_eq!(class_of(&d, "CAP_SETPCAP"), Some(CapClass::Compatibility));
    assert_eq!(class_of(&d, "CAP_SYS_ADMIN"), Some(CapClass::Required));
    let ping_only = decide(&fixtures::privileges(
        vec![check("CAP_NET_RAW", true, "socket", "/usr/bin/ping", 1)],
        &[0],
    ));
    assert_eq!(ping_only[0].class, CapClass::EnvironmentDependent);
    assert!(ping_only[0].reason.contains("ping_group_range"));
    // Strongest first.
    assert!(d.windows(2).all(|w| w[0].class >= w[1].class));
}

#[test]
fn the_workloads_own_capset_and_prctl_are_noted_and_the_runtimes_are_not() {
    let mut rec = fixtures::docker_true();
    let capset = Abi::X86_64.syscall_nr("capset");
    let prctl = Abi::X86_64.syscall_nr("prctl");
    let (Some(capset), Some(prctl)) = (capset, prctl) else {
        panic!("syscall table without capset or prctl");
    };
    rec.add(Abi::X86_64, capset, CONTAINER_RUNTIME, 1);
    rec.add(Abi::X86_64, prctl, CONTAINER_RUNTIME, 3);
    assert!(own_capability_handling(std::slice::from_ref(&rec)).is_empty());
    rec.add(Abi::X86_64, capset, "/usr/sbin/chronyd", 2);
    rec.add(Abi::X86_64, prctl, "/usr/sbin/chronyd", 1);
    if let Some(abi) = rec.abis.get_mut(&Abi::X86_64)
        && let Some(sys) = abi.syscalls.get_mut("prctl")
    {
        sys.args = Some(crate::args::ArgValues {
            values: [libc::PR_CAP_AMBIENT as u64, libc::PR_SET_NAME as u64].into(),
            overflow: false,
        });
    }
    let notes = own_capability_handling(std::slice::from_ref(&rec));
    assert_eq!(notes.len(), 2, "{notes:#?}");
    let mut failed = rec.clone();
    if let Some(abi) = failed.abis.get_mut(&Abi::X86_64)
        && let Some(sys) = abi.syscalls.get_mut("capset")
    {
        sys.failed.eperm = 1;
    }
    let with_failure = own_capability_handling(std::slice::from_ref(&failed));
    assert!(
        with_failure.iter().any(|n| n.contains("capset failed 1×")),
        "{with_failure:#?}"
    );
    assert!(notes[0].contains("/usr/sbin/chronyd ×2"));
    assert!(notes[1].contains("PR_CAP_AMBIENT") && !notes[1].contains("PR_SET_NAME"));
}
