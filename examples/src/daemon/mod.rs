//! The three daemons' run loops. Each is thin: load and validate the configuration, open the
//! sockets (and the TUN device) with `ipsec-xlat-io`, build the adapter around the core, run
//! the driver until SIGINT/SIGTERM (SIGHUP reloads the relay), and report.

use ipsec_xlat_io::Timestamp;
use std::path::PathBuf;

use clap::Args;
use ipsec_xlat_io::adapters::leg_port_pair;
use ipsec_xlat_io::config::ListenConfig;
use ipsec_xlat_io::core::net::PortPair;
use ipsec_xlat_io::sys::{SocketOptions, TunConfig, TunPort, UnixTunPort};
use ipsec_xlat_io::{
    Driver, DriverConfig, DriverStats, Endpoint, Exit, Leg, OsReactor, PacketPort,
};

use crate::exit::Failure;

pub mod client;
pub mod relay;
pub mod test_sgw;

/// Options every daemon takes.
#[derive(Args, Debug, Clone)]
pub struct DaemonArgs {
    /// Configuration file (TOML; commented examples in examples/config/).
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,

    /// Load and validate the configuration, the files it names and what the core can run of
    /// it, print a summary, and exit (0 valid, 3 invalid). Opens no socket.
    #[arg(long)]
    pub check_config: bool,

    /// More log output: -v debug, -vv trace (default info; RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Where inner packets enter and leave (client, test-SGW).
#[derive(Args, Debug, Clone)]
pub struct InnerArgs {
    /// Instead of the TUN device of the configuration, use a Unix datagram socket bound to
    /// PATH: one inner IP packet per datagram, answers to the last sender (an empty datagram
    /// registers). Needs no root; for tests and demos.
    #[arg(long, value_name = "PATH")]
    pub inner_socket: Option<PathBuf>,
}

/// Relay-only options.
#[derive(Args, Debug, Clone)]
pub struct RelayArgs {
    /// Also log the translation tables and every counter (drops by reason included) every
    /// SECS seconds while running; they are always logged at exit.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub report_every: Option<u64>,
}

/// Client-only options.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Keep FILE up to date with the installed IPsec SAs: one line per SA, "IN OUT" SPIs in hex
    /// as the SGW knows them (swanctl --list-sas on the SGW shows them swapped). Emptied when
    /// none is left. For scripts and the lab.
    #[arg(long, value_name = "FILE")]
    pub status_file: Option<PathBuf>,

    /// Create a control socket at PATH (Unix datagram, mode 0600; overrides the
    /// configuration's control.socket): `xlat ctl --socket PATH status|initiate|terminate|rekey`
    /// steers the running client. With it, a failed attempt leaves the client running and
    /// waiting for the next `initiate` instead of exiting.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,

    /// Start idle: establish nothing until an `initiate` arrives on the control socket
    /// (overrides control.initiate = true; needs a control socket).
    #[arg(long)]
    pub no_initiate: bool,
}

/// The real ports of a leg: from the opened sockets, or (nothing opened, `--check-config`) as
/// configured.
pub(crate) fn leg_ports(
    ports: &[Box<dyn PacketPort>],
    leg: Leg,
    listen: &ListenConfig,
) -> PortPair {
    leg_port_pair(ports, leg).unwrap_or(PortPair {
        ike: listen.ike_port,
        natt: listen.natt_port,
    })
}

/// Receive and send buffer size every daemon asks for on its sockets.
///
/// IKE shares the NAT-T socket with ESP-in-UDP. Under bulk traffic a userspace datapath falls
/// behind in bursts, the kernel's default buffer (about 200 KiB) fills, and it drops whatever
/// arrives next, IKE included: in the namespace lab a quick mode the SGW started during a
/// 400 Mbit/s transfer was lost at the relay's or the client's socket in most runs, so the
/// rekey waited seconds for a retransmission. A few MiB absorb those bursts. The kernel caps
/// the request at `net.core.rmem_max`/`wmem_max` without an error.
pub(crate) const SOCKET_BUFFER: usize = 4 << 20;

/// The socket options of every daemon (see [`SOCKET_BUFFER`]).
pub(crate) fn socket_options() -> SocketOptions {
    SocketOptions {
        recv_buffer: Some(SOCKET_BUFFER),
        send_buffer: Some(SOCKET_BUFFER),
        ..SocketOptions::default()
    }
}

/// The TUN device, or the Unix socket standing in for it.
pub(crate) fn open_inner(
    tun: &TunConfig,
    inner: &InnerArgs,
) -> Result<Box<dyn PacketPort>, Failure> {
    match &inner.inner_socket {
        Some(path) => UnixTunPort::bind(path)
            .map(|port| Box::new(port) as Box<dyn PacketPort>)
            .map_err(|e| {
                Failure::System(format!("cannot bind inner socket {}: {e}", path.display()))
            }),
        None => TunPort::open(tun)
            .map(|port| {
                tracing::info!(device = %port.name(), "TUN device up");
                Box::new(port) as Box<dyn PacketPort>
            })
            .map_err(|e| {
                Failure::System(format!(
                    "cannot create TUN device {}: {e} (needs root or CAP_NET_ADMIN; \
                     --inner-socket PATH runs without)",
                    tun.name
                ))
            }),
    }
}

/// A driver over `ports` with SIGINT/SIGTERM/SIGHUP handling.
pub(crate) fn driver(ports: Vec<Box<dyn PacketPort>>) -> Result<Driver<OsReactor>, Failure> {
    let reactor = OsReactor::new()
        .and_then(OsReactor::with_signals)
        .map_err(|e| Failure::System(format!("cannot set up the event loop: {e}")))?;
    Driver::new(reactor, ports, DriverConfig::default())
        .map_err(|e| Failure::System(format!("cannot register sockets: {e}")))
}

/// Runs `endpoint` until a signal or until it drains.
pub(crate) fn run<E: Endpoint>(
    driver: &mut Driver<OsReactor>,
    endpoint: &mut E,
    on_reload: impl FnMut(&mut E),
) -> Result<Exit, Failure> {
    driver
        .run(endpoint, on_reload)
        .map_err(|e| Failure::Runtime(format!("event loop failed: {e}")))
}

/// Logs the driver's counters at shutdown.
pub(crate) fn log_stats(stats: &DriverStats) {
    tracing::info!(
        rx = stats.rx_packets,
        tx = stats.tx_packets,
        rx_errors = stats.rx_errors,
        tx_errors = stats.tx_errors,
        tx_unroutable = stats.tx_unroutable,
        tx_would_block = stats.tx_would_block,
        reloads = stats.reloads,
        "I/O counters"
    );
}

/// Logs configuration the cores cannot honour yet.
pub(crate) fn log_warnings(warnings: &[String]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}

/// Prints `--check-config` warnings (stdout: they are the command's output).
pub(crate) fn print_warnings(warnings: &[String]) {
    for w in warnings {
        println!("warning: {w}");
    }
}

/// The time to hand a freshly built endpoint: the driver's clock starts at zero when the
/// driver is made, right after the endpoint.
pub(crate) fn now() -> Timestamp {
    Timestamp::ZERO
}
