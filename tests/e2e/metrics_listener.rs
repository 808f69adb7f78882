//! Issue 14 #6: the metrics listener has its own address (`LIGHTRAG_METRICS_HOST`, default
//! 127.0.0.1) and an optional bearer token (`LIGHTRAG_METRICS_TOKEN`).

use std::net::IpAddr;

use crate::common::{TestServer, get};

#[test]
fn the_metrics_listener_binds_its_own_host() {
    // Default: loopback, whatever the API binds.
    let s = TestServer::start(&[]);
    assert_eq!(
        s.metrics.unwrap().ip(),
        "127.0.0.1".parse::<IpAddr>().unwrap()
    );
    drop(s);
    // Another loopback address than the API's: the listener follows LIGHTRAG_METRICS_HOST.
    let s = TestServer::start(&[("LIGHTRAG_METRICS_HOST", "127.0.0.2")]);
    assert_eq!(s.api.ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(
        s.metrics.unwrap().ip(),
        "127.0.0.2".parse::<IpAddr>().unwrap()
    );
    let r = get(&s.metrics_url(), &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("lightrag_"), "{}", r.body);
}

#[test]
fn with_a_token_a_scrape_needs_the_bearer_token() {
    const TOKEN: &str = "scrape-token-0123456789abcdef";
    let s = TestServer::start(&[("LIGHTRAG_METRICS_TOKEN", TOKEN)]);
    let url = s.metrics_url();
    let r = get(&url, &[]);
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("LIGHTRAG_METRICS_TOKEN")
    );
    for wrong in [
        "Bearer wrong-token-0123456789abcdef",
        "Bearer scrape-token",
        "Basic c2NyYXBlOnRva2Vu",
        TOKEN,
    ] {
        assert_eq!(
            get(&url, &[("Authorization", wrong)]).status,
            401,
            "{wrong}"
        );
    }
    let ok = get(&url, &[("Authorization", &format!("Bearer {TOKEN}"))]);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.body.contains("lightrag_build_info"), "{}", ok.body);
    assert!(!ok.body.contains(TOKEN));
    // The root path of the listener is guarded the same way.
    let root = url.trim_end_matches("metrics");
    assert_eq!(get(root, &[]).status, 401);
}
