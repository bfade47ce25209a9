//! The discovery curve of a Recording: how many distinct syscalls had been seen at each moment
//! of the run. It answers the question a user has after a recording, "did I exercise enough?":
//! a curve still climbing at the end says the workload was still finding new paths; a long
//! flat tail says it had settled.

use std::fmt::Write as _;

use serde::Serialize;

use crate::abi::Abi;
use crate::recording::Recording;

/// The curve, from the first-seen times of a Recording (version 2 and later).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Discovery {
    /// (ms from the start, distinct (ABI, syscall) seen by then), one point per appearance.
    pub points: Vec<(u64, usize)>,
    /// How long the recording ran.
    pub duration_ms: u64,
    /// The last syscall to appear, and when.
    pub last_new: Option<LastNew>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastNew {
    pub abi: Abi,
    pub name: String,
    pub at_ms: u64,
}

impl Discovery {
    /// The curve of `rec`; None where it holds no first-seen times (a version 1 recording).
    pub fn of(rec: &Recording) -> Option<Discovery> {
        let points = rec.discovery();
        if points.is_empty() {
            return None;
        }
        let last_new = rec
            .abis
            .iter()
            .flat_map(|(abi, a)| a.syscalls.iter().map(move |(n, s)| (*abi, n, s)))
            .filter_map(|(abi, name, s)| s.first_seen().map(|t| (t, abi, name)))
            .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.2.cmp(a.2)))
            .map(|(at_ms, abi, name)| LastNew {
                abi,
                name: name.clone(),
                at_ms,
            });
        // The run cannot have been shorter than its last first appearance.
        let duration_ms = rec.duration_ms.max(points_end(&points));
        Some(Discovery {
            points,
            duration_ms,
            last_new,
        })
    }

    /// Distinct syscalls at the end.
    pub fn total(&self) -> usize {
        self.points.last().map_or(0, |p| p.1)
    }

    /// When `fraction` of the syscalls had been seen.
    fn time_to(&self, fraction: f64) -> u64 {
        let need = (self.total() as f64 * fraction).ceil() as usize;
        self.points
            .iter()
            .find(|(_, n)| *n >= need)
            .map_or(0, |(t, _)| *t)
    }

    /// How far the last point is from the end: the quiet tail, in ms.
    pub fn quiet_ms(&self) -> u64 {
        self.duration_ms.saturating_sub(points_end(&self.points))
    }

    /// A few lines of text: milestones, the quiet tail, and a bar per tenth of the run.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let secs = |ms: u64| format!("{:.2} s", ms as f64 / 1000.0);
        let _ = writeln!(
            out,
            "Discovery: {} distinct syscalls; half by {}, 90% by {}, all by {}; {} recorded.",
            self.total(),
            secs(self.time_to(0.5)),
            secs(self.time_to(0.9)),
            secs(self.time_to(1.0)),
            secs(self.duration_ms)
        );
        if let Some(last) = &self.last_new {
            let quiet = self.quiet_ms();
            let share = if self.duration_ms == 0 {
                0.0
            } else {
                100.0 * quiet as f64 / self.duration_ms as f64
            };
            let _ = writeln!(
                out,
                "Last new: {} ({}) at {}; nothing new in the last {} ({share:.0}% of the run){}",
                last.name,
                last.abi,
                secs(last.at_ms),
                secs(quiet),
                if share < 20.0 {
                    ": still finding new paths at the end, record longer or more runs"
                } else {
                    ""
                }
            );
        }
        let width = 40;
        let total = self.total().max(1);
        let steps = 10u64;
        for step in 1..=steps {
            let at = self.duration_ms.max(1) * step / steps;
            let seen = self
                .points
                .iter()
                .take_while(|(t, _)| *t <= at)
                .last()
                .map_or(0, |p| p.1);
            let bar = "#".repeat(seen * width / total);
            let _ = writeln!(out, "  {:>9}  {bar:<width$}  {seen}", secs(at));
        }
        out
    }

    /// An SVG step chart of the curve, standalone (no scripts, no external resources).
    pub fn render_svg(&self, title: &str) -> String {
        let (w, h) = (640.0_f64, 360.0_f64);
        let (left, right, top, bottom) = (56.0, 16.0, 36.0, 44.0);
        let plot_w = w - left - right;
        let plot_h = h - top - bottom;
        let t_max = self.duration_ms.max(points_end(&self.points)).max(1) as f64;
        let n_max = self.total().max(1) as f64;
        let x = |t: u64| left + plot_w * t as f64 / t_max;
        let y = |n: usize| top + plot_h * (1.0 - n as f64 / n_max);
        let mut points = vec![format!("{:.1},{:.1}", x(0), y(0))];
        let mut last = 0;
        for (t, n) in &self.points {
            points.push(format!("{:.1},{:.1}", x(*t), y(last)));
            points.push(format!("{:.1},{:.1}", x(*t), y(*n)));
            last = *n;
        }
        points.push(format!("{:.1},{:.1}", x(t_max as u64), y(last)));
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{left}" y="20" font-size="14">{}</text>"#,
            escape(title)
        );
        // Axes, with the extremes labelled.
        let _ = writeln!(
            svg,
            r#"<path d="M{left},{top} V{} H{}" fill="none" stroke="black"/>"#,
            top + plot_h,
            left + plot_w
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 6.0,
            top + 4.0,
            self.total()
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">0</text>"#,
            left - 6.0,
            top + plot_h
        );
        let _ = writeln!(
            svg,
            r#"<text x="{left}" y="{}" text-anchor="middle">0 s</text>"#,
            top + plot_h + 16.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{:.2} s</text>"#,
            left + plot_w,
            top + plot_h + 16.0,
            t_max / 1000.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">time since the recording started</text>"#,
            left + plot_w / 2.0,
            h - 8.0
        );
        let _ = writeln!(
            svg,
            r#"<text transform="translate(14,{}) rotate(-90)" text-anchor="middle">distinct syscalls</text>"#,
            top + plot_h / 2.0
        );
        let _ = writeln!(
            svg,
            r#"<polyline class="discovery" fill="none" stroke="steelblue" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        svg.push_str("</svg>\n");
        svg
    }
}

