//! `xlat quickstart`: client, relay and test-SGW in one process over loopback UDP, no root and
//! no TUN. It writes the three configurations (fresh keys, ports the kernel picks) into a
//! temporary directory, loads them the way the daemons do, opens real UDP sockets on
//! 127.0.0.1-3, runs each adapter in its own driver thread, waits for IKE and IPsec SAs through
//! the relay, pings the test-SGW's LAN from the client's inner address through Unix-socket TUN
//! stand-ins, prints the relay's tables and counters, and passes only if every packet arrived
//! intact in both directions.

use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Args;

/// `println!` that does not panic when stdout is gone (`xlat quickstart | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
use ipsec_xlat::ike::phase2::BundleSpis;
use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat_examples::echo;
use ipsec_xlat_examples::exit::{self, Failure};
use ipsec_xlat_examples::logging;
use ipsec_xlat_io::adapters::{
    leg_port_pair, relay_listen, ChildSummary, ClientEndpoint, Notice, Notifier, RelayEndpoint,
    TestSgwEndpoint,
};
use ipsec_xlat_io::config::{ClientConfig, RelayConfig, TestSgwConfig};
use ipsec_xlat_io::setup::open_leg;
use ipsec_xlat_io::sys::{SocketOptions, UnixTunPort};
use ipsec_xlat_io::{
    Driver, DriverConfig, DriverStats, Endpoint, Exit, Leg, OsReactor, PacketPort, Reactor,
    ShutdownHandle,
};
use rand::rngs::OsRng;
use rand::RngCore;

const CLIENT_ADDR: &str = "127.0.0.1";
const RELAY_C_ADDR: &str = "127.0.0.1";
const RELAY_S_ADDR: &str = "127.0.0.2";
const SGW_ADDR: &str = "127.0.0.3";
const CLIENT_INNER: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
const LAN: &str = "10.9.0.0/24";
const LAN_HOST: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const USER: &str = "alice@example.com";
/// Echo requests in flight at once (Unix datagram queues hold 10 by default).
const WINDOW: u16 = 4;

/// `xlat quickstart` options.
#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Echo requests to send from the client to the LAN host; every one and its reply must
    /// arrive intact.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    count: u16,
    /// IKE (phase 1) proposal, strongSwan syntax.
    #[arg(long, default_value = "aes128-sha256-modp2048")]
    ike: String,
    /// ESP proposal, strongSwan syntax.
    #[arg(long, default_value = "aes128gcm16")]
    esp: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout: u64,
    /// Keep the generated configuration files and keys (their directory is printed) instead
    /// of removing them at exit, to read them or start the daemons from them.
    #[arg(long)]
    keep: bool,
    /// Log what the three endpoints do (stderr): -v info, -vv debug, -vvv trace.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// Runs the quickstart; exit 0 only if every packet arrived.
pub fn run(args: &QuickstartArgs) -> ExitCode {
    logging::init(0, args.verbose);
    match quickstart(args) {
        Ok(true) => ExitCode::from(exit::OK),
        Ok(false) => ExitCode::from(exit::RUNTIME),
        Err(failure) => {
            say!("FAIL: {failure}");
            ExitCode::from(failure.code())
        }
    }
}

/// A temporary directory for the configurations and keys, removed on drop unless kept.
struct Workdir(PathBuf, bool);

