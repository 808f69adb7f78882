//! `lightrag-ops`: the server (`serve`, the default) and the operator CLI.

use std::process::ExitCode;

use clap::Parser;
use lightrag_ops::cli::{Cli, Command, Outcome};

fn main() -> ExitCode {
    lightrag_ops::memory::tune_allocator();
    let cli = Cli::parse();
    let config = match cli.load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lightrag-ops: {e:#}");
            return ExitCode::from(2);
        }
    };
    lightrag_ops::telemetry::init_tracing(config.log_format);
    let result = match cli.command.unwrap_or_default() {
        Command::Serve => actix_web::rt::System::new()
            .block_on(lightrag_ops::run_server(config))
            .map(|()| Outcome::Ok),
        cmd => lightrag_ops::cli::run(&config, &cmd, cli.json),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Damaged) => ExitCode::from(3),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "Exiting on error");
            eprintln!("lightrag-ops: {e:#}");
            ExitCode::FAILURE
        }
    }
}
