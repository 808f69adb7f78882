//! Integration tests of lightrag-replication (one binary; modules under `integration/`).

use lightrag_testing::both_backends;

mod integration {
    pub mod support;
    pub mod test_server;

    mod directory;
    mod object_store;
    mod peer;
    mod state;
}
