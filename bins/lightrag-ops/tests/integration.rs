//! Server integration tests: the real app on real loopback sockets, and the real binary.

#[path = "integration/common.rs"]
mod common;

#[path = "integration/api.rs"]
mod api;
#[path = "integration/auth.rs"]
mod auth;
#[path = "integration/cli.rs"]
mod cli;
#[path = "integration/dashboard.rs"]
mod dashboard;
#[path = "integration/kill9.rs"]
mod kill9;
#[path = "integration/malformed.rs"]
mod malformed;
#[path = "integration/metrics.rs"]
mod metrics;
#[path = "integration/openapi.rs"]
mod openapi;
#[path = "integration/outage.rs"]
mod outage;
#[path = "integration/parity.rs"]
mod parity;
#[path = "integration/plan.rs"]
mod plan;
#[path = "integration/probes.rs"]
mod probes;
#[path = "integration/proxy.rs"]
mod proxy;
#[path = "integration/recovery.rs"]
mod recovery;
#[path = "integration/replication.rs"]
mod replication;
#[path = "integration/repo_cli.rs"]
mod repo_cli;
#[path = "integration/shutdown.rs"]
mod shutdown;
