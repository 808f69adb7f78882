use crate::common::{TestServer, get};

#[test]
fn livez_and_readyz_answer_200_json() {
    let s = TestServer::start(&[]);
    let r = get(&s.url("/livez"), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "alive");
    let r = get(&s.url("/readyz"), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ready");
}

#[test]
fn unknown_paths_get_a_json_404() {
    let s = TestServer::start(&[]);
    let r = get(&s.url("/api/v1/nope"), &[]);
    assert_eq!(r.status, 404);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    let j = r.json();
    assert_eq!(j["error"]["code"], "not_found");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/api/v1/nope")
    );
}

#[test]
fn non_loopback_without_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::common::test_config(dir.path(), &[("LIGHTRAG_HOST", "0.0.0.0")]);
    let err = actix_web::rt::System::new()
        .block_on(lightrag_ops::bind(cfg))
        .expect_err("must refuse");
    let msg = format!("{err:#}");
    assert!(msg.contains("LIGHTRAG_HOST=0.0.0.0"), "{msg}");
    assert!(msg.contains("LIGHTRAG_API_KEY"), "{msg}");
    assert!(msg.contains("LIGHTRAG_ALLOW_INSECURE"), "{msg}");
}

#[test]
fn readyz_turns_503_when_the_database_goes_away_while_livez_stays_200() {
    let pg = crate::common::PgDatabase::create();
    let s = TestServer::start(&[("LIGHTRAG_RECOVERY_DB_URL", pg.url.as_str())]);
    assert_eq!(get(&s.url("/readyz"), &[]).status, 200);
    drop(pg); // DROP DATABASE … WITH (FORCE): every connection of the pool is cut.
    let r = crate::common::eventually(60, || {
        let r = get(&s.url("/readyz"), &[]);
        (r.status == 503).then_some(r)
    });
    let j = r.json();
    assert_eq!(j["status"], "not_ready");
    assert!(
        j["reasons"][0].as_str().unwrap().starts_with("database:"),
        "{j}"
    );
    assert!(
        !r.body.contains("root:root"),
        "no credentials in the reason: {}",
        r.body
    );
    assert_eq!(get(&s.url("/livez"), &[]).status, 200);
}
