//! The `reagent` command: logging, then the command tree in `cli`.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REAGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,ort=warn,qdrant_edge=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if cli::is_model_mismatch(&e) { ExitCode::from(cli::EXIT_MODEL_MISMATCH) } else { ExitCode::FAILURE }
        }
    }
}
