//! `xlat-client --control PATH --no-initiate` steered by `xlat ctl`, with the real binaries
//! as separate processes on loopback (no root: `--inner-socket` in place of TUN devices):
//! the client starts idle, `initiate` returns once the SA is up and traffic flows, `rekey`
//! adds a bundle, `terminate` makes the test-SGW see the DELETEs, a second `initiate`
//! starts over, and SIGTERM removes the socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{
    arg, inner_end, start_client, start_sgw_and_relay, write_lab_configs, Daemon, CLIENT_INNER,
    LAN_HOST,
};
use ipsec_xlat_examples::echo;

/// Five echoes from the client's inner address to the LAN host, one in flight at a time.
fn ping_five(inner: &UnixDatagram) -> echo::Pinged {
    echo::ping(
        inner,
        CLIENT_INNER,
        LAN_HOST,
        5,
        1,
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .unwrap()
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
    let configs = write_lab_configs(&dir, "aes128-sha256-modp2048", "aes128gcm16");
    let control = dir.join("client.ctl");
    let status_file = dir.join("client.status");

    // No daemon yet: exit 4 with a message.
    let (code, _, err) = ctl(&control, "status");
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("client.ctl"), "{err}");

    let (mut sgw, mut relay) = start_sgw_and_relay(&dir, &configs, &[]);
    let control_arg = arg(&control);
    let mut client = start_client(
        &dir,
        &configs,
        &["--control", &control_arg, "--no-initiate"],
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
    let pinged = ping_five(&inner);
    assert_eq!(pinged.replies.len(), 5, "{}", logs(&client, &relay, &sgw));

    // rekey: a second bundle, and the SGW installed it too.
    let (code, out, err) = ctl(&control, "rekey");
    assert_eq!(code, Some(0), "{err}\n{}", logs(&client, &relay, &sgw));
    assert_eq!(child_lines(&out), 2, "{out}");
    // The client answers once it installed the bundle (after its qm3); the SGW installs
    // when qm3 arrives, so its log may trail the reply by a moment.
    let installed = sgw.count_once_logged("child SA installed", 2);
    assert_eq!(installed, 2, "{}", sgw.log());
    let pinged = ping_five(&inner);
    assert_eq!(pinged.replies.len(), 5);

    // terminate: the SGW sees the DELETEs for both bundles and for the IKE SA.
    let (code, out, err) = ctl(&control, "terminate");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(value(&out, "done", "children").as_deref(), Some("2"));
    sgw.wait_for("IKE SA deleted by the peer");
    let deleted = sgw.count_once_logged("child SA deleted by the peer", 2);
    assert_eq!(deleted, 2, "{}", sgw.log());
    assert_eq!(std::fs::read_to_string(&status_file).unwrap(), "");
    let (_, out, _) = ctl(&control, "status");
    assert_eq!(value(&out, "state", "ike").as_deref(), Some("deleted"));

    // initiate again: a new IKE SA, traffic again.
    let (code, out, err) = ctl(&control, "initiate");
    assert_eq!(code, Some(0), "{err}\n{}", logs(&client, &relay, &sgw));
    assert_eq!(value(&out, "state", "attempt").as_deref(), Some("2"));
    let pinged = ping_five(&inner);
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
