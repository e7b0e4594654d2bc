//! Bad input: every way a packet can be wrong gives its own typed error and bumps its own
//! counter, and nothing panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sa_support;

use std::time::Duration;

use ipsec_xlat::Timestamp;

use hmac::{Hmac, Mac};
use ipsec_xlat::sa::{
    EspSuite, InboundSa, InboundSad, Integrity, Lifetime, LifetimeEvent, OutboundSa, SaConfig,
    SaError,
};
use sa_support::{ah, esp, inner_v4, sa_config, tunnel_v4, tunnel_v6};
use sha2::Sha256;

const SPI: u32 = 0x0000_a001;

fn gcm_config() -> SaConfig {
    sa_config(
        tunnel_v4(),
        Some(esp(SPI, EspSuite::AES_GCM_16, 20, false)),
        None,
    )
}

fn pair(cfg: &SaConfig) -> (OutboundSa, InboundSa) {
    let now = Timestamp::ZERO;
    (
        OutboundSa::new(cfg, now).unwrap(),
        InboundSa::new(cfg, now).unwrap(),
    )
}

fn seal(out: &mut OutboundSa, inner: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let iv = vec![0x42u8; out.iv_len()];
    let s = out.seal(inner, &iv, Timestamp::ZERO, &mut buf).unwrap();
    buf.truncate(s.len);
    buf
}

fn open(sa: &mut InboundSa, packet: &[u8]) -> Result<Vec<u8>, SaError> {
    let mut b = packet.to_vec();
    sa.open(&mut b, Timestamp::ZERO).map(|o| o.packet.to_vec())
}

#[test]
fn every_truncation_is_a_typed_error() {
    for cfg in [
        gcm_config(),
        sa_config(
            tunnel_v6(),
            Some(esp(SPI, EspSuite::AES_CBC_HMAC_SHA1, 16, true)),
            None,
        ),
        sa_config(
            tunnel_v4(),
            None,
            Some(ah(SPI, Integrity::HmacSha256_128, false)),
        ),
        sa_config(
            tunnel_v6(),
            Some(esp(SPI, EspSuite::NULL_HMAC_SHA256, 0, false)),
            Some(ah(0x1000, Integrity::HmacSha1_96, false)),
        ),
    ] {
        let (mut tx, mut rx) = pair(&cfg);
        let packet = seal(&mut tx, &inner_v4(100, 0xab));
        for cut in 0..packet.len() {
            // As received: the IP length field now claims more than there is.
            let err = open(&mut rx, &packet[..cut]).unwrap_err();
            assert!(
                matches!(err, SaError::Truncated { .. }),
                "cut {cut}: {err:?}"
            );
            // With the IP length field fixed up to the cut: the IPsec layers are short.
            let mut short = packet[..cut].to_vec();
            if short.len() >= 40 && short[0] >> 4 == 6 {
                short[4..6].copy_from_slice(&((cut - 40) as u16).to_be_bytes());
            } else if short.len() >= 20 && short[0] >> 4 == 4 {
                short[2..4].copy_from_slice(&(cut as u16).to_be_bytes());
            }
            assert!(open(&mut rx, &short).is_err(), "cut {cut} opened");
        }
        assert!(rx.counters().truncated >= packet.len() as u64);
        assert_eq!(rx.counters().packets, 0);
        // And the intact packet still opens: nothing above moved the replay window.
        open(&mut rx, &packet).unwrap();
    }
}

