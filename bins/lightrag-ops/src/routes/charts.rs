//! Server-rendered pieces of the dashboard: inline SVG charts (no script, no CDN), relative
//! times with the absolute time on hover, human sizes and durations.

use std::fmt::Write as _;

use lightrag_recovery_db::{DaySeverityCount, Severity, Timestamp};

/// HTML-escapes `s` (text and attribute values).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "4 min ago" (or "in 3 s" for a clock ahead) from `now`.
pub(crate) fn ago(t: Timestamp, now: Timestamp) -> String {
    let ms = now.unix_millis() - t.unix_millis();
    let (ahead, s) = (ms < 0, ms.unsigned_abs() / 1000);
    let span = match s {
        0..=4 => return "just now".to_owned(),
        5..=59 => format!("{s} s"),
        60..=3_599 => format!("{} min", s / 60),
        3_600..=86_399 => format!("{} h", s / 3_600),
        86_400..=2_591_999 => format!("{} d", s / 86_400),
        _ => format!("{} mo", s / 2_592_000),
    };
    if ahead {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A `<time>` element: relative text, absolute time on hover and in `datetime`.
pub(crate) fn when(t: Timestamp, now: Timestamp) -> String {
    let abs = esc(&t.to_string());
    format!(
        r#"<time datetime="{abs}" title="{abs}">{}</time>"#,
        ago(t, now)
    )
}

/// [`when`] or a dash.
pub(crate) fn when_opt(t: Option<Timestamp>, now: Timestamp) -> String {
    t.map_or_else(|| "—".to_owned(), |t| when(t, now))
}

/// Bytes in binary units.
pub(crate) fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v.abs() >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Milliseconds as a short duration.
pub(crate) fn millis(ms: f64) -> String {
    if ms < 1_000.0 {
        format!("{ms:.0} ms")
    } else if ms < 120_000.0 {
        format!("{:.1} s", ms / 1_000.0)
    } else {
        format!("{:.1} min", ms / 60_000.0)
    }
}

/// What a chart's values are.
#[derive(Clone, Copy)]
pub(crate) enum Unit {
    Bytes,
    Millis,
}

impl Unit {
    fn fmt(self, v: f64) -> String {
        match self {
            Unit::Bytes => bytes(v),
            Unit::Millis => millis(v),
        }
    }
}

/// One value on a chart: when, the value, a failed/absent mark.
pub(crate) struct Point {
    pub(crate) at: Timestamp,
    pub(crate) value: Option<f64>,
    /// Shown in a distinct colour (a failed backup).
    pub(crate) bad: bool,
}

const W: f64 = 320.0;
const H: f64 = 90.0;
const PAD_TOP: f64 = 6.0;
const PAD_BOTTOM: f64 = 4.0;

/// A bar chart of `points` (oldest first), one bar each, with the latest and largest value in
/// the caption and every value in a hover title.
pub(crate) fn bars(id: &str, title: &str, unit: Unit, points: &[Point]) -> String {
    let values: Vec<f64> = points.iter().filter_map(|p| p.value).collect();
    let mut h = caption_open(id, title, unit, &values);
    if values.is_empty() {
        h.push_str(r#"<p class="muted nodata">No data yet.</p></figure>"#);
        return h;
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1e-9);
    let n = points.len() as f64;
    let slot = W / n;
    let bar = (slot * 0.75).max(1.0);
    let _ = write!(
        h,
        r#"<svg viewBox="0 0 {W} {H}" role="img" aria-label="{t}: {n} values">"#,
        t = esc(title),
    );
    let base = H - PAD_BOTTOM;
    for (i, p) in points.iter().enumerate() {
        let x = i as f64 * slot + (slot - bar) / 2.0;
        let (bh, label) = match p.value {
            Some(v) => (((v / max) * (base - PAD_TOP)).max(1.0), unit.fmt(v)),
            // A failed backup: a short red mark, so it is not mistaken for a quiet one.
            None if p.bad => ((base - PAD_TOP) * 0.25, "failed".to_owned()),
            None => (0.0, "—".to_owned()),
        };
        let class = if p.bad { "bar bad" } else { "bar" };
        let _ = write!(
            h,
            r#"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}"><title>{at}: {label}</title></rect>"#,
            y = base - bh,
            at = esc(&p.at.to_string()),
        );
    }
    let _ = write!(
        h,
        r#"<line class="axis" x1="0" y1="{base}" x2="{W}" y2="{base}"/></svg></figure>"#
    );
    h
}

/// A line chart of `points` (oldest first) spaced by time, with a dot per value.
pub(crate) fn line(id: &str, title: &str, unit: Unit, points: &[Point]) -> String {
    let pts: Vec<(i64, f64, &Point)> = points
        .iter()
        .filter_map(|p| p.value.map(|v| (p.at.unix_millis(), v, p)))
        .collect();
    let values: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let mut h = caption_open(id, title, unit, &values);
    if pts.is_empty() {
        h.push_str(r#"<p class="muted nodata">No data yet.</p></figure>"#);
        return h;
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1e-9);
    let (t0, t1) = (pts[0].0, pts[pts.len() - 1].0);
    let span = (t1 - t0).max(1) as f64;
    let x = |t: i64| {
        if pts.len() == 1 {
            W / 2.0
        } else {
            4.0 + (t - t0) as f64 / span * (W - 8.0)
        }
    };
    let base = H - PAD_BOTTOM;
    let y = |v: f64| base - v / max * (base - PAD_TOP);
    let _ = write!(
        h,
        r#"<svg viewBox="0 0 {W} {H}" role="img" aria-label="{t}: {n} values">"#,
        t = esc(title),
        n = pts.len(),
    );
    let path: Vec<String> = pts
        .iter()
        .map(|(t, v, _)| format!("{:.1},{:.1}", x(*t), y(*v)))
        .collect();
    let _ = write!(
        h,
        r#"<polyline class="line" fill="none" points="{}"/>"#,
        path.join(" ")
    );
    // Failed backups: red marks on the axis (they have no value to plot).
    for p in points.iter().filter(|p| p.bad && p.value.is_none()) {
        let t = p.at.unix_millis().clamp(t0, t1);
        let _ = write!(
            h,
            r#"<circle class="dot bad" cx="{:.1}" cy="{base:.1}" r="3"><title>{}: failed</title></circle>"#,
            x(t),
            esc(&p.at.to_string()),
        );
    }
    for (t, v, p) in &pts {
        let class = if p.bad { "dot bad" } else { "dot" };
        let _ = write!(
            h,
            r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="2.5"><title>{}: {}</title></circle>"#,
            x(*t),
            y(*v),
            esc(&p.at.to_string()),
            unit.fmt(*v)
        );
    }
    let _ = write!(
        h,
        r#"<line class="axis" x1="0" y1="{base}" x2="{W}" y2="{base}"/></svg></figure>"#
    );
    h
}

fn caption_open(id: &str, title: &str, unit: Unit, values: &[f64]) -> String {
    let summary = match (values.last(), values.iter().copied().reduce(f64::max)) {
        (Some(last), Some(max)) => format!(
            r#"<span class="muted">latest {} · max {}</span>"#,
            unit.fmt(*last),
            unit.fmt(max)
        ),
        _ => String::new(),
    };
    format!(
        r#"<figure class="chart" data-chart="{}"><figcaption><strong>{}</strong> {summary}</figcaption>"#,
        esc(id),
        esc(title)
    )
}

const SEVERITIES: [Severity; 4] = [
    Severity::Info,
    Severity::Warning,
    Severity::Error,
    Severity::Critical,
];

/// Stacked bars of events per day by severity over the `days` days ending at `now`'s day,
/// with a legend; every day is shown, empty ones included.
pub(crate) fn events_per_day(
    id: &str,
    rows: &[DaySeverityCount],
    days: i64,
    now: Timestamp,
) -> String {
    const DAY: i64 = 86_400_000;
    let today = now.unix_millis().div_euclid(DAY) * DAY;
    let first = today - (days - 1) * DAY;
    let mut grid = vec![[0_i64; 4]; usize::try_from(days).unwrap_or(0)];
    for r in rows {
        let d = (r.day.unix_millis() - first).div_euclid(DAY);
        let s = SEVERITIES.iter().position(|s| *s == r.severity);
        if let (Ok(d), Some(s)) = (usize::try_from(d), s)
            && d < grid.len()
        {
            grid[d][s] += r.count;
        }
    }
    let total: i64 = grid.iter().flatten().sum();
    let max = grid
        .iter()
        .map(|d| d.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut h = format!(
        r#"<figure class="chart wide" data-chart="{}"><figcaption><strong>Events per day</strong> <span class="muted">last {days} days · {total} events</span></figcaption>"#,
        esc(id)
    );
    let _ = write!(
        h,
        r#"<svg viewBox="0 0 {W} {H}" role="img" aria-label="Events per day by severity, last {days} days: {total} events">"#
    );
    let slot = W / days as f64;
    let bar = slot * 0.75;
    let base = H - PAD_BOTTOM;
    for (d, counts) in grid.iter().enumerate() {
        let day = Timestamp::from_unix_millis(first + d as i64 * DAY);
        let date = day.to_string();
        let date = date.get(..10).unwrap_or(&date);
        let x = d as f64 * slot + (slot - bar) / 2.0;
        let mut y = base;
        for (s, n) in counts.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let bh = *n as f64 / max * (base - PAD_TOP);
            y -= bh;
            let sev = SEVERITIES[s].as_str();
            let _ = write!(
                h,
                r#"<rect class="sev {sev}" data-day="{date}" data-severity="{sev}" data-count="{n}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}"><title>{date}: {n} {sev}</title></rect>"#
            );
        }
    }
    let _ = write!(
        h,
        r#"<line class="axis" x1="0" y1="{base}" x2="{W}" y2="{base}"/></svg><p class="legend">"#
    );
    for s in SEVERITIES {
        let n: i64 = grid
            .iter()
            .map(|d| d[SEVERITIES.iter().position(|x| *x == s).unwrap_or(0)])
            .sum();
        let _ = write!(
            h,
            r#"<span><i class="sev {s}"></i>{s} {n}</span> "#,
            s = s.as_str()
        );
    }
    h.push_str("</p></figure>");
    h
}

/// The charts' and badges' CSS.
pub(crate) const CSS: &str = r#"
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}
figure.chart{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px 10px;background:#fbfcfd}
figure.chart.wide{grid-column:1/-1}
figure.chart figcaption{font-size:.85rem;margin-bottom:4px}
figure.chart svg{width:100%;height:auto;display:block}
.bar{fill:#3b6fb6} .bar.bad,.dot.bad{fill:var(--bad)} .line{stroke:#3b6fb6;stroke-width:1.5;vector-effect:non-scaling-stroke} .dot{fill:#3b6fb6}
.axis{stroke:var(--line);stroke-width:1;vector-effect:non-scaling-stroke}
.sev.info{fill:#8fb4e3;background:#8fb4e3} .sev.warning{fill:#e0b34c;background:#e0b34c} .sev.error{fill:#d9534f;background:#d9534f} .sev.critical{fill:#7a1010;background:#7a1010}
.legend{margin:4px 0 0;font-size:.8rem;color:var(--mut)} .legend span{margin-right:10px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.nodata{margin:10px 0}
.graph-card h3{margin:16px 0 6px}
.delta.up{color:var(--ok)} .delta.down{color:var(--bad)}
.alert{border:1px solid var(--warn);background:#fff8e6;border-radius:6px;padding:8px 12px;margin:12px 0}
time{white-space:nowrap}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn relative_times_and_units() {
        let now = Timestamp::from_unix_millis(1_000_000_000_000);
        let t = |s: i64| Timestamp::from_unix_millis(1_000_000_000_000 - s * 1000);
        assert_eq!(ago(t(2), now), "just now");
        assert_eq!(ago(t(42), now), "42 s ago");
        assert_eq!(ago(t(4 * 60 + 59), now), "4 min ago");
        assert_eq!(ago(t(3 * 3600), now), "3 h ago");
        assert_eq!(ago(t(2 * 86400), now), "2 d ago");
        assert_eq!(ago(t(-30), now), "in 30 s");
        assert!(when(t(60), now).contains(r#"title="2001-09-09T01:45:40Z""#));
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
        assert_eq!(millis(250.0), "250 ms");
        assert_eq!(millis(2500.0), "2.5 s");
    }

    #[test]
    fn charts_scale_to_the_largest_value_and_title_every_value() {
        let p = |ms: i64, v: f64| Point {
            at: Timestamp::from_unix_millis(ms),
            value: Some(v),
            bad: false,
        };
        let svg = bars("b", "New bytes", Unit::Bytes, &[p(0, 1024.0), p(1, 2048.0)]);
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert!(svg.contains("2.0 KiB</title>"), "{svg}");
        assert!(svg.contains("latest 2.0 KiB · max 2.0 KiB"), "{svg}");
        // The largest bar spans the plot height.
        assert!(
            svg.contains(&format!("height=\"{:.1}\"", H - PAD_BOTTOM - PAD_TOP)),
            "{svg}"
        );
        let empty = line("l", "Duration", Unit::Millis, &[]);
        assert!(empty.contains("No data yet"), "{empty}");
        let one = line("l", "Duration", Unit::Millis, &[p(5, 10.0)]);
        assert_eq!(one.matches("<circle").count(), 1, "{one}");
        assert!(!bars("x", "<t>", Unit::Bytes, &[]).contains("<t>"));
    }

    #[test]
    fn failed_backups_are_marked_not_dropped() {
        let ok = |ms: i64| Point {
            at: Timestamp::from_unix_millis(ms),
            value: Some(100.0),
            bad: false,
        };
        let failed = Point {
            at: Timestamp::from_unix_millis(5),
            value: None,
            bad: true,
        };
        let b = bars("b", "New bytes", Unit::Bytes, &[ok(0), failed, ok(9)]);
        assert_eq!(b.matches(r#"class="bar bad""#).count(), 1, "{b}");
        assert!(b.contains(": failed</title>"), "{b}");
        let failed = Point {
            at: Timestamp::from_unix_millis(5),
            value: None,
            bad: true,
        };
        let l = line("l", "Size", Unit::Bytes, &[ok(0), failed, ok(9)]);
        assert_eq!(l.matches(r#"class="dot bad""#).count(), 1, "{l}");
        assert_eq!(l.matches(r#"class="dot""#).count(), 2, "{l}");
    }

    #[test]
    fn events_per_day_shows_every_day_and_stacks_severities() {
        const DAY: i64 = 86_400_000;
        let now = Timestamp::from_unix_millis(20_000 * DAY + 5_000);
        let row = |d: i64, severity, count| DaySeverityCount {
            day: Timestamp::from_unix_millis((20_000 - d) * DAY),
            severity,
            count,
        };
        let h = events_per_day(
            "e",
            &[
                row(0, Severity::Info, 3),
                row(0, Severity::Error, 1),
                row(2, Severity::Warning, 2),
                row(30, Severity::Critical, 9), // outside the window
            ],
            14,
            now,
        );
        assert!(h.contains("6 events"), "{h}");
        assert_eq!(h.matches("<rect").count(), 3, "{h}");
        assert!(h.contains(r#"data-severity="error" data-count="1""#), "{h}");
        assert!(h.contains("critical 0"), "{h}");
    }
}