fn points_end(points: &[(u64, usize)]) -> u64 {
    points.last().map_or(0, |p| p.0)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording;

    fn recording() -> Recording {
        let mut rec = recording::for_tests(recording::command_for_tests(&["app"]));
        for (name, at) in [("read", 0), ("write", 10), ("openat", 10), ("futex", 400)] {
            let nr = Abi::X86_64.syscall_nr(name).unwrap();
            rec.add(Abi::X86_64, nr, "/bin/app", 3);
            rec.note_first_seen(Abi::X86_64, nr, "/bin/app", at);
        }
        rec.duration_ms = 1000;
        rec
    }

    #[test]
    fn the_curve_climbs_as_syscalls_appear() {
        let d = Discovery::of(&recording()).unwrap();
        assert_eq!(d.points, vec![(0, 1), (10, 2), (10, 3), (400, 4)]);
        assert_eq!(d.total(), 4);
        assert_eq!(d.quiet_ms(), 600);
        assert_eq!(d.last_new.as_ref().unwrap().name, "futex");
        let text = d.render_text();
        assert!(text.contains("4 distinct syscalls"), "{text}");
        assert!(
            text.contains("Last new: futex (x86_64) at 0.40 s"),
            "{text}"
        );
        assert!(
            text.contains("nothing new in the last 0.60 s (60% of the run)"),
            "{text}"
        );
        // One bar per tenth of the run; the last one holds everything.
        assert_eq!(text.lines().filter(|l| l.contains(" s  ")).count(), 10);
        assert!(text.lines().last().unwrap().ends_with(" 4"), "{text}");
    }

    #[test]
    fn no_first_seen_times_no_curve() {
        let mut rec = recording();
        for a in rec.abis.values_mut() {
            for s in a.syscalls.values_mut() {
                s.first_seen_ms.clear();
            }
        }
        assert_eq!(Discovery::of(&rec), None);
    }

    #[test]
    fn the_svg_holds_the_curve() {
        let svg = Discovery::of(&recording())
            .unwrap()
            .render_svg("app <test> & co");
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("app &lt;test&gt; &amp; co"));
        let points = svg
            .split("points=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap();
        // Start, two points per step, end.
        assert_eq!(points.split(' ').count(), 2 + 2 * 4);
    }
}
