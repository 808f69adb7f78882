use crate::common::{TestServer, get};

#[test]
fn metrics_port_serves_the_request_histogram_with_route_patterns() {
    let s = TestServer::start(&[]);
    assert_eq!(get(&s.url("/livez"), &[]).status, 200);
    assert_eq!(get(&s.url("/no/such/path/12345"), &[]).status, 404);

    let r = get(&s.metrics_url(), &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        r.content_type
    );
    let body = r.body;
    assert!(
        body.contains("# TYPE lightrag_http_request_duration_seconds histogram"),
        "{body}"
    );
    assert!(
        body.contains("# HELP lightrag_http_request_duration_seconds "),
        "{body}"
    );
    let livez_count = body
        .lines()
        .find(|l| {
            l.starts_with("lightrag_http_request_duration_seconds_count")
                && l.contains("route=\"/livez\"")
                && l.contains("method=\"GET\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no /livez series in:\n{body}"));
    let n: f64 = livez_count.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1.0, "{livez_count}");
    assert!(body.contains("le=\"0.005\""), "histogram buckets: {body}");
    // Raw unmatched paths never become label values.
    assert!(!body.contains("/no/such/path/12345"), "{body}");
    assert!(body.contains("route=\"unmatched\""), "{body}");

    // The same exposition is on the API port.
    let r = get(&s.url("/api/v1/health-dashboard/metrics"), &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains("lightrag_http_request_duration_seconds_bucket")
    );
}

#[test]
fn metrics_disabled_means_no_listener_and_a_404() {
    let s = TestServer::start(&[("LIGHTRAG_METRICS_ENABLED", "false")]);
    assert!(s.metrics.is_none());
    let r = get(&s.url("/api/v1/health-dashboard/metrics"), &[]);
    assert_eq!(r.status, 404);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("LIGHTRAG_METRICS_ENABLED")
    );
}
