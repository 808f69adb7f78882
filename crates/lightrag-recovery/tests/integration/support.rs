//! Per-test databases and the macro that runs a test on both backends: the shared harness of
//! `lightrag-testing`. PostgreSQL tests fail, never skip, when the server at
//! `LIGHTRAG_TEST_PG_URL` (default `postgres://root:root@127.0.0.1:5432/postgres`) is
//! unreachable.

pub use lightrag_testing::TestDb;
