//! `xlat-test-sgw`: a plain IKEv1 responder and IPsec gateway for tests.
#![forbid(unsafe_code)]
use std::process::ExitCode;

use clap::Parser;
use ipsec_xlat_examples::daemon::{test_sgw, DaemonArgs, InnerArgs};
use ipsec_xlat_examples::{exit, logging};

const AFTER_HELP: &str = "\
Examples:
  xlat-test-sgw --config /etc/ipsec-xlat/test-sgw.toml -v
  xlat-test-sgw --config test-sgw.toml --check-config
  xlat-test-sgw --config test-sgw.toml --inner-socket /tmp/xlat-sgw.sock   (no TUN, no root)
  xlat-test-sgw --config test-sgw.toml --key-log /tmp/sa-keys.jsonl   (verify captures with an oracle)

It knows nothing of relays: like strongSwan, it answers main mode and quick mode, and
carries ESP (and AH) between its peers and its TUN device (the LAN). SIGINT/SIGTERM stop it.";

/// A standard IKEv1 responder (main mode, quick mode) with an ESP/AH datapath, for testing
/// ipsec-xlat where strongSwan cannot go (AH, ESP+AH).
#[derive(Parser, Debug)]
#[command(name = "xlat-test-sgw", version, about, after_help = format!("{AFTER_HELP}\n\n{}", exit::TABLE))]
struct Cli {
    #[command(flatten)]
    daemon: DaemonArgs,
    #[command(flatten)]
    inner: InnerArgs,
    /// Append every installed SA's keys to FILE (created 0600), one JSON line per SA and
    /// direction in the independent oracle's format, to verify captured ESP/AH packets. A test
    /// gateway's equivalent of strongSwan's key logging: never use it with real traffic.
    #[arg(long, value_name = "FILE")]
    key_log: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(1, cli.daemon.verbose);
    exit::finish(test_sgw::main(
        &cli.daemon,
        &cli.inner,
        cli.key_log.as_deref(),
    ))
}