impl Workdir {
    fn create() -> Result<Self, Failure> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("xlat-quickstart-{}-{nanos}", std::process::id()));
        // Owner-only: the directory holds private keys and a PSK.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .map_err(|e| Failure::System(format!("cannot create {}: {e}", path.display())))?;
        Ok(Self(path, false))
    }

    /// Writes a file readable by its owner only (keys, PSK, and configurations naming them).
    fn write(&self, name: &str, text: &str) -> Result<PathBuf, Failure> {
        let path = self.0.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, text.as_bytes()))
            .map_err(|e| Failure::System(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn config_failure(e: impl std::fmt::Display) -> Failure {
    Failure::Config(e.to_string())
}

fn system_failure(e: impl std::fmt::Display) -> Failure {
    Failure::System(e.to_string())
}

/// A driver thread's result: the endpoint back, its I/O counters, why it stopped.
type Finished<E> = (E, DriverStats, io::Result<Exit>);

struct Running<E> {
    shutdown: ShutdownHandle,
    thread: JoinHandle<Finished<E>>,
}

fn start<E: Endpoint + Send + 'static>(
    name: &str,
    ports: Vec<Box<dyn PacketPort>>,
    endpoint: E,
) -> Result<Running<E>, Failure> {
    let reactor = OsReactor::new().map_err(system_failure)?;
    let shutdown = reactor.shutdown_handle();
    let mut driver =
        Driver::new(reactor, ports, DriverConfig::default()).map_err(system_failure)?;
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let mut endpoint = endpoint;
            let exit = driver.run(&mut endpoint, |_| {});
            (endpoint, *driver.stats(), exit)
        })
        .map_err(system_failure)?;
    Ok(Running { shutdown, thread })
}

fn stop<E>(running: Running<E>) -> Result<Finished<E>, Failure> {
    running.shutdown.shutdown();
    running
        .thread
        .join()
        .map_err(|_| Failure::Runtime("a driver thread panicked".into()))
}

fn spis(s: BundleSpis) -> String {
    match (s.ah, s.esp) {
        (Some(ah), Some(esp)) => format!("AH {ah:08x} ESP {esp:08x}"),
        (Some(ah), None) => format!("AH {ah:08x}"),
        (None, Some(esp)) => format!("ESP {esp:08x}"),
        (None, None) => "-".into(),
    }
}

fn describe(child: &ChildSummary) -> String {
    let mut s = format!(
        "{}; s-side SPIs in {} / out {}",
        child.suite,
        spis(child.inbound),
        spis(child.outbound)
    );
    if let Some((c_in, c_out)) = child.c_side {
        s.push_str(&format!(
            "; c-side SPIs in {} / out {}",
            spis(c_in),
            spis(c_out)
        ));
    }
    s
}

/// What establishment produced.
#[derive(Default)]
struct Established {
    ike_entry: bool,
    client_phase1: bool,
    client_child: bool,
    sgw_child: bool,
    relay_entry: bool,
}

impl Established {
    fn done(&self) -> bool {
        self.client_child && self.sgw_child && self.relay_entry
    }
}

fn wait_established(notices: &Receiver<Notice>, until: Instant) -> Result<(), Failure> {
    let mut state = Established::default();
    while !state.done() {
        let left = until.saturating_duration_since(Instant::now());
        let notice = match notices.recv_timeout(left) {
            Ok(n) => n,
            Err(RecvTimeoutError::Timeout) => {
                return Err(Failure::Runtime(format!(
                    "timed out waiting for the SAs (IKE entry at the relay: {}, client IKE SA: {}, \
                     client child SA: {}, test-SGW child SA: {}, relay IPsec entry: {}); run with -v",
                    state.ike_entry,
                    state.client_phase1,
                    state.client_child,
                    state.sgw_child,
                    state.relay_entry
                )))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Failure::Runtime("the endpoints stopped".into()))
            }
        };
        match notice {
            Notice::RelayIke(e) => {
                state.ike_entry = true;
                say!(
                    "[ok] relay: IKE translation entry for {} (c-side {} <-> s-side {} -> SGW {})",
                    String::from_utf8_lossy(&e.user.value),
                    e.client,
                    e.relay_s,
                    e.sgw
                );
            }
            Notice::ClientPhase1 { cookies, nat_t } => {
                state.client_phase1 = true;
                say!(
                    "[ok] client: IKE SA with the test-SGW through the relay (cookies the SGW sees {cookies}; NAT-T toward the SGW: {})",
                    if nat_t { "yes" } else { "no" }
                );
            }
            Notice::ClientChild(child) => {
                state.client_child = true;
                say!("[ok] client: IPsec SA installed: {}", describe(&child));
            }
            Notice::SgwChild { peer, child } => {
                state.sgw_child = true;
                say!(
                    "[ok] test-SGW: IPsec SA with {peer} installed: {}",
                    describe(&child)
                );
            }
            Notice::RelayIpsec { id, .. } => {
                state.relay_entry = true;
                say!("[ok] relay: IPsec translation entry {} installed", id.0);
            }
            Notice::ClientFailed(why) => {
                return Err(Failure::Runtime(format!("client: IKE failed: {why}")))
            }
            Notice::SgwRefused { peer, error } => {
                return Err(Failure::Runtime(format!(
                    "test-SGW refused {peer}: {error}"
                )))
            }
            Notice::RelayRefused(why) => {
                return Err(Failure::Runtime(format!("relay refused the entry: {why}")))
            }
            Notice::RelayExpired(_) => {}
        }
    }
    Ok(())
}