#[test]
fn replayed_and_too_old_packets_are_refused_and_counted() {
    let mut cfg = gcm_config();
    cfg.replay_window = 32;
    let (mut tx, mut rx) = pair(&cfg);
    let packets: Vec<Vec<u8>> = (0..100).map(|i| seal(&mut tx, &inner_v4(60, i))).collect();
    open(&mut rx, &packets[99]).unwrap(); // seq 100
    assert_eq!(
        open(&mut rx, &packets[99]),
        Err(SaError::Replayed { seq: 100 })
    );
    open(&mut rx, &packets[68]).unwrap(); // seq 69: 100 - 69 = 31 < 32
    assert_eq!(
        open(&mut rx, &packets[68]),
        Err(SaError::Replayed { seq: 69 })
    );
    assert_eq!(
        open(&mut rx, &packets[67]),
        Err(SaError::TooOld { seq: 68 })
    );
    assert_eq!(open(&mut rx, &packets[0]), Err(SaError::TooOld { seq: 1 }));
    let c = rx.counters();
    assert_eq!((c.packets, c.replayed, c.too_old), (2, 2, 2));
}

#[test]
fn a_forged_packet_does_not_move_the_window() {
    let (mut tx, mut rx) = pair(&gcm_config());
    let first = seal(&mut tx, &inner_v4(60, 1));
    let second = seal(&mut tx, &inner_v4(60, 2));
    // Seq 1000 with a broken tag.
    let mut forged = first.clone();
    forged[24..28].copy_from_slice(&1000u32.to_be_bytes());
    assert_eq!(open(&mut rx, &forged), Err(SaError::BadIcv));
    assert_eq!(rx.counters().bad_icv, 1);
    // Had the window moved to 1000, seq 1 and 2 would now be too old.
    open(&mut rx, &second).unwrap();
    open(&mut rx, &first).unwrap();
}

#[test]
fn zero_sequence_number_is_refused_before_the_icv() {
    let (mut tx, mut rx) = pair(&gcm_config());
    let mut p = seal(&mut tx, &inner_v4(60, 1));
    p[24..28].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(open(&mut rx, &p), Err(SaError::ZeroSequence));
    assert_eq!(rx.counters().zero_sequence, 1);
    assert_eq!(rx.counters().bad_icv, 0);
}

#[test]
fn sequence_overflow_stops_the_sa() {
    let (mut tx, mut rx) = pair(&gcm_config());
    tx.resume_sequence_at(u64::from(u32::MAX));
    let last = seal(&mut tx, &inner_v4(60, 1));
    let mut buf = vec![0u8; 2048];
    for _ in 0..3 {
        assert_eq!(
            tx.seal(&inner_v4(60, 2), &[0; 8], Timestamp::ZERO, &mut buf),
            Err(SaError::SequenceOverflow)
        );
    }
    assert_eq!(tx.counters().sequence_overflow, 3);
    assert_eq!(tx.counters().packets, 1);
    rx.resume_replay_at(u64::from(u32::MAX) - 1);
    open(&mut rx, &last).unwrap();

    // With ESN the same point is just another number.
    let cfg = sa_config(
        tunnel_v4(),
        Some(esp(SPI, EspSuite::AES_GCM_16, 20, true)),
        None,
    );
    let (mut tx, mut rx) = pair(&cfg);
    tx.resume_sequence_at(u64::from(u32::MAX));
    rx.resume_replay_at(u64::from(u32::MAX) - 1);
    let a = seal(&mut tx, &inner_v4(60, 1));
    let b = seal(&mut tx, &inner_v4(60, 2));
    let mut ba = b.clone();
    let opened = rx.open(&mut ba, Timestamp::ZERO).unwrap();
    assert_eq!(opened.esp_seq, Some(1 << 32));
    let mut aa = a.clone();
    assert_eq!(
        rx.open(&mut aa, Timestamp::ZERO).unwrap().esp_seq,
        Some(u64::from(u32::MAX))
    );
}

