//! The `sa_open` fuzz target's hand-made seeds open, so the fuzzer's invariants (ICV verified,
//! window moved) are exercised from the start. The IPv6 and UDP client-leg seeds are made by
//! `fuzz/seeds_sa_open.py` from the scapy AH vector, independently of `sa::translate`: they
//! check the Identification-in-Reserved carriage against the relay's contract.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use ipsec_xlat::Timestamp;
use std::net::IpAddr;

use ipsec_xlat::sa::{
    AhConfig, ClientInboundSa, EspConfig, EspSuite, InboundSa, Integrity, Lifetime, Mode, SaConfig,
    SecretKey, SideValues, Translation, TunnelHeader, UdpEncap, DEFAULT_REPLAY_WINDOW,
    INBOUND_ROOM,
};

fn seed(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/sa_open/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn config(ah: bool) -> SaConfig {
    let (esp, ah) = if ah {
        let key = hex::decode("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
        let ah = AhConfig {
            spi: 0xa001,
            integrity: Integrity::HmacSha256_128,
            key: SecretKey::new(&key.unwrap()),
            esn: false,
        };
        (None, Some(ah))
    } else {
        let key = hex::decode("000102030405060708090a0b0c0d0e0fdeadbeef").unwrap();
        let esp = EspConfig {
            spi: 0xa001,
            suite: EspSuite::AES_GCM_16,
            encryption_key: SecretKey::new(&key),
            integrity_key: SecretKey::default(),
            esn: false,
        };
        (Some(esp), None)
    };
    SaConfig {
        mode: Mode::Tunnel(TunnelHeader::between(ip("203.0.113.1"), ip("203.0.113.2")).unwrap()),
        esp,
        ah,
        udp_encap: None,
        replay_window: DEFAULT_REPLAY_WINDOW,
        lifetime: Lifetime::UNLIMITED,
    }
}

fn client(ah: bool, c_src: &str, c_dst: &str, udp: Option<UdpEncap>) -> ClientInboundSa {
    let values = |src, dst, spi, udp_encap| SideValues {
        src,
        dst,
        esp_spi: (!ah).then_some(spi),
        ah_spi: ah.then_some(spi),
        udp_encap,
    };
    let translation = Translation {
        s_side: values(ip("203.0.113.1"), ip("203.0.113.2"), 0xa001, None),
        c_side: values(ip(c_src), ip(c_dst), 0xb001, udp),
    };
    ClientInboundSa::new(
        InboundSa::new(&config(ah), Timestamp::ZERO).unwrap(),
        translation,
    )
    .unwrap()
}

#[test]
fn the_hand_made_seeds_open() {
    let now = Timestamp::ZERO;
    for (name, ah) in [("ah-gateway", true), ("gcm-gateway", false)] {
        let mut p = seed(name)[1..].to_vec();
        let mut sa = InboundSa::new(&config(ah), now).unwrap();
        assert!(sa.open(&mut p, now).is_ok(), "{name}");
    }
    let nat = Some(UdpEncap {
        src_port: 4500,
        dst_port: 61_000,
    });
    for (name, ah, src, dst, udp) in [
        ("ah-client-v4", true, "198.51.100.10", "198.51.100.1", None),
        (
            "ah-client-v6",
            true,
            "2001:db8:100::1",
            "2001:db8:100::10",
            None,
        ),
        ("ah-client-udp4", true, "198.51.100.1", "198.51.100.10", nat),
        (
            "gcm-client-v4",
            false,
            "198.51.100.10",
            "198.51.100.1",
            None,
        ),
    ] {
        let mut p = seed(name)[1..].to_vec();
        p.resize(p.len() + INBOUND_ROOM, 0);
        let mut sa = client(ah, src, dst, udp);
        let opened = sa.open(&mut p, now).map(|o| o.packet.len());
        assert!(opened.is_ok(), "{name}: {opened:?}");
    }
}
