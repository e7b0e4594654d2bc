//! The three roles of the core, client, relay and gateway, in whole conversations on the
//! simulated network (`testing::Lab`): what each one's owner (an embedding product) can rely
//! on when the network loses, duplicates or reorders datagrams.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use core::time::Duration;

use ipsec_xlat::testing::lab::{inner_packet, INNER_CLIENT, INNER_LAN};
use ipsec_xlat::testing::{Fate, Lab, RunOutcome};
use ipsec_xlat::{ClientEvent, RelayEvent};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn lab(seed: u64) -> Lab {
    Lab::new(&mut StdRng::seed_from_u64(seed)).unwrap()
}

/// A small deterministic generator for impairment hooks (xorshift).
struct Dice(u64);

impl Dice {
    fn percent(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 100
    }
}

/// Sends `count` inner packets each way, one round trip at a time; returns what arrived at
/// the LAN and at the client.
fn exchange(lab: &mut Lab, count: u32) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    for n in 0..count {
        lab.net
            .send_inner(lab.client, &inner_packet(INNER_CLIENT, INNER_LAN, n));
        lab.net.run_for(Duration::from_millis(30));
        lab.net
            .send_inner(lab.gateway, &inner_packet(INNER_LAN, INNER_CLIENT, n));
        lab.net.run_for(Duration::from_millis(30));
    }
    (
        lab.net.take_inner(lab.gateway),
        lab.net.take_inner(lab.client),
    )
}

#[test]
fn the_tunnel_comes_up_and_carries_every_packet_intact() {
    let mut lab = lab(1);
    assert_eq!(lab.establish(Duration::from_secs(60)), RunOutcome::Done);
    let (at_lan, at_client) = exchange(&mut lab, 50);
    let expect = |src, dst| {
        (0..50)
            .map(|n| inner_packet(src, dst, n))
            .collect::<Vec<_>>()
    };
    assert_eq!(at_lan, expect(INNER_CLIENT, INNER_LAN));
    assert_eq!(at_client, expect(INNER_LAN, INNER_CLIENT));
    let relay = lab.relay().unwrap().counters();
    assert_eq!(relay.ipsec_packets, 100, "{relay:?}");
    assert_eq!(relay.entries_installed, 1);
}

