//! End-to-end tests across crates: the real app on real loopback sockets, the real binary,
//! two servers replicating, kill -9, and (with `LIGHTRAG_TEST_SERVER_DB=postgres`) the catalog on
//! PostgreSQL.

#[path = "e2e/common.rs"]
mod common;

#[path = "e2e/api.rs"]
mod api;
#[path = "e2e/auth.rs"]
mod auth;
#[path = "e2e/browser.rs"]
mod browser;
#[path = "e2e/change.rs"]
mod change;
#[path = "e2e/child.rs"]
mod child;
#[path = "e2e/cli.rs"]
mod cli;
#[path = "e2e/dashboard.rs"]
mod dashboard;
#[path = "e2e/fuzz.rs"]
mod fuzz;
#[path = "e2e/health_cost.rs"]
mod health_cost;
#[path = "e2e/kill9.rs"]
mod kill9;
#[path = "e2e/lightrag_real.rs"]
mod lightrag_real;
#[path = "e2e/malformed.rs"]
mod malformed;
#[path = "e2e/metrics.rs"]
mod metrics;
#[path = "e2e/metrics_listener.rs"]
mod metrics_listener;
/// Issue 17 #3: a table of misconfigurations and the ecosystem's variable names.
#[path = "e2e/misconfig.rs"]
mod misconfig;
#[path = "e2e/openapi.rs"]
mod openapi;
#[path = "e2e/outage.rs"]
mod outage;
#[path = "e2e/parity.rs"]
mod parity;
#[path = "e2e/peer_security.rs"]
mod peer_security;
#[path = "e2e/plan.rs"]
mod plan;
#[path = "e2e/probes.rs"]
mod probes;
#[path = "e2e/proxy.rs"]
mod proxy;
#[path = "e2e/recovery.rs"]
mod recovery;
#[path = "e2e/replication.rs"]
mod replication;
#[path = "e2e/repo_cli.rs"]
mod repo_cli;
#[path = "e2e/shutdown.rs"]
mod shutdown;
#[path = "e2e/tls.rs"]
mod tls;
#[path = "e2e/workspaces.rs"]
mod workspaces;
