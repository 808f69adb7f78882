//! Integration tests of lightrag-recovery (one binary; modules under `tests/integration/`).

mod integration {
    pub mod common;
    mod discovery;
}
