//! Integration tests of lightrag-backup on real files (synthetic workspaces and the real
//! LightRAG fixtures under `shared/fixtures/lightrag-real`).

mod integration {
    pub(crate) mod common;
    mod consistency;
    mod crash;
    mod damage;
    mod encryption;
    pub(crate) mod faulty;
    mod files;
    mod fixtures;
    mod listing;
    mod model;
    mod prune;
    mod remote;
    mod restore;
    mod retention;
    mod spread;
    mod synthetic;
    mod torn;
}
