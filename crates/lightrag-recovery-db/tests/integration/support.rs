//! Per-test databases and the macro that runs a test on both backends: the shared harness of
//! `lightrag-testing`.

pub use lightrag_testing::{TestDb, pg_admin_url, pg_url_with_db};
