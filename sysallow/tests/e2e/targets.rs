//! Target resolution against the live system: `--pid` and `--cgroup` (needs only a cgroup v2
//! mount), and `--container` by name, id prefix and path conventions, and `--cgroup-parent`,
//! against a private dockerd (root + Docker).

use crate::common::harness;

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::docker::{self, Dockerd};
use crate::common::image::PROBE;
use crate::macros::Need;
use sysallow::cgroup::CgroupError;
use sysallow::target::{
    Cgroup2Mount, CgroupParent, Description, Engine, EngineSocket, Resolver, TargetError,
    TargetSpec,
};

/// The directory of `pid`'s v2 cgroup, computed independently of the code under test.
fn cgroup_dir_of(pid: u32) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a 0:: line");
    harness::cgroup2_mount()
        .unwrap()
        .join(rel.trim_start_matches('/'))
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

fn level_of(dir: &Path) -> u32 {
    let mount = harness::cgroup2_mount().unwrap();
    dir.strip_prefix(mount).unwrap().components().count() as u32
}

impl Need {
    /// `--pid` and `--cgroup` need only a cgroup v2 mount: `require!(cgroup2)`.
    fn cgroup2() -> Need {
        Need::that("a cgroup v2 mount", harness::cgroup2_mount().is_some())
    }
}

#[test]
fn finds_the_cgroup2_mount_from_mountinfo() {
    require!(cgroup2);
    assert_eq!(
        Cgroup2Mount::find().unwrap().path,
        harness::cgroup2_mount().unwrap()
    );
}

#[test]
fn resolves_a_pid_and_cgroup_paths() {
    require!(cgroup2);
    let resolver = Resolver::new().unwrap();
    let me = std::process::id();
    let expected = cgroup_dir_of(me);

    let by_pid = resolver.pid(me).unwrap();
    assert_eq!(by_pid.cgroup.path, expected.canonicalize().unwrap());
    assert_eq!(by_pid.cgroup.id, inode(&expected));
    assert_eq!(by_pid.cgroup.level, level_of(&expected));
    assert_eq!(by_pid.description, Description::Pid { pid: me });

    let by_abs = resolver
        .resolve(&TargetSpec::Cgroup(expected.clone()))
        .unwrap();
    assert_eq!(by_abs.cgroup, by_pid.cgroup);
    let rel = by_pid.cgroup.relative.strip_prefix("/").unwrap().to_owned();
    let by_rel = resolver.cgroup(&rel).unwrap();
    assert_eq!(by_rel.cgroup, by_pid.cgroup);

    // The root cgroup: level 0.
    let root = resolver.cgroup(Path::new("/")).err();
    assert!(
        matches!(
            root,
            Some(TargetError::Cgroup(CgroupError::NotACgroup { .. }))
        ),
        "{root:?}"
    );
    let root = resolver.cgroup(&resolver.mount().path).unwrap();
    assert_eq!(root.cgroup.level, 0);

    for bad in [Path::new("/tmp"), Path::new("no-such-cgroup-here")] {
        let err = resolver.cgroup(bad).unwrap_err();
        assert!(
            matches!(err, TargetError::Cgroup(CgroupError::NotACgroup { .. })),
            "{bad:?}: {err}"
        );
    }
    // A v1 hierarchy's directory is not a v2 cgroup (hybrid hosts).
    let v1 = Path::new("/sys/fs/cgroup/cpu");
    if v1.is_dir() && !v1.starts_with(&resolver.mount().path) {
        let err = resolver.cgroup(v1).unwrap_err();
        assert!(
            matches!(err, TargetError::Cgroup(CgroupError::NotACgroup { .. })),
            "{err}"
        );
    }
    let err = resolver.pid(u32::MAX - 1).unwrap_err();
    assert!(
        matches!(err, TargetError::Cgroup(CgroupError::PidNotFound { .. })),
        "{err}"
    );
}

#[test]
fn an_unknown_container_says_what_was_tried() {
    require!(cgroup2);
    let resolver = Resolver::with(
        Cgroup2Mount::find().unwrap(),
        vec![EngineSocket::docker("/nonexistent/docker.sock")],
    );
    let msg = resolver
        .container("no-such-container")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/nonexistent/docker.sock"), "{msg}");
    assert!(msg.contains("names need an engine API"), "{msg}");
    let msg = resolver.container("fedcba9876").unwrap_err().to_string();
    assert!(msg.contains("cgroup v2 tree"), "{msg}");
    assert!(msg.contains("docker-fedcba9876*.scope"), "{msg}");
}

