//! Integration tests of the recovery catalog against real databases.
//!
//! Every test in `suite` runs twice: on SQLite (a temp file per test) and on PostgreSQL (a
//! database of its own per test, created through `LIGHTRAG_TEST_PG_URL`, default
//! `postgres://root:root@127.0.0.1:5432/postgres`). PostgreSQL tests fail, never skip, when the
//! server is unreachable.

use lightrag_testing::both_backends;

mod integration {
    mod support;

    mod concurrency;
    mod connect;
    mod crud;
    mod migrations;
    mod pg_restart;
}
