//! A property over random recordings (issue 13): a generated profile allows nothing that the
//! recording did not observe, unless a named policy added it, and the rule that allows it says
//! which. Random: the syscalls each ABI saw (any number of the table, or an unnamed one), the
//! programs, a command or a container target (runc, crun, unknown; no-new-privileges or not),
//! and the policy's switches.

use std::collections::BTreeSet;

use proptest::prelude::*;
use sysallow_profile::generate::{GenerationPolicy, generate};
use sysallow_profile::profile::Action;
use sysallow_profile::recording::{Host, Target};
use sysallow_profile::why;
use sysallow_profile::{Abi, Recording};

/// The reasons a rule may give for allowing what was not observed: each a named policy.
const NAMED: [&str; 11] = [
    why::RUNTIME_TAIL,
    why::VDSO,
    why::PORTABLE,
    why::ESSENTIAL,
    why::COMPANION,
    why::TIMING,
    why::REPLACES,
    why::IMPORTS,
    why::FILTER,
    why::FALLBACK,
    why::MERGED,
];

fn recording(
    container: Option<(Option<&'static str>, bool)>,
    calls: &[(bool, u32, u8, u64)],
) -> Recording {
    let target = match container {
        Some((runtime, no_new_privileges)) => Target::Container {
            id: "c0ffee".into(),
            name: Some("web".into()),
            engine: Some("docker".into()),
            runtime: runtime.map(Into::into),
            no_new_privileges,
            cgroup: "/sysallow.slice/c0ffee".into(),
        },
        None => Target::Command {
            argv: vec!["app".into()],
            user: None,
        },
    };
    let mut rec = Recording::new(
        target,
        Host {
            kernel: "6.18.0".into(),
            arch: Abi::X86_64,
            libc: Some("glibc 2.36".into()),
        },
        "2026-12-02T00:00:00Z".into(),
    );
    for &(compat, nr, program, count) in calls {
        let abi = if compat { Abi::X86 } else { Abi::X86_64 };
        rec.add(abi, nr, &format!("/usr/bin/prog{program}"), count);
    }
    rec
}

proptest! {
    // Cases are random each run (a failure prints the minimal input to reproduce it).
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_generated_profile_allows_nothing_unobserved_and_unnamed(
        calls in prop::collection::vec((any::<bool>(), 0u32..520, 0u8..4, 1u64..1000), 0..120),
        container in prop::option::of((prop::option::of(prop::sample::select(vec!["runc", "crun"])), any::<bool>())),
        essentials in any::<bool>(),
        companions in any::<bool>(),
        timing_paths in any::<bool>(),
        vdso in any::<bool>(),
        portable in any::<bool>(),
        fallbacks in any::<bool>(),
    ) {
        let rec = recording(container, &calls);
        let policy = GenerationPolicy {
            essentials,
            companions,
            timing_paths,
            vdso,
            portable,
            fallbacks,
            ..GenerationPolicy::for_target(&rec.target)
        };
        let observed: BTreeSet<&str> = rec
            .abis
            .values()
            .flat_map(|abi| abi.syscalls.keys().map(String::as_str))
            .collect();
        let generated = match generate(std::slice::from_ref(&rec), &policy) {
            Ok(generated) => generated,
            // Nothing named was seen: there is nothing to build a profile from, and it says so.
            Err(e) => {
                prop_assert!(observed.is_empty(), "{e}");
                return Ok(());
            }
        };
        for rule in &generated.profile.syscalls {
            if rule.action != Action::Allow {
                continue;
            }
            let named = NAMED.iter().any(|why| rule.comment.starts_with(why));
            for name in &rule.names {
                prop_assert!(
                    observed.contains(name.as_str()) || named,
                    "{name} is allowed by a rule saying {:?}, but was not observed",
                    rule.comment
                );
                if rule.comment.starts_with(why::OBSERVED) {
                    prop_assert!(observed.contains(name.as_str()), "{name} is not observed");
                }
            }
            // Observed (possibly narrowed by argument conditions), or a named policy.
            prop_assert!(
                named || rule.comment.starts_with(why::OBSERVED),
                "a rule with an unnamed reason: {:?}",
                rule.comment
            );
        }
        // Policies that were off added nothing.
        let comments: Vec<&str> = generated.profile.syscalls.iter().map(|r| r.comment.as_str()).collect();
        for (on, why) in [(essentials, why::ESSENTIAL), (companions, why::COMPANION), (timing_paths, why::TIMING), (vdso, why::VDSO), (portable, why::PORTABLE)] {
            if !on {
                prop_assert!(!comments.iter().any(|c| c.starts_with(why)), "{why} while off");
            }
        }
        if container.is_none() {
            prop_assert!(!comments.iter().any(|c| c.starts_with(why::RUNTIME_TAIL)), "a runtime tail for a command");
        }
    }
}
