//! `xlat-client --control PATH --no-initiate` steered by `xlat ctl`, with the real binaries
//! as separate processes on loopback (no root: `--inner-socket` in place of TUN devices):
//! the client starts idle, `initiate` returns once the SA is up and traffic flows, `rekey`
//! adds a bundle, `terminate` makes the test-SGW see the DELETEs, a second `initiate`
//! starts over, and SIGTERM removes the socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
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
        panic!("{} did not stop on SIGTERM:\n{}", self.name, self.log());
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

fn inner_end(dir: &Path, ours: &str, daemon_socket: &Path) -> UnixDatagram {
    let until = Instant::now() + Duration::from_secs(10);
    while !daemon_socket.exists() {
        assert!(Instant::now() < until, "{}", daemon_socket.display());
        std::thread::sleep(Duration::from_millis(10));
    }
    let socket = UnixDatagram::bind(dir.join(ours)).unwrap();
    socket.connect(daemon_socket).unwrap();
    socket.send(&[]).unwrap();
    socket
}

/// `xlat ctl --socket SOCKET COMMAND`: (exit code, stdout, stderr).
fn ctl(socket: &Path, command: &str) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args([
            "ctl",
            "--socket",
            socket.to_str().unwrap(),
            "--timeout",
            "30",
            command,
        ])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `key=value` of the first line starting with `word`.
fn value(out: &str, word: &str, key: &str) -> Option<String> {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(word))?;
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_string))
}

