//! End-to-end tests of lightrag-ops across its crates live in `tests/e2e/` (run with
//! `cargo test --workspace --test e2e`); crate tests stay with their crates. This library is
//! empty: a Cargo package needs a target besides its tests.