#[test]
fn wrong_icv_length_is_a_typed_error() {
    // AH: the header announces 12 bytes of ICV, the SA's algorithm makes 16.
    let sha1 = sa_config(
        tunnel_v4(),
        None,
        Some(ah(SPI, Integrity::HmacSha1_96, false)),
    );
    let sha256 = sa_config(
        tunnel_v4(),
        None,
        Some(ah(SPI, Integrity::HmacSha256_128, false)),
    );
    let (mut tx, _) = pair(&sha1);
    let (_, mut rx) = pair(&sha256);
    let p = seal(&mut tx, &inner_v4(60, 1));
    assert_eq!(
        open(&mut rx, &p),
        Err(SaError::BadIcvLength {
            found: 12,
            expected: 16,
            icv_len: 16
        })
    );
    assert_eq!(rx.counters().bad_icv_length, 1);

    // ESP has no length field for the ICV: a 12-byte ICV read as 16 bytes simply fails.
    let sha1 = sa_config(
        tunnel_v4(),
        Some(esp(SPI, EspSuite::NULL_HMAC_SHA1, 0, false)),
        None,
    );
    let mut sha256 = sha1.clone();
    sha256.esp.as_mut().unwrap().suite = EspSuite::NULL_HMAC_SHA256;
    sha256.esp.as_mut().unwrap().integrity_key = sa_support::key(32, 2);
    let (mut tx, _) = pair(&sha1);
    let (_, mut rx) = pair(&sha256);
    let p = seal(&mut tx, &inner_v4(60, 1));
    assert_eq!(open(&mut rx, &p), Err(SaError::BadIcv));
}

#[test]
fn unknown_spi_is_counted_by_the_database() {
    let (mut tx, rx) = pair(&gcm_config());
    let mut sad = InboundSad::new();
    sad.insert(rx);
    let good = seal(&mut tx, &inner_v4(60, 1));
    let mut unknown = good.clone();
    unknown[20..24].copy_from_slice(&0x0bad_0badu32.to_be_bytes());
    assert_eq!(
        sad.open(&mut unknown, Timestamp::ZERO),
        Err(SaError::UnknownSpi { spi: 0x0bad_0bad })
    );
    assert_eq!(sad.counters().unknown_spi, 1);
    let mut g = good.clone();
    sad.open(&mut g, Timestamp::ZERO).unwrap();
    assert_eq!(sad.get(SPI).unwrap().counters().packets, 1);
    // A garbage datagram is counted by the database too.
    assert!(sad.open(&mut [0x45, 0, 0], Timestamp::ZERO).is_err());
    assert_eq!(sad.counters().truncated, 1);
}

/// Builds a NULL + HMAC-SHA256-128 ESP packet by hand with the given plaintext trailer, so
/// that the ICV is valid but the padding is not what RFC 4303 §2.4 prescribes.
fn handmade_null_esp(cfg: &SaConfig, plaintext: &[u8]) -> Vec<u8> {
    let e = cfg.esp.as_ref().unwrap();
    let mut esp = Vec::new();
    esp.extend_from_slice(&e.spi.to_be_bytes());
    esp.extend_from_slice(&1u32.to_be_bytes());
    esp.extend_from_slice(plaintext);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(e.integrity_key.as_bytes()).unwrap();
    mac.update(&esp);
    esp.extend_from_slice(&mac.finalize().into_bytes()[..16]);
    let total = 20 + esp.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        50,
        0,
        0,
        203,
        0,
        113,
        1,
        203,
        0,
        113,
        2,
    ];
    let sum = sa_support::ipv4_checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&esp);
    p
}

