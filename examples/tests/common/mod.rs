//! What the tests running the real daemons on loopback share: the daemon processes, their
//! configuration files for one client, relay and test-SGW on 127.0.0.1-3, and the inner-side
//! sockets that stand in for TUN devices. Each test file is its own crate and uses only part
//! of this, hence `dead_code` allowed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipsec_xlat::ike::tail_crypto::StaticKeypair;

pub const CLIENT_INNER: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
pub const LAN_HOST: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

/// A daemon that is killed if the test ends early.
pub struct Daemon {
    pub name: &'static str,
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(name: &'static str, bin: &str, args: &[&str], dir: &Path) -> Self {
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log shows `text` (the daemon got that far, signal handlers included).
    pub fn wait_for(&self, text: &str) {
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

    /// How many lines containing `text` the daemon has logged once it logged `at_least`
    /// of them, or after 10 s (the caller asserts the count: more than asked is seen too).
    pub fn count_once_logged(&self, text: &str, at_least: usize) -> usize {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let n = self.log().lines().filter(|l| l.contains(text)).count();
            if n >= at_least || Instant::now() >= until {
                return n;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then the exit code (within 10 s).
    pub fn terminate(&mut self) -> Option<i32> {
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
pub fn free_port(ip: &str) -> u16 {
    UdpSocket::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `path` as a command-line argument.
pub fn arg(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// Writes the private key `[seed; 32]` in hex to `name`; returns the public key in hex.
pub fn key_pair(dir: &Path, name: &str, seed: u8) -> String {
    let private = [seed; 32];
    write(dir, name, &hex::encode(private));
    hex::encode(StaticKeypair::from_private_bytes(private).public().0)
}

/// The configuration files of one lab, all in the same directory.
pub struct LabConfigs {
    pub sgw: PathBuf,
    pub relay: PathBuf,
    pub client: PathBuf,
}

/// Keys (relay 0x11.., client 0x22..), a PSK and the three configuration files: the test-SGW
/// on 127.0.0.3 (LAN 10.9.0.0/24), the relay's c-side on 127.0.0.1 and s-side on 127.0.0.2,
/// the client on 127.0.0.1 with inner address 10.8.0.1, all on free ports; both IKE peers
/// propose only `ike` and `esp`.
pub fn write_lab_configs(dir: &Path, ike: &str, esp: &str) -> LabConfigs {
    let relay_pub = key_pair(dir, "relay.key", 0x11);
    let client_pub = key_pair(dir, "client.key", 0x22);
    write(dir, "psk", "loopback-test-psk\n");
    let (sgw_ike, sgw_natt) = (free_port("127.0.0.3"), free_port("127.0.0.3"));
    let (c_ike, c_natt) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    let (s_ike, s_natt) = (free_port("127.0.0.2"), free_port("127.0.0.2"));
    let (cl_ike, cl_natt) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    let sgw = write(
        dir,
        "sgw.toml",
        &format!(
            "lan = [\"10.9.0.0/24\"]\n[listen]\naddresses = [\"127.0.0.3\"]\nike_port = {sgw_ike}\n\
             natt_port = {sgw_natt}\n[auth]\npsk_file = \"psk\"\n[proposals]\n\
             ike = [\"{ike}\"]\nesp = [\"{esp}\"]\n\
             [tun]\nname = \"xlt-sgw\"\nroutes = [\"10.8.0.1/32\"]\n"
        ),
    );
    let relay = write(
        dir,
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
    let client = write(
        dir,
        "client.toml",
        &format!(
            "noise_private_key_file = \"client.key\"\n[identity]\ntype = \"fqdn\"\n\
             value = \"laptop.lab.example\"\n[relay]\naddress = \"127.0.0.1\"\n\
             ike_port = {c_ike}\nnatt_port = {c_natt}\nnoise_public_key = \"{relay_pub}\"\n\
             [local]\naddresses = [\"127.0.0.1\"]\nike_port = {cl_ike}\nnatt_port = {cl_natt}\n\
             [auth]\npsk_file = \"psk\"\n[proposals]\nike = [\"{ike}\"]\n\
             esp = [\"{esp}\"]\n[traffic_selectors]\nlocal = [\"10.8.0.1/32\"]\n\
             remote = [\"10.9.0.0/24\"]\n[tun]\nname = \"xlt-cli\"\n"
        ),
    );
    LabConfigs { sgw, relay, client }
}

/// Starts the test-SGW (inner side on `sgw.sock` in `dir`) and the relay (with
/// `relay_args` after its configuration and `-v`), and waits until both run.
pub fn start_sgw_and_relay(
    dir: &Path,
    configs: &LabConfigs,
    relay_args: &[&str],
) -> (Daemon, Daemon) {
    let sgw = Daemon::start(
        "xlat-test-sgw",
        env!("CARGO_BIN_EXE_xlat-test-sgw"),
        &[
            "--config",
            &arg(&configs.sgw),
            "--inner-socket",
            &arg(&dir.join("sgw.sock")),
            "-v",
        ],
        dir,
    );
    let relay_conf = arg(&configs.relay);
    let mut args = vec!["--config", &relay_conf, "-v"];
    args.extend_from_slice(relay_args);
    let relay = Daemon::start("xlat-relay", env!("CARGO_BIN_EXE_xlat-relay"), &args, dir);
    sgw.wait_for("test-SGW running");
    relay.wait_for("relay running");
    (sgw, relay)
}

/// Starts the client with its inner side on `client.sock` and its status file
/// `client.status` in `dir`, `client_args` and `-v` after those (the caller waits for what
/// it expects in the log).
pub fn start_client(dir: &Path, configs: &LabConfigs, client_args: &[&str]) -> Daemon {
    let (config, inner, status) = (
        arg(&configs.client),
        arg(&dir.join("client.sock")),
        arg(&dir.join("client.status")),
    );
    let mut args = vec![
        "--config",
        &config,
        "--inner-socket",
        &inner,
        "--status-file",
        &status,
    ];
    args.extend_from_slice(client_args);
    args.push("-v");
    Daemon::start("xlat-client", env!("CARGO_BIN_EXE_xlat-client"), &args, dir)
}

/// An inner-side socket of the test, talking to a daemon's `--inner-socket`.
pub fn inner_end(dir: &Path, ours: &str, daemon_socket: &Path) -> UnixDatagram {
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
