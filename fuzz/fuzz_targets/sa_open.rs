//! Inbound SA processing on arbitrary input: `InboundSa::open` for a plain SGW-side SA, and
//! `ClientInboundSa::open` (post-translation, then open) for client legs of each form the
//! relay delivers — raw IPv4, raw IPv6 and UDP with AH's marker for an IPv4 gateway leg
//! (the Identification carried in AH's Reserved), ESP over raw IPv4. Keys and SPIs are those
//! of `tests/data/vectors/`, whose packets seed the corpus, so the fuzzer starts from packets
//! that open. Invariants beyond "no panic":
//! - a successful open means the ICV verified: the same bytes fail at an SA that differs only
//!   in one key bit;
//! - and that the window moved: the same bytes again at the same SA are `Replayed`;
//! - the opened packet lies within the input, carries the sequence numbers of exactly the
//!   SA's protocols, and is counted once; a refusal is counted and opens nothing.
//!
//! Input: byte 0 chooses the suite and client leg; the rest is the packet.
#![no_main]
use std::net::IpAddr;
use ipsec_xlat::Timestamp;

use ipsec_xlat::sa::{
    AhConfig, ClientInboundSa, EspConfig, EspSuite, InboundSa, Integrity, Lifetime, Mode,
    SaConfig, SaError, SecretKey, SideValues, Translation, TunnelHeader, UdpEncap,
    DEFAULT_REPLAY_WINDOW, INBOUND_ROOM,
};
use libfuzzer_sys::fuzz_target;

const SGW_SPI: u32 = 0xa001;
const RELAY_SPI: u32 = 0xb001;
const GCM_KEY: &str = "000102030405060708090a0b0c0d0e0fdeadbeef";
const CBC_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const SHA256_KEY: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

#[derive(Clone, Copy)]
enum Suite {
    AhSha256,
    EspGcm,
    EspCbcSha256,
}

/// How the packet reaches the SA: as the SGW gets it, or as the client gets it from the relay.
#[derive(Clone, Copy)]
enum Leg {
    Gateway,
    ClientV4,
    ClientV6,
    ClientUdpV4,
}

const CASES: [(Suite, Leg); 7] = [
    (Suite::AhSha256, Leg::Gateway),
    (Suite::EspGcm, Leg::Gateway),
    (Suite::EspCbcSha256, Leg::Gateway),
    (Suite::AhSha256, Leg::ClientV4),
    (Suite::AhSha256, Leg::ClientV6),
    (Suite::AhSha256, Leg::ClientUdpV4),
    (Suite::EspGcm, Leg::ClientV4),
];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The vectors' SA, with bit 0 of the first key byte flipped when `flip`.
fn config(suite: Suite, flip: bool) -> SaConfig {
    let key = |s: &str| {
        let mut k = hex(s);
        if flip {
            k[0] ^= 1;
        }
        SecretKey::new(&k)
    };
    let (esp, ah) = match suite {
        Suite::AhSha256 => (
            None,
            Some(AhConfig {
                spi: SGW_SPI,
                integrity: Integrity::HmacSha256_128,
                key: key(SHA256_KEY),
                esn: false,
            }),
        ),
        Suite::EspGcm => (
            Some(EspConfig {
                spi: SGW_SPI,
                suite: EspSuite::AES_GCM_16,
                encryption_key: key(GCM_KEY),
                integrity_key: SecretKey::default(),
                esn: false,
            }),
            None,
        ),
        Suite::EspCbcSha256 => (
            Some(EspConfig {
                spi: SGW_SPI,
                suite: EspSuite::AES_CBC_HMAC_SHA256,
                // The flipped bit goes into the integrity key: that is what must refuse.
                encryption_key: SecretKey::new(&hex(CBC_KEY)),
                integrity_key: key(SHA256_KEY),
                esn: false,
            }),
            None,
        ),
    };
    SaConfig {
        mode: Mode::Tunnel(
            TunnelHeader::between(ip("203.0.113.1"), ip("203.0.113.2")).unwrap(),
        ),
        esp,
        ah,
        udp_encap: None,
        replay_window: DEFAULT_REPLAY_WINDOW,
        lifetime: Lifetime::UNLIMITED,
    }
}

