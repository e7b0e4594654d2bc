//! The client without a network: what it sends, what it ignores and counts, and how it keeps
//! the tunnel up when nobody answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

use rand::rngs::mock::StepRng;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::session::Backoff;
use super::*;
use crate::net::{Leg, NetPath, Path, PortPair, Transport};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
const RELAY: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
/// Our sockets and the relay's are on other ports than 500/4500 (the port view).
const OWN: PortPair = PortPair {
    ike: 1500,
    natt: 14500,
};
const RELAY_PORTS: PortPair = PortPair {
    ike: 2500,
    natt: 24500,
};

fn settings(rng: &mut StdRng, initiate: bool) -> ClientSettings {
    // The IKE client's own test configuration, with rekeying on as a daemon runs it.
    let mut ike = crate::ike::client::tests::config(rng);
    ike.auto_rekey = true;
    ClientSettings {
        ike,
        session: SessionSettings {
            reauth: true,
            reauth_margin: None,
            restart: true,
            restart_max_backoff: Duration::from_secs(4),
        },
        local: LOCAL,
        relay: RELAY,
        own_ports: OWN,
        relay_ports: RELAY_PORTS,
        c_udp_encap: true,
        raw_header_included: false,
        initiate,
        controlled: false,
    }
}

fn client(initiate: bool) -> Client {
    let mut rng = StdRng::seed_from_u64(7);
    Client::new(settings(&mut rng, initiate), Timestamp::ZERO, &mut rng).unwrap()
}

fn from(remote: IpAddr, local_port: u16, remote_port: u16) -> Received {
    Received {
        path: Path::Net(NetPath {
            leg: Leg::CSide,
            local: LOCAL,
            remote,
            transport: Transport::Udp {
                local_port,
                remote_port,
            },
        }),
    }
}

fn transmits(client: &mut Client, now: Timestamp) -> Vec<(Path, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Some(t) = client.poll_transmit(now, &mut buf) {
        out.push((t.path, buf[..t.len].to_vec()));
    }
    out
}

fn events(client: &mut Client) -> Vec<ClientEvent> {
    core::iter::from_fn(|| client.poll_event()).collect()
}

#[test]
fn restart_backoff_doubles_from_one_second_and_stops_at_the_maximum() {
    // A generator that always says 0: no jitter.
    let mut zero = StepRng::new(0, 0);
    let mut backoff = Backoff::new(Duration::from_secs(4));
    let waits: Vec<_> = (0..5).map(|_| backoff.delay(&mut zero)).collect();
    let secs = Duration::from_secs;
    assert_eq!(waits, [secs(1), secs(2), secs(4), secs(4), secs(4)]);
    backoff.reset();
    assert_eq!(backoff.delay(&mut zero), secs(1));
}

#[test]
fn restart_jitter_adds_at_most_a_quarter() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut backoff = Backoff::new(Duration::from_secs(60));
    let mut base = Duration::from_secs(1);
    for _ in 0..8 {
        let wait = backoff.delay(&mut rng);
        assert!(
            wait >= base && wait <= base + base / 4,
            "{wait:?} for {base:?}"
        );
        base = (base * 2).min(Duration::from_secs(60));
    }
    // The largest jitter a generator can give is exactly a quarter.
    let mut max = StepRng::new(250, 0);
    assert_eq!(
        Backoff::new(Duration::from_secs(4)).delay(&mut max),
        Duration::from_millis(1250)
    );
}

#[test]
fn mm1_goes_out_on_the_real_nat_t_ports_with_the_non_esp_marker() {
    let mut client = client(true);
    assert_eq!(client.attempt(), 1);
    assert_eq!(client.phase(), Some(crate::ike::IkePhase::MainMode));
    let sent = transmits(&mut client, Timestamp::ZERO);
    assert_eq!(sent.len(), 1);
    let (path, bytes) = &sent[0];
    assert_eq!(
        *path,
        Path::Net(NetPath {
            leg: Leg::CSide,
            local: LOCAL,
            remote: RELAY,
            transport: Transport::Udp {
                local_port: OWN.natt,
                remote_port: RELAY_PORTS.natt,
            },
        })
    );
    assert_eq!(&bytes[..4], &[0, 0, 0, 0]);
}

