//! `xlat`: the ipsec-xlat command-line tool.
#![forbid(unsafe_code)]
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod ctl;
mod decode;
mod key;
mod quickstart;
mod vector;

/// ipsec-xlat debugging and demo tool: `xlat quickstart` runs client, relay and test-SGW in
/// one process; `xlat decode` shows a packet's every field; `xlat vector check` runs ESP/AH
/// known-answer vectors; `xlat key` makes and reads Noise static keys; `xlat ctl` steers a
/// running client.
#[derive(Parser)]
#[command(
    version,
    about = "ipsec-xlat debugging and demo tool",
    after_help = "Start here: cargo run --release --bin xlat -- quickstart"
)]
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
    /// Print every header field of a packet or IKE datagram: IPv4/IPv6, UDP, NAT-T
    /// classification, ESP, AH, the ISAKMP header and payload chain with typed fields, and our
    /// tail. Exit 0 if all decoded, 1 if a layer did not parse, 2 for bad input.
    Decode(decode::DecodeArgs),
    /// Noise static keys for the relay and clients: make one, or show a key's public half.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// ESP/AH known-answer vectors (format: tests/data/vectors/README.md).
    #[command(subcommand)]
    Vector(vector::VectorCommand),
    /// Steer a running xlat-client through its control socket (--control PATH):
    /// status, initiate, terminate, rekey. Exit 0 done, 1 refused or failed, 4 no daemon or
    /// no reply in time.
    #[command(
        after_help = "Examples:\n  xlat ctl --socket /run/xlat-client.ctl initiate\n  \
                            xlat ctl --socket /run/xlat-client.ctl status\n  \
                            xlat ctl --socket /run/xlat-client.ctl terminate"
    )]
    Ctl(ctl::CtlArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Ctl(args) => ctl::run(&args),
        Command::Decode(args) => decode::run(&args),
        Command::Key(cmd) => key::run(&cmd),
        Command::Quickstart(args) => quickstart::run(&args),
        Command::Vector(cmd) => vector::run(cmd),
    }
}
