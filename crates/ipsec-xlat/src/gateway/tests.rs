//! The gateway without sockets: demultiplexing on our ports, the port view of its answers,
//! and the datapath's refusals, each counted where it belongs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::ike::crypto::{HashAlgorithm, IkeCipherAlgorithm, SecretBytes};
use crate::ike::dh::DhGroup;
use crate::ike::phase1::{
    MainModeInitiator, Phase1Auth, Phase1Config, Phase1Credentials, Phase1Proposal,
};
use crate::ike::phase2::{ChildConfig, ChildProposal, Encapsulation, EspCipher, Integrity};
use crate::ike::{RetransmitPolicy, TestSgwConfig};
use crate::net::{Leg, NetPath};
use crate::wire::isakmp::IdRepr;

const SGW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
const OWN: PortPair = PortPair {
    ike: 40_500,
    natt: 44_500,
};

const P1: Phase1Proposal = Phase1Proposal {
    cipher: IkeCipherAlgorithm::Aes128Cbc,
    hash: HashAlgorithm::Sha256,
    group: DhGroup::MODP_2048,
    auth: Phase1Auth::PreSharedKey,
    lifetime_secs: 15840,
};

fn phase1(local: Ipv4Addr) -> Phase1Config {
    Phase1Config {
        suites: vec![P1],
        credentials: Phase1Credentials::PreSharedKey(SecretBytes::from_slice(b"unit-test-psk")),
        local_id: IdRepr::address(IpAddr::V4(local)),
        local_addr: SocketAddr::new(IpAddr::V4(local), 500),
        initial_contact: false,
    }
}

fn gateway() -> Gateway {
    let settings = GatewaySettings {
        ike: TestSgwConfig {
            phase1: phase1(SGW),
            child: ChildConfig {
                proposals: vec![ChildProposal {
                    esp: Some((EspCipher::AesGcm16_128, Some(Integrity::HmacSha256_128))),
                    ah: None,
                    pfs: None,
                    mode: Encapsulation::Tunnel,
                    lifetime_secs: 3960,
                }],
                local_ts: IdRepr::address(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1))),
                remote_ts: IdRepr::address(IpAddr::V4(Ipv4Addr::new(10, 8, 0, 1))),
            },
            retransmit: RetransmitPolicy::default(),
        },
        own: OWN,
        default_local: IpAddr::V4(SGW),
        header_included: true,
    };
    Gateway::new(settings, &mut StdRng::seed_from_u64(5))
}

fn udp(local_port: u16, remote_port: u16) -> Received {
    Received {
        path: Path::Net(NetPath {
            leg: Leg::SSide,
            local: IpAddr::V4(SGW),
            remote: IpAddr::V4(PEER),
            transport: Transport::Udp {
                local_port,
                remote_port,
            },
        }),
    }
}

fn raw_esp() -> Received {
    Received {
        path: Path::Net(NetPath {
            leg: Leg::SSide,
            local: IpAddr::V4(SGW),
            remote: IpAddr::V4(PEER),
            transport: Transport::Ip {
                protocol: IpProtocol::ESP,
                header_included: false,
            },
        }),
    }
}

fn transmits(gateway: &mut Gateway) -> Vec<(Transmit, Vec<u8>)> {
    let mut out = vec![0u8; 65_536];
    core::iter::from_fn(|| {
        let t = gateway.poll_transmit(Timestamp::ZERO, &mut out)?;
        Some((t, out[..t.len].to_vec()))
    })
    .collect()
}

#[test]
fn a_keepalive_on_the_natt_port_is_counted_as_ignored_and_answered_by_nothing() {
    let mut gw = gateway();
    gw.handle_datagram(Timestamp::ZERO, &udp(OWN.natt, 4500), &[0xff]);
    let c = gw.counters();
    assert_eq!(c.ignored, 1);
    assert_eq!((c.ike_datagrams, c.ipsec_packets), (0, 0));
    assert!(transmits(&mut gw).is_empty());
    assert!(gw.poll_event().is_none());
}

