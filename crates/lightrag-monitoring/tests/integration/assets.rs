//! Operator assets in docs/: alert rules pass promtool; the dashboard and the rules only name
//! metrics of the catalogue; docs/metrics.md documents every metric.

use std::path::PathBuf;
use std::process::Command;

use lightrag_monitoring::{Metric, MetricType, PROCESS_METRICS};

use super::support::promtool;

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

/// Metric names (`lightrag_*`, `process_*`) mentioned in `text`.
fn referenced(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["lightrag_", "process_"] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let before_ok = i == 0
                || !rest.as_bytes()[i - 1].is_ascii_alphanumeric()
                    && rest.as_bytes()[i - 1] != b'_';
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            if before_ok {
                out.push(tail[..end].to_owned());
            }
            rest = &tail[end..];
        }
    }
    out
}

fn known(name: &str) -> bool {
    let families = Metric::ALL
        .iter()
        .map(|m| (m.name(), m.metric_type()))
        .chain(PROCESS_METRICS.iter().map(|(n, t, _)| (*n, *t)));
    for (family, ty) in families {
        if name == family {
            return true;
        }
        if ty == MetricType::Histogram
            && ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.strip_suffix(s) == Some(family))
        {
            return true;
        }
    }
    false
}

#[test]
fn alert_rules_pass_promtool_check_rules() {
    let path = docs().join("prometheus-alerts.yml");
    let out = Command::new(promtool())
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .expect("run promtool");
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check rules: {msg}");
    assert!(msg.contains("SUCCESS"), "{msg}");
}

#[test]
fn dashboard_and_rules_name_only_catalogue_metrics() {
    let rules = std::fs::read_to_string(docs().join("prometheus-alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(docs().join("grafana-dashboard.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() > 10));
    for (file, text) in [
        ("prometheus-alerts.yml", &rules),
        ("grafana-dashboard.json", &dashboard),
    ] {
        let names = referenced(text);
        assert!(!names.is_empty(), "{file}");
        for n in names {
            assert!(known(&n), "{file} names unknown metric {n}");
        }
    }
    // The dashboard covers backups, lag, health and HTTP latency.
    for m in [
        "lightrag_backup_last_success_timestamp_seconds",
        "lightrag_replication_lag_seconds",
        "lightrag_graph_health_status",
        "lightrag_http_request_duration_seconds_bucket",
    ] {
        assert!(dashboard.contains(m), "dashboard lacks {m}");
    }
}

#[test]
fn metrics_doc_lists_every_metric() {
    let doc = std::fs::read_to_string(docs().join("metrics.md")).unwrap();
    for m in Metric::ALL {
        assert!(
            doc.contains(&format!("`{}`", m.name())),
            "docs/metrics.md lacks {}",
            m.name()
        );
    }
    for (n, _, _) in PROCESS_METRICS {
        assert!(doc.contains(&format!("`{n}`")), "docs/metrics.md lacks {n}");
    }
    for name in referenced(&doc) {
        if name.starts_with("lightrag_monitoring") || name.starts_with("lightrag_recovery_db") {
            continue; // crate paths
        }
        assert!(known(&name), "docs/metrics.md names unknown metric {name}");
    }
}
