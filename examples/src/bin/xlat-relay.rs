//! `xlat-relay`: the relay between clients and unmodified IPsec gateways.
#![forbid(unsafe_code)]
use std::process::ExitCode;

use clap::Parser;
use ipsec_xlat_examples::daemon::{relay, DaemonArgs, RelayArgs};
use ipsec_xlat_examples::{exit, logging};

const AFTER_HELP: &str = "\
Examples:
  xlat-relay --config /etc/ipsec-xlat/relay.toml -v
  xlat-relay --config relay.toml --check-config

Signals: SIGINT/SIGTERM stop the relay (its tables are logged); SIGHUP re-reads the
configuration and applies newly authorised clients without dropping sessions.
Ports below 1024 and raw ESP/AH sockets need root or CAP_NET_BIND_SERVICE/CAP_NET_RAW.";

/// Relays IKEv1 and IPsec between clients (c-side) and unmodified SGWs (s-side) by
/// rewriting addresses, cookies and SPIs from its translation tables. It never holds a key.
#[derive(Parser, Debug)]
#[command(name = "xlat-relay", version, about, after_help = format!("{AFTER_HELP}\n\n{}", exit::TABLE))]
struct Cli {
    #[command(flatten)]
    daemon: DaemonArgs,
    #[command(flatten)]
    relay: RelayArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(1, cli.daemon.verbose);
    exit::finish(relay::main(&cli.daemon, &cli.relay))
}
