//! The three real binaries, as separate processes on loopback UDP, without root: inner
//! packets through `--inner-socket` (Unix datagram sockets in place of TUN devices). Proves
//! the daemons' whole path: configuration files, sockets, adapters, IKE through the relay,
//! ESP both ways, SIGTERM handling and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    inner_end, start_client, start_sgw_and_relay, write, write_lab_configs, Daemon, CLIENT_INNER,
    LAN_HOST,
};
use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat_examples::echo;

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
    let configs = write_lab_configs(&dir, "aes256-sha256-modp3072", "aes128-sha256");
    let (sgw, relay) = start_sgw_and_relay(&dir, &configs, &["--report-every", "1"]);
    let client = start_client(&dir, &configs, &[]);
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
