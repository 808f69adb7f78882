//! Integration tests of lightrag-recovery (one binary; modules under `tests/integration/`).
//!
//! DB-backed tests run twice: on SQLite (a temp file per test) and on PostgreSQL (a database
//! per test, created through `LIGHTRAG_TEST_PG_URL`, default
//! `postgres://root:root@127.0.0.1:5432/postgres`). They fail, never skip, without a server.

use lightrag_testing::both_backends;

mod integration {
    pub mod common;
    pub mod support;

    mod catalog;
    mod discovery;
    mod health;
    mod health_cache;
    mod nested;
    mod objectives;
    mod points;
    mod restore;
    mod validation;
}
