//! `xlat`: the ipsec-xlat command-line tool.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod quickstart;
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
    /// Client, relay and test-SGW in one process over loopback UDP (no root, no TUN):
    /// establishes IKE and IPsec SAs through the relay, pings the SGW's LAN through the
    /// tunnel, prints the relay's tables and counters; exit 0 only if every packet arrived.
    Quickstart(quickstart::QuickstartArgs),
    /// ESP/AH known-answer vectors (format: tests/data/vectors/README.md).
    #[command(subcommand)]
    Vector(vector::VectorCommand),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Quickstart(args) => quickstart::run(&args),
        Command::Vector(cmd) => vector::run(cmd),
    }
}
