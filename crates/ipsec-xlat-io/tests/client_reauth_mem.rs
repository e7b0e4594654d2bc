//! Keeping the tunnel up, on the in-memory network with the mem clock:
//!
//! - reauthentication: with a 120 s IKE lifetime the client replaces its IKE SA by a new main
//!   mode and quick mode through the relay before the lifetime ends, moves traffic to the new
//!   bundle, and deletes the old bundle and IKE SA at the test-SGW and the relay — three
//!   times in a row, with a packet each way every second and none lost;
//! - restart: with the SGW unreachable the first attempts fail (no answer), the client
//!   starts over with a doubling backoff, and once the SGW is up it connects and carries
//!   traffic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mem_lab;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipsec_xlat_io::Timestamp;

use ipsec_xlat_io::adapters::{ClientEndpoint, RelayEndpoint, TestSgwEndpoint};
use ipsec_xlat_io::config::{ClientConfig, RelayConfig, TestSgwConfig};
use ipsec_xlat_io::mem::{MemNetwork, MemTun};
use ipsec_xlat_io::{Driver, Endpoint, MemReactor};
use mem_lab::{client_parts, driver, inner_v4, ipv4_configs, relay_parts, test_sgw_parts};
use rand::rngs::StdRng;
use rand::SeedableRng;

const CLIENT_INNER: &str = "10.8.0.1";
const LAN_HOST: &str = "10.9.0.7";
/// The IKE and IPsec lifetime both sides use.
const LIFETIME: Duration = Duration::from_secs(120);
/// ISAKMP exchange types as the SGW receives them.
const MAIN_MODE: u8 = 2;
const INFORMATIONAL: u8 = 5;

/// IPv4 documentation addresses, standard ports, no NAT between relay and SGW, 120 s
/// lifetimes; the client reauthenticates 30 s (plus jitter) before the IKE SA expires.
fn configs(dir: &Path, reauth: bool) -> (ClientConfig, RelayConfig, TestSgwConfig) {
    let life = LIFETIME.as_secs();
    ipv4_configs(
        dir,
        9,
        &format!("[lifetimes]\nike_seconds = {life}\nipsec_seconds = {life}\n"),
        &format!(
            "[lifetimes]\nike_seconds = {life}\nipsec_seconds = {life}\n[session]\n\
             reauth = {reauth}\nreauth_margin_secs = 30\nrestart = true\n\
             restart_max_backoff_secs = 8\n"
        ),
    )
}

struct Lab {
    net: MemNetwork,
    client: (Driver<MemReactor>, ClientEndpoint, MemTun),
    relay: (Driver<MemReactor>, RelayEndpoint),
    sgw: Option<(Driver<MemReactor>, TestSgwEndpoint, MemTun)>,
    sgw_config: TestSgwConfig,
    sgw_exchanges: Arc<Mutex<Vec<u8>>>,
    rng: StdRng,
    _dir: tempfile::TempDir,
}

/// Client (initiating at start, no control socket), relay and, if `with_sgw`, the test-SGW.
fn build(with_sgw: bool, reauth: bool) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let (client_config, relay_config, sgw_config) = configs(dir.path(), reauth);
    assert_eq!(client_config.session.reauth, reauth);
    assert!(client_config.session.restart);
    let net = MemNetwork::new();
    let mut rng = StdRng::seed_from_u64(21);

    let (relay_ports, relay) = relay_parts(&net, &relay_config, &mut rng);
    let (client_ports, client, client_tun) = client_parts(&net, &client_config, &mut rng);

    let mut lab = Lab {
        client: (driver(&net, client_ports), client, client_tun),
        relay: (driver(&net, relay_ports), relay),
        sgw: None,
        sgw_config,
        sgw_exchanges: Arc::new(Mutex::new(Vec::new())),
        rng,
        net,
        _dir: dir,
    };
    if with_sgw {
        lab.start_sgw();
    }
    lab
}