#[test]
fn a_client_started_idle_sends_nothing_until_initiate() {
    let mut client = client(false);
    assert_eq!(client.phase(), None);
    assert_eq!(client.attempt(), 0);
    assert!(transmits(&mut client, Timestamp::ZERO).is_empty());
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(client.initiate(Timestamp::ZERO).unwrap(), 1);
    assert_eq!(events(&mut client), [ClientEvent::Started { attempt: 1 }]);
    assert_eq!(transmits(&mut client, Timestamp::ZERO).len(), 1);
    // A second initiate joins the running attempt.
    assert_eq!(client.initiate(Timestamp::ZERO).unwrap(), 1);
    assert!(transmits(&mut client, Timestamp::ZERO).is_empty());
}

#[test]
fn a_datagram_from_elsewhere_than_the_relay_is_ignored_and_counted() {
    let mut client = client(true);
    let _mm1 = transmits(&mut client, Timestamp::ZERO);
    let stranger = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    let esp = [0x11u8; 64];
    client.handle_datagram(Timestamp::ZERO, &from(stranger, OWN.natt, 4500), &esp);
    let c = client.counters();
    assert_eq!(c.ignored, 1);
    assert_eq!(c.ipsec_packets, 0);
    assert_eq!(c.ike_datagrams, 0);
    assert!(transmits(&mut client, Timestamp::ZERO).is_empty());
}

#[test]
fn the_nat_t_port_tells_keepalives_esp_and_ike_apart() {
    let mut client = client(true);
    let _mm1 = transmits(&mut client, Timestamp::ZERO);
    let rx = from(RELAY, OWN.natt, RELAY_PORTS.natt);
    client.handle_datagram(Timestamp::ZERO, &rx, &[0xff]);
    assert_eq!(client.counters().ignored, 1);
    // ESP with an SPI that is none of ours.
    let mut esp = [0u8; 64];
    esp[..4].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    esp[7] = 1;
    client.handle_datagram(Timestamp::ZERO, &rx, &esp);
    let c = client.counters();
    assert_eq!((c.ipsec_packets, c.unknown_spi, c.opened), (1, 1, 0));
    // The non-ESP marker: IKE for the IKE client (garbage to it, counted there).
    let mut ike = [0u8; 40];
    ike[4..12].copy_from_slice(&[9; 8]);
    client.handle_datagram(Timestamp::ZERO, &rx, &ike);
    assert_eq!(client.counters().ike_datagrams, 1);
    assert!(transmits(&mut client, Timestamp::ZERO).is_empty());
    // Garbage (empty, shorter than an ESP header, a marker with no ISAKMP header after it)
    // reaches neither the SAs nor the IKE client.
    for junk in [&[][..], &[1, 2, 3][..], &[0, 0, 0, 0, 1, 2][..]] {
        client.handle_datagram(Timestamp::ZERO, &rx, junk);
    }
    let c = client.counters();
    assert_eq!((c.ignored, c.ipsec_packets, c.ike_datagrams), (4, 1, 1));
}

#[test]
fn an_inner_packet_without_a_child_sa_is_dropped_and_counted() {
    let mut client = client(true);
    let _mm1 = transmits(&mut client, Timestamp::ZERO);
    let tun = Received { path: Path::Tun };
    client.handle_datagram(Timestamp::ZERO, &tun, &[0x45; 40]);
    let c = client.counters();
    assert_eq!((c.tun_packets, c.no_sa, c.sealed), (1, 1, 0));
    assert!(!client.is_established());
    assert!(transmits(&mut client, Timestamp::ZERO).is_empty());
}

/// Runs the client's timers until `until`, collecting events.
fn run_until(client: &mut Client, until: Timestamp) -> Vec<ClientEvent> {
    let mut seen = Vec::new();
    while let Some(at) = client.poll_timeout() {
        if at > until {
            break;
        }
        client.handle_timeout(at);
        let _sent = transmits(client, at);
        seen.extend(events(client));
    }
    seen
}