#[test]
fn esp_for_no_sa_of_ours_is_counted_by_udp_and_by_raw_ip() {
    let mut gw = gateway();
    let esp = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd];
    gw.handle_datagram(Timestamp::ZERO, &udp(OWN.natt, 4500), &esp);
    gw.handle_datagram(Timestamp::ZERO, &raw_esp(), &esp);
    // Too short to be anything: aimed at ESP, refused by the SA lookup.
    gw.handle_datagram(Timestamp::ZERO, &udp(OWN.natt, 4500), &[1, 2]);
    let c = gw.counters();
    assert_eq!((c.ipsec_packets, c.unknown_spi, c.open_errors), (3, 3, 0));
    assert_eq!(c.ike_datagrams, 0);
    assert!(transmits(&mut gw).is_empty());
}

#[test]
fn an_inner_packet_without_an_installed_bundle_is_dropped_as_no_sa() {
    let mut gw = gateway();
    let inner = [
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 8, 0, 1,
    ];
    gw.handle_datagram(Timestamp::ZERO, &Received { path: Path::Tun }, &inner);
    let c = gw.counters();
    assert_eq!((c.tun_packets, c.no_sa, c.sealed), (1, 1, 0));
    assert!(gw.sa_counters().is_empty());
    assert!(transmits(&mut gw).is_empty());
}

#[test]
fn main_mode_is_answered_from_the_real_port_it_arrived_on() {
    let peer = SocketAddr::new(IpAddr::V4(PEER), 500);
    let (_, mm1) = MainModeInitiator::start(
        phase1(PEER),
        SocketAddr::new(IpAddr::V4(SGW), 500),
        &mut StdRng::seed_from_u64(9),
    )
    .unwrap();

    // On the IKE port, as it is.
    let mut gw = gateway();
    gw.handle_datagram(Timestamp::ZERO, &udp(OWN.ike, peer.port()), &mm1);
    assert_eq!(gw.counters().ike_datagrams, 1);
    let sent = transmits(&mut gw);
    assert_eq!(sent.len(), 1, "mm2");
    let Path::Net(path) = sent[0].0.path else {
        panic!("mm2 on the TUN side")
    };
    assert_eq!(
        path.transport,
        Transport::Udp {
            local_port: OWN.ike,
            remote_port: 500
        }
    );
    assert_eq!(
        (path.local, path.remote),
        (IpAddr::V4(SGW), IpAddr::V4(PEER))
    );
    assert_eq!(gw.ike_sas(), 1);

    // On the NAT-T port, after the non-ESP marker (RFC 3948 §2.2): IKE, not ESP.
    let mut gw = gateway();
    let mut marked = vec![0; 4];
    marked.extend_from_slice(&mm1);
    gw.handle_datagram(Timestamp::ZERO, &udp(OWN.natt, 4500), &marked);
    let c = gw.counters();
    assert_eq!((c.ike_datagrams, c.ipsec_packets), (1, 0));
    let sent = transmits(&mut gw);
    assert_eq!(sent.len(), 1, "mm2");
    let Path::Net(path) = sent[0].0.path else {
        panic!("mm2 on the TUN side")
    };
    assert_eq!(
        path.transport,
        Transport::Udp {
            local_port: OWN.natt,
            remote_port: 4500
        }
    );
    assert_eq!(&sent[0].1[..4], &[0, 0, 0, 0], "the marker precedes mm2");
}

#[test]
fn terminating_with_no_ike_sa_sends_nothing() {
    let mut gw = gateway();
    assert_eq!(gw.terminate_all(Timestamp::ZERO), 0);
    assert!(transmits(&mut gw).is_empty());
    assert!(gw.poll_event().is_none());
    assert_eq!(gw.poll_timeout(), None);
}
