use crate::common::{TestServer, get};

const PROTECTED: &str = "/api/v1/health-dashboard/metrics";

#[test]
fn without_a_configured_key_everything_is_open() {
    let s = TestServer::start(&[]);
    assert_eq!(get(&s.url(PROTECTED), &[]).status, 200);
    assert_eq!(get(&s.url("/livez"), &[]).status, 200);
}

#[test]
fn with_a_key_missing_is_401_wrong_is_403_right_is_200() {
    let s = TestServer::start(&[("LIGHTRAG_API_KEY", "correct-horse-battery-staple")]);

    let r = get(&s.url(PROTECTED), &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-API-Key")
    );

    let r = get(&s.url(PROTECTED), &[("X-API-Key", "wrong")]);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "forbidden");
    assert!(
        !r.body.contains("correct-horse-battery-staple"),
        "the key must never be echoed"
    );

    let r = get(&s.url(PROTECTED), &[("Authorization", "Bearer wrong")]);
    assert_eq!(r.status, 403);
    // A prefix of the right key is still wrong.
    assert_eq!(
        get(&s.url(PROTECTED), &[("X-API-Key", "correct")]).status,
        403
    );

    assert_eq!(
        get(
            &s.url(PROTECTED),
            &[("X-API-Key", "correct-horse-battery-staple")]
        )
        .status,
        200
    );
    assert_eq!(
        get(
            &s.url(PROTECTED),
            &[("Authorization", "Bearer correct-horse-battery-staple")]
        )
        .status,
        200
    );
    assert_eq!(
        get(
            &s.url(PROTECTED),
            &[("authorization", "bearer correct-horse-battery-staple")]
        )
        .status,
        200
    );

    // Unknown paths are protected too: no probing without the key.
    assert_eq!(get(&s.url("/api/v1/anything"), &[]).status, 401);
}

#[test]
fn whitelisted_paths_stay_open() {
    let s = TestServer::start(&[("LIGHTRAG_API_KEY", "k-123-0123456789abcdef")]);
    assert_eq!(get(&s.url("/livez"), &[]).status, 200);
    assert_eq!(get(&s.url("/readyz"), &[]).status, 200);
    // /health is whitelisted by default: whatever it answers, it is not an auth error.
    let r = get(&s.url("/health"), &[]);
    assert!(r.status != 401 && r.status != 403, "{r:?}");
    // Open, but without the key it shows statuses only (503 `starting` until the health
    // worker's first report: anonymous requests never run a check themselves).
    let anon = crate::common::eventually(30, || {
        let r = get(&s.url("/health"), &[("Accept", "application/json")]);
        (r.status == 200).then(|| r.json())
    });
    assert_eq!(anon["limited"], true, "{anon}");
    assert!(anon["scheduler"].as_array().unwrap().is_empty(), "{anon}");
    let full = get(
        &s.url("/health"),
        &[
            ("Accept", "application/json"),
            ("X-API-Key", "k-123-0123456789abcdef"),
        ],
    )
    .json();
    assert_eq!(full["limited"], false, "{full}");
    assert!(!full["scheduler"].as_array().unwrap().is_empty(), "{full}");

    let s = TestServer::start(&[
        ("LIGHTRAG_API_KEY", "k-123-0123456789abcdef"),
        (
            "LIGHTRAG_WHITELIST_PATHS",
            "/livez,/api/v1/health-dashboard/*",
        ),
    ]);
    assert_eq!(get(&s.url(PROTECTED), &[]).status, 200);
    assert_eq!(
        get(&s.url("/readyz"), &[]).status,
        401,
        "no longer whitelisted"
    );
}

/// Issue 14 #5: failed authentications are limited per address (429 with Retry-After, the
/// right key included, while the window lasts) and counted in `lightrag_auth_failures_total`.
#[test]
fn repeated_failures_from_one_address_get_429() {
    const KEY: &str = "rate-limit-key-0123456789";
    let s = TestServer::start(&[("LIGHTRAG_API_KEY", KEY)]);
    // Ten failures in a minute: missing keys and wrong keys alike.
    for i in 0..10 {
        let r = if i % 2 == 0 {
            get(&s.url(PROTECTED), &[])
        } else {
            get(&s.url(PROTECTED), &[("X-API-Key", "wrong-key-0123456789")])
        };
        assert!(r.status == 401 || r.status == 403, "attempt {i}: {r:?}");
    }
    let r = get(&s.url(PROTECTED), &[("X-API-Key", "wrong-key-0123456789")]);
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(r.json()["error"]["code"], "too_many_requests");
    // While blocked, keys are not even compared: the right one gets 429 too (no oracle).
    let r = get(&s.url(PROTECTED), &[("X-API-Key", KEY)]);
    assert_eq!(r.status, 429, "{r:?}");
    let retry = ureq_retry_after(&s.url(PROTECTED));
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Open paths stay open.
    assert_eq!(get(&s.url("/livez"), &[]).status, 200);
    // Counted by reason.
    let text = get(&s.metrics_url(), &[]).body;
    for reason in ["missing", "invalid", "rate_limited"] {
        let line = text
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "lightrag_auth_failures_total{{reason=\"{reason}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no {reason} series in\n{text}"));
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n >= 1.0, "{line}");
    }
    assert!(!text.contains(KEY) && !text.contains("wrong-key"));
}

/// The `Retry-After` header of a GET.
fn ureq_retry_after(url: &str) -> u64 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let res = agent.get(url).call().unwrap();
    assert_eq!(res.status().as_u16(), 429);
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in seconds")
}