#[test]
fn bad_padding_and_next_header_are_typed_errors() {
    let cfg = sa_config(
        tunnel_v4(),
        Some(esp(SPI, EspSuite::NULL_HMAC_SHA256, 0, false)),
        None,
    );
    let inner = inner_v4(30, 0);
    // Valid: pad 1, 2, pad length 2, next header 4.
    let mut ok = inner.clone();
    ok.extend_from_slice(&[1, 2, 2, 4]);
    let (_, mut rx) = pair(&cfg);
    assert_eq!(open(&mut rx, &handmade_null_esp(&cfg, &ok)).unwrap(), inner);

    let mut bad = inner.clone();
    bad.extend_from_slice(&[7, 7, 2, 4]);
    let (_, mut rx) = pair(&cfg);
    assert_eq!(
        open(&mut rx, &handmade_null_esp(&cfg, &bad)),
        Err(SaError::BadPadding { pad_len: 2 })
    );
    assert_eq!(rx.counters().bad_padding, 1);

    let mut overrun = inner.clone();
    overrun.extend_from_slice(&[1, 2, 200, 4]);
    let (_, mut rx) = pair(&cfg);
    assert_eq!(
        open(&mut rx, &handmade_null_esp(&cfg, &overrun)),
        Err(SaError::BadPadding { pad_len: 200 })
    );

    // Tunnel mode carries IPv4 (4) or IPv6 (41); TCP (6) is not a tunnel payload.
    let mut tcp = inner.clone();
    tcp.extend_from_slice(&[1, 2, 2, 6]);
    let (_, mut rx) = pair(&cfg);
    assert_eq!(
        open(&mut rx, &handmade_null_esp(&cfg, &tcp)),
        Err(SaError::UnexpectedNextHeader { found: 6 })
    );
    // Next Header 41 with an IPv4 packet inside.
    let mut mismatch = inner.clone();
    mismatch.extend_from_slice(&[1, 2, 2, 41]);
    let (_, mut rx) = pair(&cfg);
    assert!(matches!(
        open(&mut rx, &handmade_null_esp(&cfg, &mismatch)),
        Err(SaError::BadPayload { .. })
    ));
    // A dummy packet (Next Header 59) opens and is flagged, not counted as traffic.
    let mut dummy = vec![0u8; 6];
    dummy.extend_from_slice(&[1, 2, 2, 59]);
    let (_, mut rx) = pair(&cfg);
    let mut p = handmade_null_esp(&cfg, &dummy);
    assert!(rx.open(&mut p, Timestamp::ZERO).unwrap().is_dummy());
    assert_eq!((rx.counters().dummy, rx.counters().packets), (1, 0));
}

#[test]
fn wrong_protocol_and_spi_are_typed_errors() {
    let esp_cfg = gcm_config();
    let ah_cfg = sa_config(
        tunnel_v4(),
        None,
        Some(ah(SPI, Integrity::HmacSha256_128, false)),
    );
    let (mut esp_tx, mut esp_rx) = pair(&esp_cfg);
    let (mut ah_tx, mut ah_rx) = pair(&ah_cfg);
    let e = seal(&mut esp_tx, &inner_v4(60, 1));
    let a = seal(&mut ah_tx, &inner_v4(60, 1));
    assert_eq!(
        open(&mut esp_rx, &a),
        Err(SaError::WrongProtocol {
            found: 51,
            expected: 50
        })
    );
    assert_eq!(
        open(&mut ah_rx, &e),
        Err(SaError::WrongProtocol {
            found: 50,
            expected: 51
        })
    );
    let mut other_spi = e.clone();
    other_spi[23] ^= 1;
    assert_eq!(
        open(&mut esp_rx, &other_spi),
        Err(SaError::SpiMismatch {
            found: SPI ^ 1,
            expected: SPI
        })
    );
    assert_eq!(esp_rx.counters().misdirected, 2);
}

#[test]
fn caller_mistakes_cost_no_sequence_number() {
    let (mut tx, mut rx) = pair(&gcm_config());
    let inner = inner_v4(100, 3);
    let mut small = vec![0u8; 50];
    assert!(matches!(
        tx.seal(&inner, &[0; 8], Timestamp::ZERO, &mut small),
        Err(SaError::BufferTooSmall { .. })
    ));
    let mut buf = vec![0u8; 2048];
    assert_eq!(
        tx.seal(&inner, &[0; 16], Timestamp::ZERO, &mut buf),
        Err(SaError::BadIvLength {
            found: 16,
            expected: 8
        })
    );
    assert!(matches!(
        tx.seal(&[0x12, 0x34], &[0; 8], Timestamp::ZERO, &mut buf),
        Err(SaError::BadPayload { .. })
    ));
    assert_eq!(tx.counters().local_errors, 2);
    assert_eq!(tx.counters().bad_payload, 1);
    let p = seal(&mut tx, &inner);
    let mut pb = p.clone();
    assert_eq!(rx.open(&mut pb, Timestamp::ZERO).unwrap().esp_seq, Some(1));
}

