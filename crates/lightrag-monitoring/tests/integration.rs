//! Integration tests of lightrag-monitoring against real databases and a real `promtool`.
//!
//! DB-backed tests run twice: on SQLite (a temp file per test) and on PostgreSQL (a database of
//! its own per test, created through `LIGHTRAG_TEST_PG_URL`, default
//! `postgres://root:root@127.0.0.1:5432/postgres`). PostgreSQL tests fail, never skip, when
//! the server is unreachable; promtool tests fail when `promtool` is missing.

use lightrag_testing::both_backends;

mod integration {
    mod support;

    mod analytics;
    mod assets;
    mod event_log;
    mod exposition;
    mod prometheus_server;
}
