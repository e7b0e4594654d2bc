//! `xlat`: the ipsec-xlat command-line tool.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod vector;

/// ipsec-xlat debugging and demo tool.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// ESP/AH known-answer vectors (format: tests/data/vectors/README.md).
    #[command(subcommand)]
    Vector(vector::VectorCommand),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Vector(cmd) => vector::run(cmd),
    }
}
