//! `xlat`: the ipsec-xlat command-line tool.
use clap::Parser;

/// ipsec-xlat debugging and demo tool.
#[derive(Parser)]
#[command(version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