#[test]
fn resolves_a_running_container_by_name_id_prefix_and_path() {
    require!(docker);
    let mut d = Dockerd::start();
    let image = d.import_test_image();
    let c = d.run_detached(&[&image, PROBE, "sleep", "600"]);
    let expected = cgroup_dir_of(c.pid);
    assert!(
        expected.ends_with(&c.id),
        "{} is not the container's cgroup",
        expected.display()
    );

    let resolver = Resolver::new()
        .unwrap()
        .sockets(vec![EngineSocket::docker(d.socket())]);
    for query in [c.name.as_str(), &c.id[..12], &c.id[..5], c.id.as_str()] {
        let t = resolver.container(query).unwrap();
        assert_eq!(t.cgroup.path, expected, "{query}");
        assert_eq!(t.cgroup.id, inode(&expected), "{query}");
        assert_eq!(t.cgroup.level, level_of(&expected), "{query}");
        let Description::Container(info) = &t.description else {
            panic!("{query}: {t:?}");
        };
        assert_eq!(info.id, c.id);
        assert_eq!(info.name.as_deref(), Some(c.name.as_str()));
        assert_eq!(info.engine, Engine::Docker);
        assert_eq!(info.init_pid, Some(c.pid));
        assert_eq!(info.image.as_deref(), Some(image.as_str()));
        eprintln!("{query} -> {t}");
    }

    // Without an API: the path conventions find it by id prefix (not by name).
    let offline = Resolver::new().unwrap().sockets(vec![]);
    let t = offline.container(&c.id[..12]).unwrap();
    assert_eq!(t.cgroup.id, inode(&expected));
    let Description::Container(info) = &t.description else {
        panic!("{t:?}");
    };
    assert_eq!(
        (info.id.as_str(), info.name.as_deref()),
        (c.id.as_str(), None)
    );
    let err = offline.container(&c.name).unwrap_err();
    assert!(
        matches!(err, TargetError::ContainerNotFound { .. }),
        "{err}"
    );

    // --pid of the container's init gives the same cgroup.
    let t = resolver.pid(c.pid).unwrap();
    assert_eq!(t.cgroup.id, inode(&expected));

    // A stopped container has no cgroup.
    d.docker_ok(&["stop", "-t", "5", &c.name]);
    let err = resolver.container(&c.name).unwrap_err();
    assert!(
        matches!(err, TargetError::ContainerNotRunning { .. }),
        "{err}"
    );
}

#[test]
fn resolves_a_container_under_docker_default_cgroup_parent() {
    require!(docker);
    let mut d = Dockerd::start_with(docker::DockerdOptions {
        docker_default_cgroup_parent: true,
        ..Default::default()
    });
    let image = d.import_test_image();
    let c = d.run_detached(&[&image, PROBE, "sleep", "600"]);
    let expected = cgroup_dir_of(c.pid);
    let mount = harness::cgroup2_mount().unwrap();
    assert_eq!(expected, mount.join("docker").join(&c.id));
    // The `/docker/<id>` convention names the runtime even without an API.
    let offline = Resolver::new().unwrap().sockets(vec![]);
    let t = offline.container(&c.id).unwrap();
    let Description::Container(info) = &t.description else {
        panic!("{t:?}");
    };
    assert_eq!(info.engine, Engine::Docker);
    assert_eq!(t.cgroup.id, inode(&expected));
}

#[test]
fn cgroup_parent_catches_containers_under_the_armed_directory() {
    require!(docker);
    let mut d = Dockerd::start();
    let image = d.import_test_image();
    let mount = Cgroup2Mount::find().unwrap();
    let name = format!("sysallow-parent-test-{}", std::process::id());
    d.remove_cgroup_on_stop(&name);
    let parent = CgroupParent::create_or_reuse(&mount, &name).unwrap();
    assert!(parent.created());
    assert_eq!(parent.dir().level, 1);
    assert_eq!(parent.dir().id, inode(&mount.path.join(&name)));
    assert!(parent.children().unwrap().is_empty());

    let flag = format!("--cgroup-parent={}", parent.docker_cgroup_parent());
    let c = d.run_detached(&[&flag, &image, PROBE, "sleep", "600"]);
    assert_eq!(cgroup_dir_of(c.pid), mount.path.join(&name).join(&c.id));

    let deadline = Instant::now() + Duration::from_secs(10);
    let children = loop {
        let children = parent.children().unwrap();
        if !children.is_empty() || Instant::now() > deadline {
            break children;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(children.len(), 1, "{children:?}");
    let child = &children[0];
    assert_eq!(child.cgroup.id, inode(&cgroup_dir_of(c.pid)));
    assert_eq!(child.cgroup.level, 2);
    assert_eq!(child.container, Some((Engine::Unknown, c.id.clone())));
    let t = parent.identify(child, &[EngineSocket::docker(d.socket())]);
    let Description::Container(info) = &t.description else {
        panic!("{t:?}");
    };
    assert_eq!(info.name.as_deref(), Some(c.name.as_str()));
    assert_eq!(info.engine, Engine::Docker);

    // Reusing an existing parent does not take ownership of it.
    let again = CgroupParent::create_or_reuse(&mount, &format!("/{name}/")).unwrap();
    assert!(!again.created());
    again.remove().unwrap();
    assert!(mount.path.join(&name).exists());

    d.docker_ok(&["rm", "-f", &c.id]);
    parent.remove().unwrap();
    for m in harness::cgroup_mounts() {
        assert!(
            !m.join(&name).exists(),
            "{} left behind",
            m.join(&name).display()
        );
    }
    for bad in ["", "/", "../x", "a/../b", "a//b"] {
        let err = CgroupParent::create_or_reuse(&mount, bad).unwrap_err();
        assert!(
            matches!(err, TargetError::InvalidParentName { .. }),
            "{bad:?}: {err}"
        );
    }
}