fn quickstart(args: &QuickstartArgs) -> Result<bool, Failure> {
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut dir = Workdir::create()?;
    dir.1 = args.keep;
    let relay_key = random_hex(32);
    let client_key = random_hex(32);
    let key_bytes = |h: &str| -> Result<[u8; 32], Failure> {
        hex::decode(h)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| Failure::Runtime("key generation failed".into()))
    };
    let relay_pub = hex::encode(
        StaticKeypair::from_private_bytes(key_bytes(&relay_key)?)
            .public()
            .0,
    );
    let client_pub = hex::encode(
        StaticKeypair::from_private_bytes(key_bytes(&client_key)?)
            .public()
            .0,
    );
    dir.write("relay.noise.key", &relay_key)?;
    dir.write("client.noise.key", &client_key)?;
    dir.write("demo.psk", &random_hex(24))?;
    let (ike, esp) = (&args.ike, &args.esp);
    let (notice_tx, notices) = mpsc::channel();

    // The test-SGW first: the relay's identification table needs its ports.
    let sgw_config = TestSgwConfig::load(&dir.write(
        "test-sgw.toml",
        &format!(
            "lan = [\"{LAN}\"]\n\
             [listen]\naddresses = [\"{SGW_ADDR}\"]\nike_port = 0\nnatt_port = 0\n\
             [auth]\npsk_file = \"demo.psk\"\n\
             [proposals]\nike = [\"{ike}\"]\nesp = [\"{esp}\"]\n\
             [tun]\nname = \"xlatqs-sgw\"\nroutes = [\"{CLIENT_INNER}/32\"]\n"
        ),
    )?)
    .map_err(config_failure)?;
    let mut sgw_ports = open_leg(Leg::SSide, &sgw_config.listen, SocketOptions::default())
        .map_err(system_failure)?;
    let sgw_own = leg_port_pair(&sgw_ports, Leg::SSide)
        .ok_or_else(|| Failure::System("test-SGW sockets missing".into()))?;
    let (sgw_tun, sgw_lan) = UnixTunPort::pair().map_err(system_failure)?;
    sgw_ports.push(Box::new(sgw_tun));
    let (sgw, warnings) =
        TestSgwEndpoint::new(&sgw_config, sgw_own, &mut OsRng).map_err(config_failure)?;
    warn(&warnings);
    let sgw = sgw.with_notifier(Notifier::new(notice_tx.clone()));

    let relay_config = RelayConfig::load(&dir.write(
        "relay.toml",
        &format!(
            "noise_private_key_file = \"relay.noise.key\"\n\
             [c_side]\naddresses = [\"{RELAY_C_ADDR}\"]\nike_port = 0\nnatt_port = 0\n\
             [s_side]\naddress = \"{RELAY_S_ADDR}\"\nike_port = 0\nnatt_port = 0\n\
             [[authorized_clients]]\nname = \"quickstart-client\"\npublic_key = \"{client_pub}\"\n\
             [[identification]]\nid_type = \"user_fqdn\"\nid = \"*@example.com\"\n\
             sgw = \"{SGW_ADDR}\"\nsgw_ike_port = {}\nsgw_natt_port = {}\n",
            sgw_own.ike, sgw_own.natt
        ),
    )?)
    .map_err(config_failure)?;
    let c_listen = relay_listen(&relay_config.c_side, "c_side").map_err(config_failure)?;
    let s_listen = relay_listen(&relay_config.s_side.listen, "s_side").map_err(config_failure)?;
    let mut relay_ports =
        open_leg(Leg::CSide, &c_listen, SocketOptions::default()).map_err(system_failure)?;
    relay_ports
        .extend(open_leg(Leg::SSide, &s_listen, SocketOptions::default()).map_err(system_failure)?);
    let missing = || Failure::System("relay sockets missing".into());
    let c_ports = leg_port_pair(&relay_ports, Leg::CSide).ok_or_else(missing)?;
    let s_ports = leg_port_pair(&relay_ports, Leg::SSide).ok_or_else(missing)?;
    let (relay, warnings) =
        RelayEndpoint::new(&relay_config, c_ports, s_ports, &mut OsRng).map_err(config_failure)?;
    warn(&warnings);
    let relay = relay.with_notifier(Notifier::new(notice_tx.clone()));

    let client_config = ClientConfig::load(&dir.write(
        "client.toml",
        &format!(
            "noise_private_key_file = \"client.noise.key\"\n\
             [identity]\ntype = \"user_fqdn\"\nvalue = \"{USER}\"\n\
             [relay]\naddress = \"{RELAY_C_ADDR}\"\nike_port = {}\nnatt_port = {}\n\
             noise_public_key = \"{relay_pub}\"\n\
             [local]\naddresses = [\"{CLIENT_ADDR}\"]\nike_port = 0\nnatt_port = 0\n\
             [auth]\npsk_file = \"demo.psk\"\n\
             [proposals]\nike = [\"{ike}\"]\nesp = [\"{esp}\"]\n\
             [traffic_selectors]\nlocal = [\"{CLIENT_INNER}/32\"]\nremote = [\"{LAN}\"]\n\
             [tun]\nname = \"xlatqs-cli\"\naddress = \"{CLIENT_INNER}/32\"\nroutes = [\"{LAN}\"]\n",
            c_ports.ike, c_ports.natt
        ),
    )?)
    .map_err(config_failure)?;
    let mut client_ports = open_leg(Leg::CSide, &client_config.local, SocketOptions::default())
        .map_err(system_failure)?;
    let client_own = leg_port_pair(&client_ports, Leg::CSide)
        .ok_or_else(|| Failure::System("client sockets missing".into()))?;
    let (client_tun, client_inner) = UnixTunPort::pair().map_err(system_failure)?;
    client_ports.push(Box::new(client_tun));

    say!(
        "xlat quickstart: client, relay and test-SGW in one process over loopback UDP (no root, no TUN)"
    );
    say!(
        "  test-SGW  {SGW_ADDR} IKE :{} NAT-T :{}, LAN {LAN} (host {LAN_HOST}) on a TUN stand-in",
        sgw_own.ike,
        sgw_own.natt
    );
    say!(
        "  relay     c-side {RELAY_C_ADDR} IKE :{} NAT-T :{}; s-side {RELAY_S_ADDR} IKE :{} NAT-T :{}",
        c_ports.ike, c_ports.natt, s_ports.ike, s_ports.natt
    );
    say!(
        "  client    {CLIENT_ADDR} IKE/NAT-T :{}, user {USER}, inner {CLIENT_INNER} on a TUN stand-in",
        client_own.natt
    );
    say!(
        "  proposals IKE {ike} (PSK), ESP {esp}; configs and fresh keys in {}{}",
        dir.0.display(),
        if args.keep {
            " (kept)"
        } else {
            " (removed at exit; --keep keeps them)"
        }
    );
    say!();

    let sgw_run = start("test-sgw", sgw_ports, sgw)?;
    let relay_run = start("relay", relay_ports, relay)?;
    let (client, warnings) = ClientEndpoint::new(
        &client_config,
        client_own,
        ipsec_xlat_io::Timestamp::ZERO,
        &mut OsRng,
    )
    .map_err(config_failure)?;
    warn(&warnings);
    let client_run = start(
        "client",
        client_ports,
        client.with_notifier(Notifier::new(notice_tx)),
    )?;

    let established = wait_established(&notices, deadline);
    let traffic = match &established {
        Ok(()) => Some(exchange(args, &client_inner, sgw_lan, deadline)),
        Err(_) => None,
    };

    let (client, client_stats, _) = stop(client_run)?;
    let (relay, relay_stats, _) = stop(relay_run)?;
    let (sgw, sgw_stats, _) = stop(sgw_run)?;

    say!();
    say!("Relay translation tables and counters:");
    for line in relay.report().lines() {
        say!("  {line}");
    }
    let cc = client.counters();
    say!(
        "Client datapath: inner packets sealed {} (no SA {}, errors {}), opened {} (unknown SPI {}, refused {})",
        cc.sealed, cc.no_sa, cc.seal_errors, cc.opened, cc.unknown_spi, cc.open_errors
    );
    let sc = sgw.counters();
    say!(
        "Test-SGW datapath: opened {} (unknown SPI {}, refused {}), sealed {} (no SA {}, errors {})",
        sc.opened, sc.unknown_spi, sc.open_errors, sc.sealed, sc.no_sa, sc.seal_errors
    );
    say!(
        "UDP/TUN I/O: client rx {} tx {}, relay rx {} tx {}, test-SGW rx {} tx {} (send errors {})",
        client_stats.rx_packets,
        client_stats.tx_packets,
        relay_stats.rx_packets,
        relay_stats.tx_packets,
        sgw_stats.rx_packets,
        sgw_stats.tx_packets,
        client_stats.tx_errors + relay_stats.tx_errors + sgw_stats.tx_errors
    );
    say!();

    established?;
    let (pinged, served) = traffic.ok_or_else(|| Failure::Runtime("no traffic ran".into()))??;
    let n = usize::from(args.count);
    let requests_ok = served.requests.len() == n && served.bad == 0;
    let replies_ok = pinged.replies.len() == n && pinged.bad == 0;
    let forwarded_ok = relay
        .datapath()
        .table()
        .iter()
        .any(|(_, _, a)| a.to_gateway.packets >= n as u64 && a.to_client.packets >= n as u64);
    say!(
        "[{}] {}/{} echo requests client -> LAN host arrived intact{}",
        mark(requests_ok),
        served.requests.len(),
        n,
        if served.bad > 0 {
            format!(" ({} damaged)", served.bad)
        } else {
            String::new()
        }
    );
    say!(
        "[{}] {}/{} echo replies LAN host -> client arrived intact{}",
        mark(replies_ok),
        pinged.replies.len(),
        n,
        if pinged.bad > 0 {
            format!(" ({} damaged)", pinged.bad)
        } else {
            String::new()
        }
    );
    say!(
        "[{}] the relay forwarded them by its translation table (no key, no decryption)",
        mark(forwarded_ok)
    );
    let pass = requests_ok && replies_ok && forwarded_ok;
    if pass {
        say!("PASS: IKE and IPsec SAs through the relay; {n} packets each way, all intact.");
    } else {
        say!("FAIL: not every packet arrived intact (run with -v for the endpoints' logs).");
    }
    Ok(pass)
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "FAIL"
    }
}

fn warn(warnings: &[String]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}

type Traffic = Result<(echo::Pinged, echo::Served), Failure>;

/// Pings the LAN host through the tunnel; the LAN host answers from its own thread.
fn exchange(
    args: &QuickstartArgs,
    client_inner: &std::os::unix::net::UnixDatagram,
    sgw_lan: std::os::unix::net::UnixDatagram,
    deadline: Instant,
) -> Traffic {
    let (stop_flag, responder) = echo::spawn_responder(sgw_lan);
    let left = deadline.saturating_duration_since(Instant::now());
    let pinged = echo::ping(
        client_inner,
        CLIENT_INNER,
        LAN_HOST,
        args.count,
        WINDOW,
        Duration::from_secs(2),
        left.max(Duration::from_secs(1)),
    )
    .map_err(system_failure);
    stop_flag.store(true, Ordering::SeqCst);
    let served = responder
        .join()
        .map_err(|_| Failure::Runtime("the LAN host thread panicked".into()))?
        .map_err(system_failure)?;
    Ok((pinged?, served))
}
