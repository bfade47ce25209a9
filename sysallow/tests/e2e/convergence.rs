//! A recording that knows when it has converged: first-seen times, the discovery curve in
//! `explain` (text and SVG), `record --until-stable`, and the live status line.

use crate::common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_example_suite_has_a_discovery_curve_in_text_and_svg() {
    require!(root, program("python3", "python3"));
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/wordfreq/run-tests.sh");
    let dir = tempfile::tempdir().unwrap();
    let out = common::sysallow()
        .args(["record", "--recording", "rec.json", "--"])
        .arg(&suite)
        .current_dir(dir.path())
        .output()
        .unwrap();
    common::assert_success(&out);
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("rec.json")).unwrap()).unwrap();
    assert_eq!(rec["version"], sysallow_profile::recording::VERSION);
    // Every syscall has a first-seen time per program, within the run.
    let duration = rec["duration_ms"].as_u64().unwrap();
    for (name, sc) in rec["abis"]["x86_64"]["syscalls"].as_object().unwrap() {
        let seen = sc["first_seen_ms"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: {sc}"));
        assert!(!seen.is_empty(), "{name}");
        for (program, ms) in seen {
            assert!(sc["programs"].get(program).is_some(), "{name}: {program}");
            assert!(
                ms.as_u64().unwrap() <= duration,
                "{name}: {ms} > {duration}"
            );
        }
    }

    let out = common::sysallow()
        .args(["explain", "rec.json", "--plot", "curve.svg"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    common::assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let total = rec["abis"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["syscalls"].as_object().unwrap().len())
        .sum::<usize>();
    assert!(
        text.contains(&format!("Discovery: {total} distinct syscalls")),
        "{text}"
    );
    assert!(text.contains("Last new: "), "{text}");
    // Readable on a real suite: no row names more than three programs unless --wide.
    let more = |text: &str| {
        text.lines()
            .any(|l| l.starts_with("x86_64") && l.ends_with(" more"))
    };
    assert!(more(&text), "{text}");
    for line in text.lines().filter(|l| l.starts_with("x86_64")) {
        assert!(line.matches("), ").count() <= 2, "{line}");
    }
    let wide = common::sysallow()
        .args(["explain", "rec.json", "--wide"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!more(&String::from_utf8_lossy(&wide.stdout)));

    // The SVG is well-formed XML and holds the curve: one step per distinct syscall.
    let svg = std::fs::read_to_string(dir.path().join("curve.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let curve = doc
        .descendants()
        .find(|n| n.has_tag_name("polyline") && n.attribute("class") == Some("discovery"))
        .expect("the curve");
    let points: Vec<(f64, f64)> = curve
        .attribute("points")
        .unwrap()
        .split(' ')
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect();
    assert_eq!(points.len(), 2 + 2 * total);
    // Time only moves forward, and the count only up (SVG y grows downwards).
    for pair in points.windows(2) {
        assert!(pair[1].0 >= pair[0].0 && pair[1].1 <= pair[0].1, "{pair:?}");
    }
}

/// A python3 HTTP server on a free loopback port, ended by PID on drop.
struct Server {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /hello.txt HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    Some(reply)
}

fn wait_until_serving(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(port).is_none() {
        assert!(Instant::now() < deadline, "the server never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn until_stable_ends_the_recording_of_a_server_whose_profile_still_serves() {
    require!(root, program("python3", "python3"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello from the server\n").unwrap();
    let port = free_port();
    let server = ["python3", "-m", "http.server", "--bind", "127.0.0.1"];
    let recorder = common::sysallow()
        .args([
            "record",
            "--until-stable",
            "2s",
            "-o",
            "profile.json",
            "--recording",
            "rec.json",
            "--",
        ])
        .args(server)
        .arg(port.to_string())
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut recorder = Server {
        child: recorder,
        port,
    };
    // A client that keeps the server serving for as long as the recording runs.
    wait_until_serving(port);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = recorder.child.try_wait().unwrap() {
            break status;
        }
        if !get(port).is_some_and(|r| r.contains("hello from the server")) {
            // The recording may have ended (and stopped the server) since the last look.
            std::thread::sleep(Duration::from_millis(500));
            match recorder.child.try_wait().unwrap() {
                Some(status) => break status,
                None => panic!("the server stopped answering while recorded"),
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "--until-stable 2s did not end the recording of a server that kept serving"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    recorder
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stderr.contains("nothing new for 2 s"), "{stderr}");
    drop(recorder);

    // The server's profile still serves.
    let port = free_port();
    let served = common::sysallow()
        .args(["run", "--profile", "profile.json", "--"])
        .args(server)
        .arg(port.to_string())
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let served = Server {
        child: served,
        port,
    };
    wait_until_serving(served.port);
    for i in 1..=20 {
        let reply = get(served.port).unwrap_or_default();
        assert!(
            reply.contains("hello from the server"),
            "request {i}: {reply}"
        );
    }
}

#[test]
fn the_status_line_shows_on_a_terminal_only() {
    require!(root, program("script", "util-linux"));
    let dir = tempfile::tempdir().unwrap();
    let sysallow = common::sysallow_path();
    let cmd = format!(
        "{} record --recording rec.json -- sh -c 'sleep 0.6; ls >/dev/null; sleep 0.6'",
        sysallow.display()
    );
    // `script` gives the recorder a pseudo-terminal as stdin, stdout and stderr.
    let out = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let screen = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = screen
        .split('\r')
        .filter(|l| l.starts_with("\x1b[2Ksysallow: ") && l.contains(" syscalls, "))
        .collect();
    assert!(lines.len() >= 2, "no status line on a terminal: {screen:?}");
    assert!(lines.iter().any(|l| l.contains("last new: ")), "{lines:?}");
    assert!(screen.contains("recorded "), "{screen:?}");

    // stderr to a file: no status line.
    let log = dir.path().join("stderr.log");
    let status = common::sysallow()
        .args([
            "record",
            "--recording",
            "rec2.json",
            "--",
            "sh",
            "-c",
            "sleep 0.6",
        ])
        .current_dir(dir.path())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged.contains('\r') && !logged.contains("\x1b["),
        "{logged:?}"
    );
    assert!(logged.contains("recorded "), "{logged:?}");
}