impl Lab {
    fn start_sgw(&mut self) {
        let (ports, sgw, tun) = test_sgw_parts(
            &self.net,
            &self.sgw_config,
            &mut self.rng,
            Some(&self.sgw_exchanges),
        );
        self.sgw = Some((driver(&self.net, ports), sgw, tun));
    }

    fn settle(&mut self) {
        for _ in 0..1000 {
            self.client.0.turn(&mut self.client.1);
            self.relay.0.turn(&mut self.relay.1);
            if let Some(sgw) = self.sgw.as_mut() {
                sgw.0.turn(&mut sgw.1);
            }
            if self.net.queued() == 0 {
                return;
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.net.advance_to(self.net.now() + by);
        self.settle();
    }

    fn sgw(&self) -> &TestSgwEndpoint {
        &self.sgw.as_ref().unwrap().1
    }

    /// One packet each way through the tunnel; both must arrive intact.
    fn traffic(&mut self, seq: u16) {
        let up = inner_v4(CLIENT_INNER, LAN_HOST, seq);
        self.client.2.inject(&up);
        self.settle();
        let sgw_tun = &self.sgw.as_ref().unwrap().2;
        assert_eq!(
            sgw_tun.take().as_deref(),
            Some(&up[..]),
            "client -> LAN #{seq}"
        );
        let down = inner_v4(LAN_HOST, CLIENT_INNER, seq);
        sgw_tun.inject(&down);
        self.settle();
        assert_eq!(
            self.client.2.take().as_deref(),
            Some(&down[..]),
            "LAN -> client #{seq}"
        );
    }

    /// Follows the client's timers until `done` holds, failing with `what` once `limit` has
    /// passed since `start`; `each` checks an invariant after every step.
    fn follow_client_timers_until(
        &mut self,
        start: Timestamp,
        limit: Duration,
        what: &str,
        done: impl Fn(&Lab) -> bool,
        each: impl Fn(&Lab),
    ) {
        while !done(self) {
            let next = self.client.1.poll_timeout().unwrap();
            assert!(next - start < limit, "{what}");
            self.net.advance_to(next);
            self.settle();
            each(self);
        }
    }

    /// The client restarted (once) after losing the tunnel whose cookies were `first`, and
    /// a new IKE SA carries traffic both ways.
    fn assert_back_after_one_restart(&mut self, start: Timestamp, limit: Duration, first: &str) {
        self.follow_client_timers_until(
            start,
            limit,
            "never came back",
            |lab| {
                lab.client.1.status().line("ike").is_some() && !lab.sgw().sa_counters().is_empty()
            },
            |_| {},
        );
        assert_ne!(self.cookies(), first, "a new IKE SA");
        assert!(self.client.1.is_established());
        self.traffic(2);
        self.traffic(3);
        assert_eq!(self.sgw().sa_counters().len(), 1);
        assert_eq!(self.client.1.counters().restarts, 1);
    }

    fn exchanges_at_sgw(&self, ty: u8) -> usize {
        let seen = self.sgw_exchanges.lock().unwrap();
        seen.iter().filter(|&&t| t == ty).count()
    }

    /// The s-side cookies of the client's current IKE SA (from its status).
    fn cookies(&self) -> String {
        let status = self.client.1.status();
        status
            .line("ike")
            .and_then(|l| l.get("s_cookies"))
            .unwrap_or_else(|| panic!("no IKE SA: {}", status.to_text()))
            .to_string()
    }
}

#[test]
fn the_client_reauthenticates_before_the_ike_sa_expires_without_losing_traffic() {
    let mut lab = build(true, true);
    lab.settle();
    assert!(lab.client.1.is_established());
    assert_eq!(lab.relay.1.ike_entries().len(), 1);
    let mut established_at = lab.net.now();
    let mut cookies = lab.cookies();
    let mut seen_cookies = vec![cookies.clone()];
    let mut seq: u16 = 0;

    for round in 1..=3u64 {
        let main_modes = lab.exchanges_at_sgw(MAIN_MODE);
        let informationals = lab.exchanges_at_sgw(INFORMATIONAL);
        // One packet each way every second until the reauthentication completed.
        while lab.client.1.counters().reauths < round {
            assert!(
                lab.net.now() < established_at + LIFETIME,
                "round {round}: no reauthentication within the IKE SA's lifetime"
            );
            lab.advance(Duration::from_secs(1));
            seq += 1;
            lab.traffic(seq);
        }
        let switched_at = lab.net.now();
        let lead = established_at + LIFETIME - switched_at;
        // Margin 30 s plus up to 15 s of jitter (a second of slack for the 1 s steps).
        assert!(
            lead >= Duration::from_secs(29) && lead <= Duration::from_secs(46),
            "round {round}: reauthenticated {lead:?} before the end of the lifetime"
        );
        let new_cookies = lab.cookies();
        assert!(
            !seen_cookies.contains(&new_cookies),
            "round {round}: a new IKE SA"
        );
        assert_ne!(new_cookies, cookies);
        // Six main-mode messages reached the SGW for the new IKE SA, and the DELETEs for
        // the old bundle and the old ISAKMP SA went through the relay.
        assert_eq!(
            lab.exchanges_at_sgw(MAIN_MODE) - main_modes,
            3,
            "mm1, mm3, mm5"
        );
        // Traffic goes on while the old inbound SA drains.
        for _ in 0..8 {
            lab.advance(Duration::from_secs(1));
            seq += 1;
            lab.traffic(seq);
        }
        assert_eq!(
            lab.exchanges_at_sgw(INFORMATIONAL) - informationals,
            2,
            "round {round}: a child DELETE and an ISAKMP-SA DELETE"
        );
        // Only the new SAs are left: at the SGW, in the relay's tables, at the client.
        assert_eq!(lab.sgw().sa_counters().len(), 1, "round {round}: SGW");
        assert_eq!(
            lab.relay.1.ike_entries().len(),
            1,
            "round {round}: relay IKE"
        );
        assert_eq!(
            lab.relay.1.datapath().table().len(),
            1,
            "round {round}: relay IPsec"
        );
        assert_eq!(lab.client.1.sa_counters().len(), 1, "round {round}: client");
        let status = lab.client.1.status();
        let child = status.line("child").unwrap();
        assert!(
            child.get("packets_out").unwrap().parse::<u64>().unwrap() >= 8,
            "{}",
            status.to_text()
        );
        assert!(status.line("reauth").is_none(), "{}", status.to_text());
        established_at = switched_at;
        cookies = new_cookies;
        seen_cookies.push(cookies.clone());
    }

    // Every packet arrived, both ways: `traffic` checked each one; the counters agree.
    let c = lab.client.1.counters();
    assert_eq!(c.tun_packets, u64::from(seq));
    assert_eq!(c.sealed, u64::from(seq));
    assert_eq!(c.opened, u64::from(seq));
    assert_eq!((c.no_sa, c.unknown_spi, c.open_errors), (0, 0, 0), "{c:?}");
    assert_eq!(c.reauths, 3);
    assert_eq!(c.restarts, 0);
    assert!(lab.client.1.failure().is_none());
    let r = lab.relay.1.ike_counters();
    assert_eq!((r.tail_rejected, r.unknown_cookies), (0, 0), "{r:?}");
}

#[test]
fn with_the_sgw_unreachable_the_client_restarts_with_backoff_until_it_connects() {
    let mut lab = build(false, true);
    lab.settle();
    let start = lab.net.now();
    // The relay forwards mm1 toward an SGW that is not there: each attempt retransmits,
    // gives up, and the client starts over later, each time waiting longer.
    let mut restarts_at: Vec<Timestamp> = Vec::new();
    while restarts_at.len() < 4 {
        let next = lab
            .client
            .1
            .poll_timeout()
            .expect("the client keeps a timer");
        assert!(next - start < Duration::from_secs(3600), "no restart");
        lab.net.advance_to(next);
        lab.settle();
        let restarts = lab.client.1.counters().restarts;
        if restarts > restarts_at.len() as u64 {
            restarts_at.push(lab.net.now());
        }
        assert!(
            !lab.client.1.is_drained(),
            "a retryable failure does not end the client"
        );
        assert!(lab.client.1.failure().is_none());
    }
    let status = lab.client.1.status();
    let lost = status.line("lost").expect("status says why");
    assert!(
        lost.get("reason").unwrap().contains("no_answer"),
        "{}",
        status.to_text()
    );
    assert_eq!(status.line("state").unwrap().get("attempt"), Some("4"));
    // The SGW comes up: the next restart connects and traffic flows.
    lab.start_sgw();
    while !lab.client.1.is_established() {
        let next = lab.client.1.poll_timeout().unwrap();
        assert!(next - start < Duration::from_secs(3600), "never connected");
        lab.net.advance_to(next);
        lab.settle();
    }
    lab.traffic(1);
    lab.traffic(2);
    assert_eq!(lab.sgw().sa_counters().len(), 1);
    assert_eq!(lab.relay.1.datapath().table().len(), 1);
    assert!(lab.client.1.failure().is_none());
    // Each wait was longer than the one before (1 s, 2 s, 4 s, 8 s plus jitter, after the
    // same retransmission schedule).
    let gaps: Vec<Duration> = restarts_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "backoff grows: {gaps:?}"
    );
}

#[test]
fn a_tunnel_the_sgw_forgot_is_restarted_when_its_rekey_goes_unanswered() {
    // Without reauthentication, so that the loss shows at the child SA's rekey.
    let mut lab = build(true, false);
    lab.settle();
    assert!(lab.client.1.is_established());
    lab.traffic(1);
    let first = lab.cookies();
    // The SGW restarts and forgets every SA (its old sockets go with it).
    lab.sgw = None;
    lab.settle();
    lab.start_sgw();
    // The client notices at its rekey (90 % of the 120 s lifetime): the quick mode under an
    // IKE SA the SGW no longer knows goes unanswered, the attempt fails, and the client
    // starts over with a new main mode.
    let start = lab.net.now();
    let limit = Duration::from_secs(600);
    lab.follow_client_timers_until(
        start,
        limit,
        "no restart",
        |lab| lab.client.1.counters().restarts > 0,
        |lab| assert!(!lab.client.1.is_drained()),
    );
    let status = lab.client.1.status();
    assert!(status.line("lost").is_some(), "{}", status.to_text());
    lab.assert_back_after_one_restart(start, limit, &first);
    assert!(lab.client.1.failure().is_none());
}

#[test]
fn a_tunnel_the_sgw_terminates_is_restarted() {
    // The SGW terminates the IKE SA and its bundles (as `swanctl --terminate --ike` does): the
    // client hears the DELETEs through the relay and, with no control socket, starts over.
    let mut lab = build(true, false);
    lab.settle();
    assert!(lab.client.1.is_established());
    lab.traffic(1);
    let first = lab.cookies();
    let informational_before = lab.exchanges_at_sgw(5);
    let now = lab.net.now();
    assert_eq!(lab.sgw.as_mut().unwrap().1.terminate_all(now), 1);
    lab.settle();
    assert!(
        lab.sgw().sa_counters().is_empty(),
        "the SGW dropped its bundles"
    );
    let start = lab.net.now();
    let limit = Duration::from_secs(120);
    lab.follow_client_timers_until(
        start,
        limit,
        "no restart",
        |lab| lab.client.1.counters().restarts > 0,
        |_| {},
    );
    lab.assert_back_after_one_restart(start, limit, &first);
    // The new tunnel came from a new main mode, not from informational exchanges under the
    // terminated IKE SA (at most the client's answer to the child DELETE reached the SGW).
    assert!(lab.exchanges_at_sgw(5) <= informational_before + 1);
}
