//! The three real binaries, as separate processes on loopback UDP, without root: inner
//! packets through `--inner-socket` (Unix datagram sockets in place of TUN devices). Proves
//! the daemons' whole path: configuration files, sockets, adapters, IKE through the relay,
//! ESP both ways, SIGTERM handling and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat_examples::echo;

const CLIENT_INNER: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
const LAN_HOST: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

/// A daemon that is killed if the test ends early.
struct Daemon {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    fn start(name: &'static str, bin: &str, args: &[&str], dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            name,
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log shows `text` (the daemon got that far, signal handlers included).
    fn wait_for(&self, text: &str) {
        let until = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(text) {
            assert!(
                Instant::now() < until,
                "{} never logged {text:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then the exit code (within 10 s).
    fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.name);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{} did not stop on SIGTERM; log:\n{}",
            self.name,
            self.log()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A UDP port free on `ip` right now (the daemon binds it a moment later).
fn free_port(ip: &str) -> u16 {
    UdpSocket::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn key_pair(dir: &Path, name: &str, seed: u8) -> String {
    let private = [seed; 32];
    write(dir, name, &hex::encode(private));
    hex::encode(StaticKeypair::from_private_bytes(private).public().0)
}

/// An inner-side socket of the test, talking to a daemon's `--inner-socket`.
fn inner_end(dir: &Path, ours: &str, daemon_socket: &Path) -> UnixDatagram {
    let until = Instant::now() + Duration::from_secs(10);
    while !daemon_socket.exists() {
        assert!(
            Instant::now() < until,
            "{} never appeared",
            daemon_socket.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let socket = UnixDatagram::bind(dir.join(ours)).unwrap();
    socket.connect(daemon_socket).unwrap();
    socket.send(&[]).unwrap(); // register as the daemon's peer
    socket
}

struct Lab {
    dir: PathBuf,
    sgw: Daemon,
    relay: Daemon,
    client: Daemon,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_lab(tag: &str) -> Lab {
    let dir = std::env::temp_dir().join(format!("xlat-daemons-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let relay_pub = key_pair(&dir, "relay.key", 0x11);
    let client_pub = key_pair(&dir, "client.key", 0x22);
    write(&dir, "psk", "loopback-test-psk\n");
    let (sgw_ike, sgw_natt) = (free_port("127.0.0.3"), free_port("127.0.0.3"));
    let (c_ike, c_natt) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    let (s_ike, s_natt) = (free_port("127.0.0.2"), free_port("127.0.0.2"));
    let (cl_ike, cl_natt) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    let sgw_conf = write(
        &dir,
        "sgw.toml",
        &format!(
            "lan = [\"10.9.0.0/24\"]\n[listen]\naddresses = [\"127.0.0.3\"]\nike_port = {sgw_ike}\n\
             natt_port = {sgw_natt}\n[auth]\npsk_file = \"psk\"\n[proposals]\n\
             ike = [\"aes256-sha256-modp3072\"]\nesp = [\"aes128-sha256\"]\n\
             [tun]\nname = \"xlt-sgw\"\nroutes = [\"10.8.0.1/32\"]\n"
        ),
    );
    let relay_conf = write(
        &dir,
        "relay.toml",
        &format!(
            "noise_private_key_file = \"relay.key\"\n[c_side]\naddresses = [\"127.0.0.1\"]\n\
             ike_port = {c_ike}\nnatt_port = {c_natt}\n[s_side]\naddress = \"127.0.0.2\"\n\
             ike_port = {s_ike}\nnatt_port = {s_natt}\n[[authorized_clients]]\nname = \"t\"\n\
             public_key = \"{client_pub}\"\n[[identification]]\nid_type = \"fqdn\"\n\
             id = \"*.lab.example\"\nsgw = \"127.0.0.3\"\nsgw_ike_port = {sgw_ike}\n\
             sgw_natt_port = {sgw_natt}\n"
        ),
    );
    let client_conf = write(
        &dir,
        "client.toml",
        &format!(
            "noise_private_key_file = \"client.key\"\n[identity]\ntype = \"fqdn\"\n\
             value = \"laptop.lab.example\"\n[relay]\naddress = \"127.0.0.1\"\n\
             ike_port = {c_ike}\nnatt_port = {c_natt}\nnoise_public_key = \"{relay_pub}\"\n\
             [local]\naddresses = [\"127.0.0.1\"]\nike_port = {cl_ike}\nnatt_port = {cl_natt}\n\
             [auth]\npsk_file = \"psk\"\n[proposals]\nike = [\"aes256-sha256-modp3072\"]\n\
             esp = [\"aes128-sha256\"]\n[traffic_selectors]\nlocal = [\"10.8.0.1/32\"]\n\
             remote = [\"10.9.0.0/24\"]\n[tun]\nname = \"xlt-cli\"\n"
        ),
    );
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let sgw_sock = path(&dir.join("sgw.sock"));
    let client_sock = path(&dir.join("client.sock"));
    let sgw = Daemon::start(
        "xlat-test-sgw",
        env!("CARGO_BIN_EXE_xlat-test-sgw"),
        &[
            "--config",
            &path(&sgw_conf),
            "--inner-socket",
            &sgw_sock,
            "-v",
        ],
        &dir,
    );
    let relay = Daemon::start(
        "xlat-relay",
        env!("CARGO_BIN_EXE_xlat-relay"),
        &["--config", &path(&relay_conf), "-v", "--report-every", "1"],
        &dir,
    );
    sgw.wait_for("test-SGW running");
    relay.wait_for("relay running");
    let client = Daemon::start(
        "xlat-client",
        env!("CARGO_BIN_EXE_xlat-client"),
        &[
            "--config",
            &path(&client_conf),
            "--inner-socket",
            &client_sock,
            "--status-file",
            &path(&dir.join("client.status")),
            "-v",
        ],
        &dir,
    );
    client.wait_for("client running");
    Lab {
        dir,
        sgw,
        relay,
        client,
    }
}

#[test]
fn client_relay_and_test_sgw_processes_carry_traffic_both_ways() {
    let mut lab = start_lab("traffic");
    let lan = inner_end(&lab.dir, "lan.sock", &lab.dir.join("sgw.sock"));
    let inner = inner_end(&lab.dir, "inner.sock", &lab.dir.join("client.sock"));
    let (stop, responder) = echo::spawn_responder(lan);

    // Until the SAs are up the client drops inner packets (no SA yet): probe until one echo
    // comes back, then send the measured run.
    let until = Instant::now() + Duration::from_secs(20);
    let mut up = false;
    while !up && Instant::now() < until {
        let probe = echo::ping(
            &inner,
            CLIENT_INNER,
            LAN_HOST,
            1,
            1,
            Duration::from_millis(200),
            Duration::from_millis(300),
        )
        .unwrap();
        up = probe.replies.len() == 1;
    }
    let diagnostics = |lab: &Lab| {
        format!(
            "client log:\n{}\nrelay log:\n{}\nsgw log:\n{}",
            lab.client.log(),
            lab.relay.log(),
            lab.sgw.log()
        )
    };
    assert!(
        up,
        "no echo through the tunnel within 20 s\n{}",
        diagnostics(&lab)
    );
    let pinged = echo::ping(
        &inner,
        CLIENT_INNER,
        LAN_HOST,
        100,
        4,
        Duration::from_secs(2),
        Duration::from_secs(30),
    )
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let served = responder.join().unwrap().unwrap();
    assert_eq!(
        pinged.replies.len(),
        100,
        "{pinged:?}\n{}",
        diagnostics(&lab)
    );
    assert_eq!(pinged.bad, 0);
    // The probe's requests are counted by the LAN host too; all 100 of the run arrived intact.
    assert!(
        (0..100).all(|seq| served.requests.contains(&seq)),
        "{served:?}"
    );
    assert_eq!(served.bad, 0);

    // The client's status file names the SA by the SPIs the SGW knows: its inbound SPI is the
    // SGW's outbound one and the other way round.
    let status = std::fs::read_to_string(lab.dir.join("client.status")).unwrap();
    let (c_in, c_out) = status.trim().split_once(' ').expect(&status);
    let sgw_log = lab.sgw.log();
    let installed = sgw_log
        .lines()
        .find(|l| l.contains("child SA installed"))
        .expect(&sgw_log);
    assert!(
        installed.contains(&format!("spi_in={c_out}"))
            && installed.contains(&format!("spi_out={c_in}")),
        "client status {status:?} vs SGW {installed}"
    );

    // While running, the relay logs its tables every second (--report-every 1).
    lab.relay.wait_for("relay tables and counters:");
    lab.relay.wait_for("traffic: client->SGW");

    // SIGTERM: the client sends its DELETEs and exits 0; the relay retires the entry and
    // reports its tables; the test-SGW stops.
    assert_eq!(lab.client.terminate(), Some(0), "{}", diagnostics(&lab));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lab.relay.terminate(), Some(0), "{}", diagnostics(&lab));
    assert_eq!(lab.sgw.terminate(), Some(0), "{}", diagnostics(&lab));
    let relay_log = lab.relay.log();
    for expected in [
        "relay running",
        "IKE translation entry complete",
        "IPsec translation entry installed",
        "IPsec translation entry retired",
        "IKE translation entries: 1",
    ] {
        assert!(
            relay_log.contains(expected),
            "relay log lacks {expected:?}:\n{relay_log}"
        );
    }
    let client_log = lab.client.log();
    assert!(client_log.contains("child SA installed"), "{client_log}");
    let status = std::fs::read_to_string(lab.dir.join("client.status")).unwrap();
    assert_eq!(status, "", "no SA left after SIGTERM");
    let sgw_log = lab.sgw.log();
    assert!(sgw_log.contains("child SA installed"), "{sgw_log}");
    assert!(
        sgw_log.contains("child SA deleted by the peer"),
        "{sgw_log}"
    );
}

#[test]
fn the_relay_drops_a_client_it_does_not_authorise() {
    let mut lab = start_lab("unauthorised");
    assert_eq!(lab.client.terminate(), Some(0));
    assert_eq!(lab.relay.terminate(), Some(0));
    // The same relay, authorising another key only.
    let relay_conf = lab.dir.join("relay.toml");
    let text = std::fs::read_to_string(&relay_conf).unwrap();
    let other = hex::encode(StaticKeypair::from_private_bytes([0x33; 32]).public().0);
    let own = hex::encode(StaticKeypair::from_private_bytes([0x22; 32]).public().0);
    assert!(text.contains(&own));
    std::fs::write(&relay_conf, text.replace(&own, &other)).unwrap();
    lab.relay = Daemon::start(
        "xlat-relay",
        env!("CARGO_BIN_EXE_xlat-relay"),
        &["--config", relay_conf.to_str().unwrap(), "-v"],
        &lab.dir,
    );
    lab.relay.wait_for("relay running");
    let client_sock = lab.dir.join("client2.sock");
    lab.client = Daemon::start(
        "xlat-client",
        env!("CARGO_BIN_EXE_xlat-client"),
        &[
            "--config",
            lab.dir.join("client.toml").to_str().unwrap(),
            "--inner-socket",
            client_sock.to_str().unwrap(),
        ],
        &lab.dir,
    );
    lab.client.wait_for("client running");
    // mm1 and its first retransmission (2 s later) reach the relay and are dropped: never
    // forwarded, never answered.
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(lab.client.terminate(), Some(0));
    assert_eq!(lab.relay.terminate(), Some(0));
    let log = lab.relay.log();
    let line = log
        .lines()
        .find(|l| l.contains("IKE relay: forwarded"))
        .unwrap_or_else(|| panic!("no counters in the relay log:\n{log}"));
    assert!(line.contains("forwarded 0"), "{line}");
    assert!(
        line.contains("unauthorised 2") || line.contains("duplicates answered 0, dropped: malformed 0, unknown cookies 0, tail missing 0, tail rejected 0, unauthorised 1"),
        "{line}"
    );
    assert!(!log.contains("IKE translation entry complete"), "{log}");
    assert!(
        !lab.sgw.log().contains("IKE SA established"),
        "{}",
        lab.sgw.log()
    );
}

#[test]
fn a_client_with_the_wrong_psk_exits_with_status_1() {
    let mut lab = start_lab("wrong-psk");
    assert_eq!(lab.client.terminate(), Some(0));
    write(&lab.dir, "wrong.psk", "not-the-sgw-psk\n");
    let conf = std::fs::read_to_string(lab.dir.join("client.toml"))
        .unwrap()
        .replace("psk_file = \"psk\"", "psk_file = \"wrong.psk\"");
    let conf = write(&lab.dir, "client-wrong.toml", &conf);
    let log = lab.dir.join("wrong-client.log");
    let out = Command::new(env!("CARGO_BIN_EXE_xlat-client"))
        .args([
            "--config",
            conf.to_str().unwrap(),
            "--inner-socket",
            lab.dir.join("client3.sock").to_str().unwrap(),
        ])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = Daemon {
        name: "xlat-client (wrong PSK)",
        child: Some(out),
        log,
    };
    let until = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(status) = child.child.as_mut().unwrap().try_wait().unwrap() {
            child.child = None;
            break status.code();
        }
        assert!(
            Instant::now() < until,
            "the client did not give up:\n{}",
            child.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(1), "{}", child.log());
    assert!(child.log().contains("IKE failed"), "{}", child.log());
}
