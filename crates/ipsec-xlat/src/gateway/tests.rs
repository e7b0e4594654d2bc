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
use crate::ike::phase2::{ChildConfig, ChildIntegrity, ChildProposal, Encapsulation, EspCipher};
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
                    esp: Some((
                        EspCipher::AesGcm16_128,
                        Some(ChildIntegrity::HmacSha256_128),
                    )),
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

mod with_a_bundle {
    use core::time::Duration;

    use super::*;
    use crate::ike::phase2::BundleSpis;
    use crate::sa::{
        Encryption, EspConfig, EspSuite, InboundSa, Lifetime, Mode, OutboundSa, SaConfig, SaPair,
        SecretKey, TunnelHeader,
    };

    const OUT_SPI: u32 = 0x1000_0001;
    const IN_SPI: u32 = 0x2000_0002;

    fn config(spi: u32, src: Ipv4Addr, dst: Ipv4Addr, hard: Duration) -> SaConfig {
        let header = TunnelHeader::between(IpAddr::V4(src), IpAddr::V4(dst)).unwrap();
        let mut config = SaConfig::esp(
            Mode::Tunnel(header),
            EspConfig {
                spi,
                suite: EspSuite {
                    encryption: Encryption::AesGcm16,
                    integrity: None,
                },
                encryption_key: SecretKey::new(&[spi.to_be_bytes()[0]; 20]),
                integrity_key: SecretKey::new(&[]),
                esn: false,
            },
        );
        config.lifetime = Lifetime {
            hard_time: Some(hard),
            ..Lifetime::UNLIMITED
        };
        config
    }

    /// A gateway with one raw-ESP bundle to PEER (outbound dies at 10 s, inbound at 20 s),
    /// and the peer's sending SA.
    fn installed() -> (Gateway, OutboundSa) {
        let t0 = Timestamp::ZERO;
        let mut gw = gateway();
        let outbound =
            OutboundSa::new(&config(OUT_SPI, SGW, PEER, Duration::from_secs(10)), t0).unwrap();
        let inbound =
            InboundSa::new(&config(IN_SPI, PEER, SGW, Duration::from_secs(20)), t0).unwrap();
        gw.children.push(InstalledChild {
            peer: SocketAddr::new(IpAddr::V4(PEER), 500),
            local: IpAddr::V4(SGW),
            udp: false,
            lookup: inbound.lookup_spi(),
            in_spis: BundleSpis {
                esp: Some(IN_SPI),
                ah: None,
            },
            out_spis: BundleSpis {
                esp: Some(OUT_SPI),
                ah: None,
            },
            sa: SaPair::new(outbound, inbound, true),
        });
        let peer =
            OutboundSa::new(&config(IN_SPI, PEER, SGW, Duration::from_secs(60)), t0).unwrap();
        (gw, peer)
    }

    fn inner(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        let sum = crate::wire::checksum::checksum(&p);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p
    }

    #[test]
    fn opens_onto_the_tun_side_and_seals_by_raw_ip_with_our_header() {
        let (mut gw, mut peer) = installed();
        let up = inner([10, 8, 0, 1], [10, 9, 0, 1]);
        let mut esp = vec![0u8; 256];
        let sealed = peer
            .seal(&up, &[0, 0, 0, 0, 0, 0, 0, 1], Timestamp::ZERO, &mut esp)
            .unwrap();
        let rx = Received {
            path: Path::Net(NetPath {
                leg: Leg::SSide,
                local: IpAddr::V4(SGW),
                remote: IpAddr::V4(PEER),
                transport: Transport::Ip {
                    protocol: IpProtocol::ESP,
                    header_included: true,
                },
            }),
        };
        gw.handle_datagram(Timestamp::ZERO, &rx, &esp[..sealed.len]);
        let sent = transmits(&mut gw);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0.path, Path::Tun);
        assert_eq!(sent[0].1, up);

        let down = inner([10, 9, 0, 1], [10, 8, 0, 1]);
        gw.handle_datagram(Timestamp::ZERO, &Received { path: Path::Tun }, &down);
        let sent = transmits(&mut gw);
        assert_eq!(sent.len(), 1);
        let Path::Net(path) = sent[0].0.path else {
            panic!("sealed packet on the TUN side")
        };
        assert_eq!(
            path.transport,
            Transport::Ip {
                protocol: IpProtocol::ESP,
                header_included: true
            }
        );
        assert_eq!(
            (path.local, path.remote),
            (IpAddr::V4(SGW), IpAddr::V4(PEER))
        );
        assert_eq!(sent[0].1[0], 0x45, "our IPv4 header leads");
        assert_eq!(&sent[0].1[20..24], &OUT_SPI.to_be_bytes());
        let c = gw.counters();
        assert_eq!(
            (c.opened, c.sealed, c.open_errors, c.seal_errors),
            (1, 1, 0, 0)
        );
        let counters = gw.sa_counters();
        assert_eq!((counters[0].0.packets, counters[0].1.packets), (1, 1));
    }

    #[test]
    fn a_replayed_packet_is_refused_counted_and_reported() {
        let (mut gw, mut peer) = installed();
        let mut esp = vec![0u8; 256];
        let up = inner([10, 8, 0, 1], [10, 9, 0, 1]);
        let sealed = peer
            .seal(&up, &[0, 0, 0, 0, 0, 0, 0, 1], Timestamp::ZERO, &mut esp)
            .unwrap();
        for _ in 0..2 {
            gw.handle_datagram(Timestamp::ZERO, &raw_esp(), &esp[20..sealed.len]);
        }
        assert_eq!(gw.counters().opened, 1);
        assert_eq!(gw.counters().open_errors, 1);
        assert!(matches!(
            gw.poll_event(),
            Some(GatewayEvent::PacketRefused { .. })
        ));
    }

    #[test]
    fn the_bundle_leaves_when_both_directions_reached_their_hard_lifetime() {
        let (mut gw, _) = installed();
        let t10 = Timestamp::ZERO + Duration::from_secs(10);
        let t20 = Timestamp::ZERO + Duration::from_secs(20);
        assert_eq!(gw.poll_timeout(), Some(t10));
        gw.handle_timeout(t10);
        assert_eq!(gw.sa_counters().len(), 1, "the inbound half still drains");
        assert!(gw.poll_event().is_none());
        assert_eq!(gw.poll_timeout(), Some(t20));
        gw.handle_timeout(t20);
        assert!(gw.sa_counters().is_empty());
        assert!(matches!(
            gw.poll_event(),
            Some(GatewayEvent::ChildExpired { peer }) if peer.ip() == IpAddr::V4(PEER)
        ));
        assert_eq!(gw.poll_timeout(), None);
        // With no bundle left, inner packets have nowhere to go.
        let down = inner([10, 9, 0, 1], [10, 8, 0, 1]);
        gw.handle_datagram(t20, &Received { path: Path::Tun }, &down);
        assert_eq!(gw.counters().no_sa, 1);
    }
}