#[test]
fn a_relay_that_never_answers_fails_the_attempt_and_a_restart_follows_after_the_backoff() {
    let mut client = client(true);
    let _mm1 = transmits(&mut client, Timestamp::ZERO);
    let _started = events(&mut client);
    // mm1, then retransmissions after 1 s and 2 s, then 4 s more of waiting.
    let seen = run_until(&mut client, Timestamp::ZERO + Duration::from_secs(7));
    let restart = seen.iter().find_map(|e| match e {
        ClientEvent::RestartScheduled { delay, .. } => Some(*delay),
        _ => None,
    });
    let delay = restart.expect("a restart is scheduled");
    assert!(delay >= Duration::from_secs(1) && delay <= Duration::from_millis(1250));
    assert!(seen
        .iter()
        .any(|e| matches!(e, ClientEvent::IkeFailed(err) if err.is_retryable())));
    assert_eq!(client.counters().restarts, 1);
    assert_eq!(client.failure(), None, "a retryable loss is not a failure");
    let status = client.status();
    assert!(matches!(status.last_loss, Some((_, true))));
    // The restart starts attempt 2.
    let seen = run_until(&mut client, Timestamp::ZERO + Duration::from_secs(9));
    assert!(
        seen.contains(&ClientEvent::Started { attempt: 2 }),
        "{seen:?}"
    );
    assert_eq!(client.attempt(), 2);
}

#[test]
fn a_controlled_client_gives_up_instead_of_restarting_and_waits() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut s = settings(&mut rng, true);
    s.controlled = true;
    let mut client = Client::new(s, Timestamp::ZERO, &mut rng).unwrap();
    let _mm1 = transmits(&mut client, Timestamp::ZERO);
    let seen = run_until(&mut client, Timestamp::ZERO + Duration::from_secs(30));
    assert!(seen.iter().any(|e| matches!(e, ClientEvent::Failed { .. })));
    assert!(!seen
        .iter()
        .any(|e| matches!(e, ClientEvent::RestartScheduled { .. })));
    assert!(client.failure().is_some());
    assert_eq!(client.counters().restarts, 0);
    // Controlled: not drained, it waits for the next initiate.
    assert!(!client.is_drained());
    assert_eq!(
        client
            .initiate(Timestamp::ZERO + Duration::from_secs(30))
            .unwrap(),
        2
    );
    assert_eq!(client.failure(), None);
}

#[test]
fn rekey_without_an_ike_sa_is_refused() {
    let mut client = client(false);
    assert_eq!(
        client.rekey(Timestamp::ZERO),
        Err(ClientCommandError::NoIkeSa)
    );
    let mut client = self::client(true);
    let err = client.rekey(Timestamp::ZERO).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot rekey (main-mode)"),
        "{err}"
    );
}

#[test]
fn terminate_in_main_mode_abandons_the_attempt() {
    let mut client = client(true);
    let _mm1 = transmits(&mut client, Timestamp::ZERO);
    let _started = events(&mut client);
    assert_eq!(client.terminate(Timestamp::ZERO), 0);
    assert_eq!(events(&mut client), [ClientEvent::Abandoned]);
    assert_eq!(client.phase(), None);
    assert!(transmits(&mut client, Timestamp::ZERO).is_empty());
}

#[test]
fn the_newest_bundle_is_rekeyed_before_its_sequence_numbers_run_out() {
    use crate::testing::lab::{inner_packet, INNER_CLIENT, INNER_LAN};
    use crate::testing::{Lab, RunOutcome};

    let mut lab = Lab::new(&mut StdRng::seed_from_u64(11)).unwrap();
    assert_eq!(lab.establish(Duration::from_secs(60)), RunOutcome::Done);
    let client = lab.client().unwrap();
    // Far from its lifetime, but two packets away from the rekey mark.
    client
        .children
        .last_mut()
        .unwrap()
        .resume_sequence_at(super::datapath::REKEY_AT_SEQUENCE - 2);
    for n in 0..3 {
        lab.net
            .send_inner(lab.client, &inner_packet(INNER_CLIENT, INNER_LAN, n));
    }
    lab.net.run_for(Duration::from_secs(2));
    assert_eq!(
        lab.net.take_inner(lab.gateway).len(),
        3,
        "the SGW took all three"
    );
    let client = lab.client().unwrap();
    assert_eq!(client.counters().sequence_rekeys, 1);
    let installed = std::iter::from_fn(|| client.poll_event())
        .filter(|e| matches!(e, ClientEvent::ChildInstalled { .. }))
        .count();
    assert_eq!(
        installed, 2,
        "the first bundle and its sequence-driven successor"
    );
    // The successor sends now, from the start of its own sequence space.
    lab.net
        .send_inner(lab.client, &inner_packet(INNER_CLIENT, INNER_LAN, 9));
    lab.net.run_for(Duration::from_secs(1));
    assert_eq!(lab.net.take_inner(lab.gateway).len(), 1);
    let client = lab.client().unwrap();
    let newest = client.children.last().unwrap().counters().0;
    assert_eq!(newest.packets, 1, "{newest:?}");
}
