//! New child cgroups of a directory, as the kernel creates them (inotify on cgroupfs: runc's
//! mkdir raises IN_CREATE), each with its id read at once: a container that starts and ends
//! between two polls of the directory (a `docker run --rm` of a few milliseconds) is still
//! seen, with its directory name (the container id), while its engine still knows it.

use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// A child cgroup that appeared: its id (the directory's inode) and path.
pub type Birth = (u64, PathBuf);

/// Watches `dir` for new child cgroups until dropped.
pub struct Births {
    receiver: Receiver<Birth>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Births {
    /// Start watching; `None` where inotify is unavailable (the caller's poll still sees the
    /// children that live long enough).
    pub fn watch(dir: &Path) -> Option<Births> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?;
        inotify
            .add_watch(dir, AddWatchFlags::IN_CREATE | AddWatchFlags::IN_ONLYDIR)
            .ok()?;
        let (sender, receiver) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let dir = dir.to_owned();
            std::thread::Builder::new()
                .name("cgroup-births".into())
                .spawn(move || follow(&inotify, &dir, &sender, &stop))
                .ok()?
        };
        Some(Births {
            receiver,
            stop,
            thread: Some(thread),
        })
    }

    /// Watch `dir` and every cgroup below it, at any depth, for as long as each exists: a
    /// Kubernetes node makes the pod's cgroup first and the containers' inside it, so the
    /// watch on a new directory is added at its birth (and what was made in it before the
    /// watch was in place is reported by a look inside it then). `None` where inotify is
    /// unavailable.
    pub fn watch_tree(dir: &Path) -> Option<Births> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?;
        let mut watched = std::collections::HashMap::new();
        for sub in super::tree(dir) {
            if let Ok(wd) = inotify.add_watch(&sub, TREE_EVENTS) {
                watched.insert(wd, sub);
            }
        }
        if watched.is_empty() {
            return None;
        }
        let (sender, receiver) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("cgroup-tree-births".into())
                .spawn(move || follow_tree(&inotify, watched, &sender, &stop))
                .ok()?
        };
        Some(Births {
            receiver,
            stop,
            thread: Some(thread),
        })
    }

    /// The next birth, waiting at most `timeout`.
    pub fn next(&self, timeout: std::time::Duration) -> Option<Birth> {
        self.receiver.recv_timeout(timeout).ok()
    }
}

fn follow(inotify: &Inotify, dir: &Path, sender: &Sender<Birth>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        // Wakes at once on an event; every 100 ms to see `stop`.
        if poll(&mut fds, PollTimeout::from(100u8)).unwrap_or(0) == 0 {
            continue;
        }
        let Ok(events) = inotify.read_events() else {
            continue;
        };
        for event in events {
            if !event.mask.contains(AddWatchFlags::IN_ISDIR) {
                continue;
            }
            let Some(name) = event.name else {
                continue;
            };
            let path = dir.join(name);
            // Gone already: too short even for this; the recording still names it by id.
            if let Ok(meta) = std::fs::metadata(&path)
                && sender.send((meta.ino(), path)).is_err()
            {
                return;
            }
        }
    }
}

/// What a tree watch listens for: new directories, and a watched one going away (its watch
/// is then dropped by the kernel: IN_IGNORED).
const TREE_EVENTS: AddWatchFlags = AddWatchFlags::IN_CREATE
    .union(AddWatchFlags::IN_ONLYDIR)
    .union(AddWatchFlags::IN_DELETE_SELF);

fn follow_tree(
    inotify: &Inotify,
    mut watched: std::collections::HashMap<nix::sys::inotify::WatchDescriptor, PathBuf>,
    sender: &Sender<Birth>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u8)).unwrap_or(0) == 0 {
            continue;
        }
        let Ok(events) = inotify.read_events() else {
            continue;
        };
        for event in events {
            if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                watched.remove(&event.wd);
                continue;
            }
            if !event.mask.contains(AddWatchFlags::IN_ISDIR)
                || !event.mask.contains(AddWatchFlags::IN_CREATE)
            {
                continue;
            }
            let (Some(parent), Some(name)) = (watched.get(&event.wd), event.name) else {
                continue;
            };
            let path = parent.join(name);
            // Watch it before looking inside, so nothing made in it is missed; what was made
            // before the watch is found by the look.
            if let Ok(wd) = inotify.add_watch(&path, TREE_EVENTS) {
                watched.insert(wd, path.clone());
            }
            let mut born = vec![path.clone()];
            for sub in super::tree(&path).into_iter().skip(1) {
                if let Ok(wd) = inotify.add_watch(&sub, TREE_EVENTS) {
                    watched.insert(wd, sub.clone());
                }
                born.push(sub);
            }
            for path in born {
                if let Ok(meta) = std::fs::metadata(&path)
                    && sender.send((meta.ino(), path)).is_err()
                {
                    return;
                }
            }
        }
    }
}

impl Drop for Births {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