#[test]
fn lifetimes_fire_soft_then_hard_and_stop_the_sa() {
    let mut cfg = gcm_config();
    cfg.lifetime = Lifetime {
        soft_bytes: Some(250),
        hard_bytes: Some(400),
        soft_time: Some(Duration::from_secs(30)),
        hard_time: Some(Duration::from_secs(60)),
    };
    let t0 = Timestamp::ZERO;
    let mut tx = OutboundSa::new(&cfg, t0).unwrap();
    let mut rx = InboundSa::new(&cfg, t0).unwrap();
    let mut buf = vec![0u8; 2048];
    let inner = inner_v4(100, 0);
    let mut sent = Vec::new();
    for _ in 0..3 {
        let s = tx.seal(&inner, &[1; 8], t0, &mut buf).unwrap();
        sent.push(buf[..s.len].to_vec());
    }
    assert_eq!(tx.poll_event(), Some(LifetimeEvent::SoftBytes));
    assert_eq!(tx.poll_event(), None);
    let s = tx.seal(&inner, &[1; 8], t0, &mut buf).unwrap();
    sent.push(buf[..s.len].to_vec());
    assert_eq!(tx.poll_event(), Some(LifetimeEvent::HardBytes));
    assert!(tx.is_expired());
    assert_eq!(
        tx.seal(&inner, &[1; 8], t0, &mut buf),
        Err(SaError::LifetimeExpired)
    );
    assert_eq!(tx.counters().expired, 1);

    // Inbound: time limits.
    assert_eq!(rx.next_deadline(), Some(t0 + Duration::from_secs(30)));
    let mut p = sent[0].clone();
    rx.open(&mut p, t0 + Duration::from_secs(31)).unwrap();
    assert_eq!(rx.poll_event(), Some(LifetimeEvent::SoftTime));
    let mut p = sent[1].clone();
    assert_eq!(
        rx.open(&mut p, t0 + Duration::from_secs(61)).map(|_| ()),
        Err(SaError::LifetimeExpired)
    );
    assert_eq!(rx.poll_event(), Some(LifetimeEvent::HardTime));
    assert_eq!(rx.counters().expired, 1);
}

#[test]
fn config_errors_are_typed() {
    use ipsec_xlat::sa::ConfigError;
    let mut cfg = gcm_config();
    cfg.replay_window = 16;
    assert!(matches!(
        OutboundSa::new(&cfg, Timestamp::ZERO),
        Err(ConfigError::BadReplayWindow(16))
    ));
    let mut cfg = gcm_config();
    cfg.esp.as_mut().unwrap().spi = 255;
    assert!(matches!(
        InboundSa::new(&cfg, Timestamp::ZERO),
        Err(ConfigError::ReservedSpi(255))
    ));
    let mut cfg = gcm_config();
    cfg.esp.as_mut().unwrap().encryption_key = sa_support::key(16, 0);
    assert!(matches!(
        InboundSa::new(&cfg, Timestamp::ZERO),
        Err(ConfigError::BadKeyLength { .. })
    ));
    let mut cfg = sa_config(
        tunnel_v4(),
        None,
        Some(ah(SPI, Integrity::HmacSha1_96, false)),
    );
    cfg.udp_encap = Some(ipsec_xlat::sa::UdpEncap::NAT_T);
    assert!(matches!(
        InboundSa::new(&cfg, Timestamp::ZERO),
        Err(ConfigError::Unsupported(_))
    ));
}
