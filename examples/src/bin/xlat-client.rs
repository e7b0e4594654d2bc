//! `xlat-client`: keeps a standard IKEv1/IPsec connection to an SGW through the relay.
#![forbid(unsafe_code)]
use std::process::ExitCode;

use clap::Parser;
use ipsec_xlat_examples::daemon::{client, ClientArgs, DaemonArgs, InnerArgs};
use ipsec_xlat_examples::{exit, logging};

const AFTER_HELP: &str = "\
Examples:
  xlat-client --config /etc/ipsec-xlat/client.toml -v
  xlat-client --config client.toml --check-config
  xlat-client --config client.toml --inner-socket /tmp/xlat-client.sock   (no TUN, no root)
  xlat-client --config client.toml --control /run/xlat-client.ctl --no-initiate
      then: xlat ctl --socket /run/xlat-client.ctl initiate|status|rekey|terminate

The client starts main mode and quick mode through the relay at once (unless
--no-initiate) and installs the SA; packets routed into its TUN device go through the
tunnel. SIGINT/SIGTERM send DELETEs for the SAs and stop it (exit 0); if IKE fails for good
it exits with status 1, except with a control socket: then it stays, waiting for the next
`initiate`.";

/// The ipsec-xlat client: IKEv1 main mode + quick mode with an unmodified SGW, through the
/// relay, and ESP between its TUN device and the relay.
#[derive(Parser, Debug)]
#[command(name = "xlat-client", version, about, after_help = format!("{AFTER_HELP}\n\n{}", exit::TABLE))]
struct Cli {
    #[command(flatten)]
    daemon: DaemonArgs,
    #[command(flatten)]
    inner: InnerArgs,
    #[command(flatten)]
    client: ClientArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(1, cli.daemon.verbose);
    exit::finish(client::main(&cli.daemon, &cli.inner, &cli.client))
}