fn child_lines(out: &str) -> usize {
    out.lines().filter(|l| l.starts_with("child ")).count()
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn xlat_ctl_steers_an_idle_client_through_initiate_rekey_and_terminate() {
    let dir = std::env::temp_dir().join(format!("xlat-ctl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Dir(dir.clone());
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
             ike = [\"aes128-sha256-modp2048\"]\nesp = [\"aes128gcm16\"]\n\
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
             [auth]\npsk_file = \"psk\"\n[proposals]\nike = [\"aes128-sha256-modp2048\"]\n\
             esp = [\"aes128gcm16\"]\n[traffic_selectors]\nlocal = [\"10.8.0.1/32\"]\n\
             remote = [\"10.9.0.0/24\"]\n[tun]\nname = \"xlt-cli\"\n"
        ),
    );
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    let control = dir.join("client.ctl");
    let status_file = dir.join("client.status");

    // No daemon yet: exit 4 with a message.
    let (code, _, err) = ctl(&control, "status");
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("client.ctl"), "{err}");

    let mut sgw = Daemon::start(
        "xlat-test-sgw",
        env!("CARGO_BIN_EXE_xlat-test-sgw"),
        &[
            "--config",
            &p(&sgw_conf),
            "--inner-socket",
            &p(&dir.join("sgw.sock")),
            "-v",
        ],
        &dir,
    );
    let mut relay = Daemon::start(
        "xlat-relay",
        env!("CARGO_BIN_EXE_xlat-relay"),
        &["--config", &p(&relay_conf), "-v"],
        &dir,
    );
    sgw.wait_for("test-SGW running");
    relay.wait_for("relay running");
    let mut client = Daemon::start(
        "xlat-client",
        env!("CARGO_BIN_EXE_xlat-client"),
        &[
            "--config",
            &p(&client_conf),
            "--inner-socket",
            &p(&dir.join("client.sock")),
            "--status-file",
            &p(&status_file),
            "--control",
            &p(&control),
            "--no-initiate",
            "-v",
        ],
        &dir,
    );
    client.wait_for("control socket ready");
    let logs = |c: &Daemon, r: &Daemon, s: &Daemon| {
        format!(
            "client:\n{}\nrelay:\n{}\nsgw:\n{}",
            c.log(),
            r.log(),
            s.log()
        )
    };
    let mode = std::fs::metadata(&control).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Idle: nothing sent to the relay.
    let (code, out, err) = ctl(&control, "status");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        value(&out, "state", "ike").as_deref(),
        Some("idle"),
        "{out}"
    );
    assert!(!relay.log().contains("IKE translation entry complete"));
    let (code, _, err) = ctl(&control, "rekey");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("rekey"), "{err}");

    // initiate returns once the SA is installed: traffic flows at once, no probing.
    let (code, out, err) = ctl(&control, "initiate");
    assert_eq!(code, Some(0), "{err}\n{}", logs(&client, &relay, &sgw));
    assert_eq!(value(&out, "state", "ike").as_deref(), Some("established"));
    assert_eq!(child_lines(&out), 1, "{out}");
    let s_in = value(&out, "child", "s_in").unwrap();
    let s_out = value(&out, "child", "s_out").unwrap();
    let status = std::fs::read_to_string(&status_file).unwrap();
    assert_eq!(
        status.trim(),
        format!("{s_in} {s_out}"),
        "status file agrees"
    );
    let lan = inner_end(&dir, "lan.sock", &dir.join("sgw.sock"));
    let inner = inner_end(&dir, "inner.sock", &dir.join("client.sock"));
    let (stop, responder) = echo::spawn_responder(lan);
    let pinged = echo::ping(
        &inner,
        CLIENT_INNER,
        LAN_HOST,
        5,
        1,
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(pinged.replies.len(), 5, "{}", logs(&client, &relay, &sgw));

    // rekey: a second bundle, and the SGW installed it too.
    let (code, out, err) = ctl(&control, "rekey");
    assert_eq!(code, Some(0), "{err}\n{}", logs(&client, &relay, &sgw));
    assert_eq!(child_lines(&out), 2, "{out}");
    let installed = sgw
        .log()
        .lines()
        .filter(|l| l.contains("child SA installed"))
        .count();
    assert_eq!(installed, 2, "{}", sgw.log());
    let pinged = echo::ping(
        &inner,
        CLIENT_INNER,
        LAN_HOST,
        5,
        1,
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(pinged.replies.len(), 5);

    // terminate: the SGW sees the DELETEs for both bundles and for the IKE SA.
    let (code, out, err) = ctl(&control, "terminate");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(value(&out, "done", "children").as_deref(), Some("2"));
    sgw.wait_for("IKE SA deleted by the peer");
    let deleted = sgw
        .log()
        .lines()
        .filter(|l| l.contains("child SA deleted by the peer"))
        .count();
    assert_eq!(deleted, 2, "{}", sgw.log());
    assert_eq!(std::fs::read_to_string(&status_file).unwrap(), "");
    let (_, out, _) = ctl(&control, "status");
    assert_eq!(value(&out, "state", "ike").as_deref(), Some("deleted"));

    // initiate again: a new IKE SA, traffic again.
    let (code, out, err) = ctl(&control, "initiate");
    assert_eq!(code, Some(0), "{err}\n{}", logs(&client, &relay, &sgw));
    assert_eq!(value(&out, "state", "attempt").as_deref(), Some("2"));
    let pinged = echo::ping(
        &inner,
        CLIENT_INNER,
        LAN_HOST,
        5,
        1,
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(pinged.replies.len(), 5);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    responder.join().unwrap().unwrap();

    // SIGTERM: DELETEs, exit 0, and the socket file is gone.
    assert_eq!(client.terminate(), Some(0), "{}", client.log());
    assert!(!control.exists(), "control socket removed at exit");
    assert_eq!(relay.terminate(), Some(0));
    assert_eq!(sgw.terminate(), Some(0));
}

#[test]
fn no_initiate_without_a_control_socket_is_a_configuration_error() {
    let dir = std::env::temp_dir().join(format!("xlat-ctl-cfg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Dir(dir.clone());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/client.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_xlat-client"))
        .args([
            "--config",
            examples.to_str().unwrap(),
            "--no-initiate",
            "--inner-socket",
            dir.join("c.sock").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--no-initiate needs a control socket"),
        "{err}"
    );
}
