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
    let s = TestServer::start(&[("LIGHTRAG_API_KEY", "correct-horse")]);

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
        !r.body.contains("correct-horse"),
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
        get(&s.url(PROTECTED), &[("X-API-Key", "correct-horse")]).status,
        200
    );
    assert_eq!(
        get(
            &s.url(PROTECTED),
            &[("Authorization", "Bearer correct-horse")]
        )
        .status,
        200
    );
    assert_eq!(
        get(
            &s.url(PROTECTED),
            &[("authorization", "bearer correct-horse")]
        )
        .status,
        200
    );

    // Unknown paths are protected too: no probing without the key.
    assert_eq!(get(&s.url("/api/v1/anything"), &[]).status, 401);
}

#[test]
fn whitelisted_paths_stay_open() {
    let s = TestServer::start(&[("LIGHTRAG_API_KEY", "k-123")]);
    assert_eq!(get(&s.url("/livez"), &[]).status, 200);
    assert_eq!(get(&s.url("/readyz"), &[]).status, 200);
    // /health is whitelisted by default: whatever it answers, it is not an auth error.
    let r = get(&s.url("/health"), &[]);
    assert!(r.status != 401 && r.status != 403, "{r:?}");
    // Open, but without the key it shows statuses only.
    let anon = get(&s.url("/health"), &[("Accept", "application/json")]).json();
    assert_eq!(anon["limited"], true, "{anon}");
    assert!(anon["scheduler"].as_array().unwrap().is_empty(), "{anon}");
    let full = get(
        &s.url("/health"),
        &[("Accept", "application/json"), ("X-API-Key", "k-123")],
    )
    .json();
    assert_eq!(full["limited"], false, "{full}");
    assert!(!full["scheduler"].as_array().unwrap().is_empty(), "{full}");

    let s = TestServer::start(&[
        ("LIGHTRAG_API_KEY", "k-123"),
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