fn translation(suite: Suite, leg: Leg) -> Translation {
    let (esp, ah) = match suite {
        Suite::AhSha256 => (false, true),
        _ => (true, false),
    };
    let values = |src, dst, spi, udp_encap| SideValues {
        src,
        dst,
        esp_spi: esp.then_some(spi),
        ah_spi: ah.then_some(spi),
        udp_encap,
    };
    let (c_src, c_dst, udp) = match leg {
        Leg::ClientV6 => (ip("2001:db8:100::1"), ip("2001:db8:100::10"), None),
        Leg::ClientUdpV4 => (
            ip("198.51.100.1"),
            ip("198.51.100.10"),
            Some(UdpEncap {
                src_port: 4500,
                dst_port: 61_000,
            }),
        ),
        _ => (ip("198.51.100.10"), ip("198.51.100.1"), None),
    };
    Translation {
        s_side: values(ip("203.0.113.1"), ip("203.0.113.2"), SGW_SPI, None),
        c_side: values(c_src, c_dst, RELAY_SPI, udp),
    }
}

/// One inbound SA of either kind.
enum Receiver {
    Sgw(InboundSa),
    Client(ClientInboundSa),
}

impl Receiver {
    fn new(suite: Suite, leg: Leg, flip: bool) -> Self {
        let sa = InboundSa::new(&config(suite, flip), Timestamp::ZERO).unwrap();
        match leg {
            Leg::Gateway => Self::Sgw(sa),
            _ => Self::Client(ClientInboundSa::new(sa, translation(suite, leg)).unwrap()),
        }
    }

    /// Opens a copy of `packet` (with room after it); returns the outcome as owned values.
    fn open(&mut self, packet: &[u8]) -> Result<(usize, Option<u64>, Option<u64>), SaError> {
        let mut buf = packet.to_vec();
        buf.resize(packet.len() + INBOUND_ROOM, 0);
        let now = Timestamp::ZERO;
        let opened = match self {
            Self::Sgw(sa) => sa.open(&mut buf, now),
            Self::Client(sa) => sa.open(&mut buf, now),
        }?;
        Ok((opened.packet.len(), opened.esp_seq, opened.ah_seq))
    }

    fn opened_count(&self) -> u64 {
        let c = match self {
            Self::Sgw(sa) => sa.counters(),
            Self::Client(sa) => sa.sa().counters(),
        };
        c.packets + c.dummy
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else {
        return;
    };
    let (suite, leg) = CASES[usize::from(selector) % CASES.len()];
    let mut sa = Receiver::new(suite, leg, false);
    let result = sa.open(packet);
    let counted = sa.opened_count();
    let Ok((len, esp_seq, ah_seq)) = result else {
        assert_eq!(counted, 0, "a refused packet was counted as opened");
        return;
    };
    assert_eq!(counted, 1);
    assert!(len <= packet.len() + INBOUND_ROOM);
    let has_ah = matches!(suite, Suite::AhSha256);
    assert_eq!(ah_seq.is_some(), has_ah);
    assert_eq!(esp_seq.is_some(), !has_ah);

    // The window moved: the same bytes again are a replay, and open nothing.
    let again = sa.open(packet);
    assert!(
        matches!(again, Err(SaError::Replayed { .. })),
        "replayed packet: {again:?}"
    );
    assert_eq!(sa.opened_count(), 1);

    // The ICV verified: one key bit off, the same bytes are refused.
    let mut wrong_key = Receiver::new(suite, leg, true);
    let forged = wrong_key.open(packet);
    assert!(forged.is_err(), "opened with the wrong key: {forged:?}");
});