#[test]
fn ike_survives_heavy_loss_through_retransmission() {
    // 30 % of every datagram on every link is lost while IKE runs: each party retransmits
    // (RFC 2408 leaves the schedule to us: 2 s doubling, five times), and the exchange must
    // still complete (here within the 120 s the test allows).
    let mut lab = lab(2);
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    lab.net.set_impairment(move |_| {
        if dice.percent() < 30 {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    assert_eq!(lab.establish(Duration::from_secs(120)), RunOutcome::Done);
    assert!(lab.net.stats().dropped > 0, "the hook did drop datagrams");
    lab.net.clear_impairment();
    let (at_lan, at_client) = exchange(&mut lab, 5);
    assert_eq!((at_lan.len(), at_client.len()), (5, 5));
}

#[test]
fn duplicated_datagrams_reach_the_inner_side_once() {
    // Every datagram arrives twice: IKE must treat the copies as retransmissions, and the
    // SAs' replay windows (RFC 4303 §3.4.3) must drop the second copy of each ESP packet,
    // so no application sees a duplicate, on either side.
    let mut lab = lab(3);
    lab.net.set_impairment(|_| Fate::Duplicate);
    assert_eq!(lab.establish(Duration::from_secs(60)), RunOutcome::Done);
    let (at_lan, at_client) = exchange(&mut lab, 20);
    assert_eq!(at_lan.len(), 20, "one copy each at the LAN");
    assert_eq!(at_client.len(), 20, "one copy each at the client");
    let relay = lab.relay().unwrap().counters();
    assert_eq!(
        relay.ipsec_packets, 80,
        "the relay forwards both copies (it holds no replay state)"
    );
}

#[test]
fn reordered_esp_inside_the_replay_window_is_delivered() {
    let mut lab = lab(4);
    assert_eq!(lab.establish(Duration::from_secs(60)), RunOutcome::Done);
    // From now on every third datagram on the wire is held back 50 ms: packets sent in one
    // burst overtake each other, within the replay window.
    let mut n = 0u32;
    lab.net.set_impairment(move |_| {
        n += 1;
        if n % 3 == 0 {
            Fate::Delay(Duration::from_millis(50))
        } else {
            Fate::Deliver
        }
    });
    let sent: Vec<Vec<u8>> = (0..30)
        .map(|n| inner_packet(INNER_CLIENT, INNER_LAN, n))
        .collect();
    for packet in &sent {
        lab.net.send_inner(lab.client, packet);
    }
    lab.net.run_for(Duration::from_secs(1));
    let mut arrived = lab.net.take_inner(lab.gateway);
    assert_ne!(arrived, sent, "the hook did reorder");
    arrived.sort();
    let mut expected = sent.clone();
    expected.sort();
    assert_eq!(arrived, expected, "every packet once, none lost");
}

#[test]
fn an_established_client_reports_its_milestones_in_order() {
    let mut lab = lab(5);
    assert_eq!(lab.establish(Duration::from_secs(60)), RunOutcome::Done);
    let client = lab.client().unwrap();
    let mut milestones = Vec::new();
    while let Some(event) = client.poll_event() {
        match event {
            ClientEvent::Phase1Established { nat_t, .. } => {
                milestones.push("phase 1");
                assert!(!nat_t, "no NAT between the relay's s-side and the gateway");
            }
            ClientEvent::ChildInstalled { c_udp_encap, .. } => {
                milestones.push("child");
                assert!(c_udp_encap, "ESP-in-UDP toward the relay, as configured");
            }
            _ => {}
        }
    }
    assert_eq!(milestones, ["phase 1", "child"]);
}

#[test]
fn a_spoofed_unencrypted_error_notification_does_not_end_an_established_tunnel() {
    use ipsec_xlat::wire::isakmp::{
        Cookie, Doi, ExchangeType, MessageBuilder, NotifyRepr, NotifyType, ProtocolId,
    };
    use ipsec_xlat::{NetPath, Path, Received, Transport};

    let mut lab = lab(6);
    assert_eq!(lab.establish(Duration::from_secs(60)), RunOutcome::Done);
    // Whoever sees the c-side cookies on the wire can forge this: an unencrypted
    // INFORMATIONAL with an AUTHENTICATION-FAILED notification, "from the relay".
    let cookies = lab.relay().unwrap().ike_entries()[0].c_cookies;
    let mut forged = MessageBuilder::new(
        Cookie(cookies.initiator),
        Cookie(cookies.responder),
        ExchangeType::INFORMATIONAL,
        0x1234_5678,
    );
    forged
        .push_notification(&NotifyRepr {
            doi: Doi::IPSEC,
            protocol: ProtocolId::ISAKMP,
            notify_type: NotifyType::AUTHENTICATION_FAILED,
            spi: [cookies.initiator, cookies.responder].concat(),
            data: Vec::new(),
        })
        .unwrap();
    let mut datagram = vec![0, 0, 0, 0]; // the non-ESP marker: it arrives on the NAT-T port
    datagram.extend_from_slice(&forged.build().unwrap());
    let from_relay = Received {
        path: Path::Net(NetPath {
            leg: ipsec_xlat::Leg::CSide,
            local: ipsec_xlat::testing::lab::CLIENT,
            remote: ipsec_xlat::testing::lab::RELAY_C,
            transport: Transport::Udp {
                local_port: 4500,
                remote_port: 4500,
            },
        }),
    };
    let now = lab.net.now();
    let client = lab.client().unwrap();
    use ipsec_xlat::Endpoint;
    client.handle_datagram(now, &from_relay, &datagram);
    assert!(
        client.is_established(),
        "the forged notification ended the tunnel"
    );
    assert!(client.failure().is_none());
    assert_eq!(
        client.ike_counters().unprotected,
        1,
        "counted as unprotected"
    );
    let (at_lan, at_client) = exchange(&mut lab, 3);
    assert_eq!(
        (at_lan.len(), at_client.len()),
        (3, 3),
        "and traffic still flows"
    );
}

#[test]
fn what_the_sgw_sent_before_the_clients_delete_is_still_relayed_to_the_client() {
    use ipsec_xlat::Transport;

    let mut lab = lab(7);
    assert_eq!(lab.establish(Duration::from_secs(60)), RunOutcome::Done);
    // ESP from the gateway to the relay takes 200 ms more than anything else: the client's
    // DELETE overtakes a packet the gateway sent just before it.
    let gateway = lab.gateway;
    lab.net.set_impairment(move |d| match d.transport {
        Transport::Ip { .. } if d.from == gateway => Fate::Delay(Duration::from_millis(200)),
        _ => Fate::Deliver,
    });
    let late = inner_packet(INNER_LAN, INNER_CLIENT, 1);
    // The gateway learns the route to the client's inner address from the client's packets.
    lab.net
        .send_inner(lab.client, &inner_packet(INNER_CLIENT, INNER_LAN, 0));
    lab.net.run_for(Duration::from_millis(50));
    let forwarded_before = lab.relay().unwrap().counters().ipsec_packets;
    lab.net.send_inner(lab.gateway, &late);
    let now = lab.net.now();
    assert!(lab.client().unwrap().terminate(now) > 0, "DELETEs sent");
    lab.net.run_for(Duration::from_millis(100));
    assert_eq!(
        lab.relay().unwrap().datapath().table().len(),
        1,
        "the deleted bundle's entry drains instead of vanishing"
    );
    let left = |lab: &mut Lab| {
        let relay = lab.relay().unwrap();
        std::iter::from_fn(|| relay.poll_event())
            .filter(|e| matches!(e, RelayEvent::IpsecExpired { .. }))
            .count()
    };
    assert_eq!(left(&mut lab), 0, "retired, not yet gone");
    lab.net.run_for(Duration::from_secs(1));
    // The relay forwarded it to the client (before, it dropped it as an unknown SPI). The
    // client itself then drops it: `terminate` is its own shutdown, after which it keeps no
    // SA; its drain period covers rekeying and reauthentication.
    let client = lab.client().unwrap().counters();
    assert_eq!(
        client.ipsec_packets, 1,
        "the late packet reached the client: {client:?}"
    );
    assert_eq!(
        lab.relay().unwrap().counters().ipsec_packets,
        forwarded_before + 1
    );
    assert!(
        lab.relay().unwrap().take_drop().is_none(),
        "the relay dropped nothing"
    );
    lab.net.run_for(Duration::from_secs(10));
    assert_eq!(
        lab.relay().unwrap().datapath().table().len(),
        0,
        "and the entry is gone after the drain period"
    );
    assert_eq!(left(&mut lab), 1, "reported once, when it left the table");
}

#[test]
fn the_relay_admits_new_sessions_only_within_its_limits() {
    use core::net::{IpAddr, Ipv4Addr, SocketAddr};
    use ipsec_xlat::ike::tail_crypto::StaticKeypair;
    use ipsec_xlat::ike::AdmissionLimits;
    use ipsec_xlat::testing::lab::{client_settings, gateway_settings, relay_settings};
    use ipsec_xlat::testing::lab::{RELAY_C, RELAY_S, SGW};
    use ipsec_xlat::testing::{Network, RunLimit};
    use ipsec_xlat::{Client, Gateway, Leg, Relay};

    let mut rng = StdRng::seed_from_u64(8);
    let relay_key = StaticKeypair::generate(&mut rng);
    let client_key = StaticKeypair::generate(&mut rng);
    let mut net = Network::new(Duration::from_millis(5));
    // Two sessions at most: the third client is refused before any Diffie-Hellman, and the
    // gateway never hears of it.
    let limits = AdmissionLimits {
        max_sessions: Some(2),
        ..AdmissionLimits::default()
    };
    let relay =
        Relay::new(relay_settings(relay_key.clone(), &client_key), &mut rng).with_limits(limits);
    let relay = net.add_node(
        "relay",
        relay,
        &[(Leg::CSide, RELAY_C), (Leg::SSide, RELAY_S)],
    );
    let gateway = net.add_node(
        "gateway",
        Gateway::new(gateway_settings(), &mut rng),
        &[(Leg::SSide, SGW)],
    );
    let mut clients = Vec::new();
    for n in 0..3u8 {
        let address = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20 + n));
        let mut settings = client_settings(client_key.clone(), &relay_key);
        settings.local = address;
        settings.ike.local = SocketAddr::new(address, 4500);
        settings.ike.phase1.local_addr = settings.ike.local;
        // One attempt only, so a refused client stays refused for the test.
        settings.session.restart = false;
        let client = Client::new(settings, net.now(), &mut rng).unwrap();
        clients.push(net.add_node(format!("client {n}"), client, &[(Leg::CSide, address)]));
        // One after the other, so which one is third is certain.
        net.run_for(Duration::from_secs(1));
    }
    let limit = RunLimit::for_duration(net.now(), Duration::from_secs(60));
    net.run_until(limit, |net| {
        clients[..2]
            .iter()
            .all(|c| net.node::<Client>(*c).is_some_and(Client::is_established))
    });
    let established: Vec<bool> = clients
        .iter()
        .map(|c| net.node::<Client>(*c).unwrap().is_established())
        .collect();
    assert_eq!(established, [true, true, false]);
    let counters = net.node::<Relay>(relay).unwrap().ike_counters();
    assert!(counters.over_sessions >= 1, "{counters:?}");
    assert_eq!(net.node::<Relay>(relay).unwrap().ike().sessions(), 2);
    assert_eq!(
        net.node::<Gateway>(gateway).unwrap().ike_sas(),
        2,
        "the gateway never heard of the refused third"
    );
}
