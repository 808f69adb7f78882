//! The lightrag-ops server: wires the library crates into an actix-web application.
//!
//! It holds no business logic: configuration comes from `lightrag-config`, and each route module
//! exports `fn config(cfg: &mut ServiceConfig)` that maps HTTP onto a library facade.

pub mod cli;
mod error;
mod guard;
mod jobs;
mod middleware;
mod ops;
mod routes;
mod scheduler;
mod server;
mod state;
pub mod telemetry;
pub mod wiring;

pub use error::ApiError;
pub use server::{Listening, bind, run_server};
pub use state::{AppState, Readiness};
