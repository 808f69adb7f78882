//! The lightrag-ops server: wires the library crates into an actix-web application.
//!
//! It holds no business logic: every operation is a method of the composed
//! [`lightrag_service::Service`]; the binary parses arguments, maps HTTP, renders and wires.
//! Each route module exports `fn config(cfg: &mut ServiceConfig)`.

pub mod cli;
mod error;
mod guard;
mod jobs;
pub mod memory;
mod middleware;
mod routes;
mod server;
mod state;
pub mod telemetry;

pub use error::ApiError;
pub use server::{Listening, bind, run_server};
pub use state::AppState;
