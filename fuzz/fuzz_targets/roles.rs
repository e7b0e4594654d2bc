//! The three roles' state machines on arbitrary datagrams: a fresh client (main mode started),
//! relay and gateway, built from `testing::lab`'s settings, are handed a sequence of
//! datagrams, inner packets and clock steps taken from the input, in any order. Invariants
//! beyond "no panic": every transmit fits the caller's buffer and names a path of the role's
//! own legs, and no role keeps transmitting without input.
//!
//! Input: records of `[who][how][len_hi][len_lo][len bytes]`. `who % 3` picks the role;
//! `how` picks the arrival (TUN, or UDP to the IKE or NAT-T port from the role's expected
//! peer, or raw ESP/AH) and, in its top bits, how far the clock moves first.
#![no_main]
use core::net::IpAddr;
use core::time::Duration;

use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat::testing::lab::{
    client_settings, gateway_settings, relay_settings, CLIENT, RELAY_C, RELAY_S, SGW,
};
use ipsec_xlat::wire::IpProtocol;
use ipsec_xlat::{
    Client, Endpoint, Gateway, Leg, NetPath, Path, Received, Relay, Timestamp, Transport,
};
use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// One role and where its packets come from.
struct Node {
    role: Box<dyn Endpoint>,
    /// The legs the role has sockets on.
    legs: &'static [Leg],
    /// The leg the next datagram arrives on.
    leg: Leg,
    local: IpAddr,
    peer: IpAddr,
}

fn arrival(node: &Node, how: u8) -> Received {
    let transport = match how & 0x7 {
        0 => return Received { path: Path::Tun },
        1 | 2 => Transport::Udp {
            local_port: 500,
            remote_port: 500,
        },
        3 | 4 => Transport::Udp {
            local_port: 4500,
            remote_port: 4500,
        },
        5 => Transport::Ip {
            protocol: IpProtocol::ESP,
            header_included: true,
        },
        6 => Transport::Ip {
            protocol: IpProtocol::AH,
            header_included: true,
        },
        _ => Transport::Udp {
            local_port: 4500,
            remote_port: 40_123,
        },
    };
    Received {
        path: Path::Net(NetPath {
            leg: node.leg,
            local: node.local,
            remote: node.peer,
            transport,
        }),
    }
}

/// Takes every transmit and event, checking what the caller relies on.
fn drain(node: &mut Node, now: Timestamp, buf: &mut [u8]) {
    for _ in 0..10_000 {
        let Some(t) = node.role.poll_transmit(now, buf) else {
            return;
        };
        assert!(t.len <= buf.len(), "a transmit larger than the buffer");
        if let Path::Net(path) = t.path {
            assert!(
                node.legs.contains(&path.leg),
                "a transmit on a leg the role does not have"
            );
        }
    }
    panic!("a role kept transmitting without input");
}

fuzz_target!(|data: &[u8]| {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let relay_key = StaticKeypair::generate(&mut rng);
    let client_key = StaticKeypair::generate(&mut rng);
    let mut now = Timestamp::ZERO;
    let Ok(client) = Client::new(client_settings(client_key.clone(), &relay_key), now, &mut rng)
    else {
        return;
    };
    let mut nodes = [
        Node {
            role: Box::new(client),
            legs: &[Leg::CSide],
            leg: Leg::CSide,
            local: CLIENT,
            peer: RELAY_C,
        },
        Node {
            // The relay has both legs: records for it alternate between them (see below).
            role: Box::new(Relay::new(relay_settings(relay_key, &client_key), &mut rng)),
            legs: &[Leg::CSide, Leg::SSide],
            leg: Leg::CSide,
            local: RELAY_C,
            peer: CLIENT,
        },
        Node {
            role: Box::new(Gateway::new(gateway_settings(), &mut rng)),
            legs: &[Leg::SSide],
            leg: Leg::SSide,
            local: SGW,
            peer: RELAY_S,
        },
    ];
    let mut buf = vec![0u8; 65_536];
    let mut rest = data;
    while let [who, how, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        now = now + Duration::from_millis(u64::from(how >> 3) * 250);
        let node = &mut nodes[usize::from(*who % 3)];
        if *who % 3 == 1 && who & 0x80 != 0 {
            // The relay's s-side: from the gateway to the relay's s-side address.
            node.leg = Leg::SSide;
            node.local = RELAY_S;
            node.peer = SGW;
        } else if *who % 3 == 1 {
            node.leg = Leg::CSide;
            node.local = RELAY_C;
            node.peer = CLIENT;
        }
        let rx = arrival(node, *how);
        node.role.handle_datagram(now, &rx, datagram);
        for node in &mut nodes {
            if node.role.poll_timeout().is_some_and(|at| at <= now) {
                node.role.handle_timeout(now);
            }
            drain(node, now, &mut buf);
        }
    }
});
