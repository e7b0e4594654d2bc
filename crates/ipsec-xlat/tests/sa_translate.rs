//! End to end in memory: client (with ICV pre/post-translation) -> relay rewrite -> SGW, and
//! back, for every suite, ESP, AH and AH+ESP, IPv4 and IPv6 on either side (ESP also across
//! versions and with UDP encapsulation on either leg). The relay here is the stand-in in
//! `sa_support` (written from the RFCs, not from `sa::translate`).
//!
//! The translation is sufficient (everything opens) and necessary: a client that skips it,
//! or a relay that gets an immutable field wrong, makes the SGW's ICV check fail; mutable
//! fields may change freely.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sa_support;

use ipsec_xlat::Timestamp;
use std::net::IpAddr;

use ipsec_xlat::sa::{
    AhConfig, ClientInboundSa, ClientOutboundSa, EspConfig, EspSuite, InboundSa, Integrity, Mode,
    OutboundSa, SaConfig, SaError, SideValues, Translation, TunnelHeader, UdpEncap, INBOUND_ROOM,
};
use ipsec_xlat::wire::encap::AH_IN_UDP_MARKER;
use proptest::prelude::*;
use sa_support::{ah, esp, esp_suites, inner_v4, inner_v6, relay_rewrite};

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Addresses of the four parties: client, relay c-side, relay s-side, SGW.
struct Plan {
    client: IpAddr,
    relay_c: IpAddr,
    relay_s: IpAddr,
    sgw: IpAddr,
}

fn plan(c_v6: bool, s_v6: bool) -> Plan {
    let (client, relay_c) = if c_v6 {
        (a("2001:db8:100::10"), a("2001:db8:100::1"))
    } else {
        (a("198.51.100.10"), a("198.51.100.1"))
    };
    let (relay_s, sgw) = if s_v6 {
        (a("2001:db8:113::1"), a("2001:db8:113::2"))
    } else {
        (a("203.0.113.1"), a("203.0.113.2"))
    };
    Plan {
        client,
        relay_c,
        relay_s,
        sgw,
    }
}

#[derive(Clone)]
struct Scenario {
    name: String,
    esp: Option<EspConfig>,
    ah: Option<AhConfig>,
    c_v6: bool,
    s_v6: bool,
    c_udp: Option<UdpEncap>,
    s_udp: Option<UdpEncap>,
}

/// One direction's SA config with `spis` (esp, ah) and tunnel endpoints.
fn config(s: &Scenario, src: IpAddr, dst: IpAddr, esp_spi: u32, ah_spi: u32) -> SaConfig {
    let mut cfg = sa_support::sa_config(
        Mode::Tunnel(TunnelHeader::between(src, dst).unwrap()),
        s.esp.clone().map(|mut e| {
            e.spi = esp_spi;
            e
        }),
        s.ah.clone().map(|mut h| {
            h.spi = ah_spi;
            h
        }),
    );
    cfg.udp_encap = s.s_udp;
    cfg
}

fn side(
    s: &Scenario,
    src: IpAddr,
    dst: IpAddr,
    esp_spi: u32,
    ah_spi: u32,
    udp: Option<UdpEncap>,
) -> SideValues {
    SideValues {
        src,
        dst,
        esp_spi: s.esp.as_ref().map(|_| esp_spi),
        ah_spi: s.ah.as_ref().map(|_| ah_spi),
        udp_encap: udp,
    }
}

fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    let nat = Some(UdpEncap {
        src_port: 4500,
        dst_port: 4500,
    });
    let nat_c = Some(UdpEncap {
        src_port: 61_000,
        dst_port: 4500,
    });
    for (name, suite, klen) in esp_suites() {
        for (c_v6, s_v6) in [(false, false), (true, true), (true, false), (false, true)] {
            for (c_udp, s_udp) in [(None, None), (nat_c, None), (None, nat), (nat_c, nat)] {
                out.push(Scenario {
                    name: format!(
                        "esp {name} c-v6={c_v6} s-v6={s_v6} c-udp={} s-udp={}",
                        c_udp.is_some(),
                        s_udp.is_some()
                    ),
                    esp: Some(esp(0, suite, klen, false)),
                    ah: None,
                    c_v6,
                    s_v6,
                    c_udp,
                    s_udp,
                });
            }
        }
        for integ in [Integrity::HmacSha256_128, Integrity::HmacSha1_96] {
            for v6 in [false, true] {
                out.push(Scenario {
                    name: format!("ah {integ:?} + esp {name} v6={v6}"),
                    esp: Some(esp(0, suite, klen, true)),
                    ah: Some(ah(0, integ, true)),
                    c_v6: v6,
                    s_v6: v6,
                    c_udp: None,
                    s_udp: None,
                });
            }
        }
    }
    for integ in [Integrity::HmacSha256_128, Integrity::HmacSha1_96] {
        for v6 in [false, true] {
            for esn in [false, true] {
                out.push(Scenario {
                    name: format!("ah {integ:?} v6={v6} esn={esn}"),
                    esp: None,
                    ah: Some(ah(0, integ, esn)),
                    c_v6: v6,
                    s_v6: v6,
                    c_udp: None,
                    s_udp: None,
                });
            }
        }
    }
    out
}

/// SPIs: s-side as the SGW knows them, c-side as the relay allocated them.
const S_UP: (u32, u32) = (0x5000_0001, 0x5000_0002);
const C_UP: (u32, u32) = (0xc000_0001, 0xc000_0002);
const S_DOWN: (u32, u32) = (0x5000_0101, 0x5000_0102);
const C_DOWN: (u32, u32) = (0xc000_0101, 0xc000_0102);

struct Parties {
    client_out: ClientOutboundSa,
    client_in: ClientInboundSa,
    sgw_out: OutboundSa,
    sgw_in: InboundSa,
    up_s: SideValues,
    down_c: SideValues,
}

fn parties(s: &Scenario) -> Parties {
    let p = plan(s.c_v6, s.s_v6);
    let now = Timestamp::ZERO;
    let up = config(s, p.relay_s, p.sgw, S_UP.0, S_UP.1);
    let down = config(s, p.sgw, p.relay_s, S_DOWN.0, S_DOWN.1);
    let up_s = side(s, p.relay_s, p.sgw, S_UP.0, S_UP.1, s.s_udp);
    let up_c = side(s, p.client, p.relay_c, C_UP.0, C_UP.1, s.c_udp);
    let down_s = side(s, p.sgw, p.relay_s, S_DOWN.0, S_DOWN.1, s.s_udp);
    let down_c = side(s, p.relay_c, p.client, C_DOWN.0, C_DOWN.1, s.c_udp);
    Parties {
        client_out: ClientOutboundSa::new(
            OutboundSa::new(&up, now).unwrap(),
            Translation {
                s_side: up_s,
                c_side: up_c,
            },
        )
        .unwrap(),
        client_in: ClientInboundSa::new(
            InboundSa::new(&down, now).unwrap(),
            Translation {
                s_side: down_s,
                c_side: down_c,
            },
        )
        .unwrap(),
        sgw_out: OutboundSa::new(&down, now).unwrap(),
        sgw_in: InboundSa::new(&up, now).unwrap(),
        up_s,
        down_c,
    }
}

fn inner(v6: bool, len: usize, fill: u8) -> Vec<u8> {
    if v6 {
        inner_v6(len.max(48), fill)
    } else {
        inner_v4(len.max(28), fill)
    }
}

fn iv(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| seed ^ (i as u8)).collect()
}

/// Client -> relay -> SGW and SGW -> relay -> client for one packet each way.
fn round_trip(s: &Scenario, p: &mut Parties, up_inner: &[u8], down_inner: &[u8], seed: u8) {
    let now = Timestamp::ZERO;
    let mut buf = vec![0u8; 4096];
    let n = p.client_out.sa().iv_len();
    let sealed = p
        .client_out
        .seal(up_inner, &iv(n, seed), now, &mut buf)
        .unwrap();
    let on_c = buf[..sealed.len].to_vec();
    let (_, _, ah_at, esp_at) = sa_support::parse_offsets(&on_c);
    // What travels client -> relay carries only c-side values.
    if let Some((off, _)) = ah_at {
        assert_eq!(on_c[off + 4..off + 8], C_UP.1.to_be_bytes(), "{}", s.name);
    }
    if let Some(off) = esp_at {
        assert_eq!(on_c[off..off + 4], C_UP.0.to_be_bytes(), "{}", s.name);
    }
    let mut on_s = relay_rewrite(&on_c, &p.up_s);
    let opened = p
        .sgw_in
        .open(&mut on_s, now)
        .unwrap_or_else(|e| panic!("{}: SGW: {e}", s.name));
    assert_eq!(opened.packet, up_inner, "{}", s.name);

    let n = p.sgw_out.iv_len();
    let sealed = p
        .sgw_out
        .seal(down_inner, &iv(n, !seed), now, &mut buf)
        .unwrap();
    let mut on_c = relay_rewrite(&buf[..sealed.len], &p.down_c);
    let opened = p
        .client_in
        .open(&mut on_c, now)
        .unwrap_or_else(|e| panic!("{}: client: {e}", s.name));
    assert_eq!(opened.packet, down_inner, "{}", s.name);
}

#[test]
fn every_scenario_round_trips_through_the_relay() {
    let all = scenarios();
    assert!(all.len() > 150);
    for s in &all {
        let mut p = parties(s);
        for (i, len) in [60usize, 61, 62, 63, 64, 1400].into_iter().enumerate() {
            let up = inner(i % 2 == 0, len, i as u8);
            let down = inner(i % 2 == 1, len + 3, 0x80 | i as u8);
            round_trip(s, &mut p, &up, &down, i as u8);
        }
    }
}

/// A client that does not pre-translate (seals with the c-side SPIs and addresses it sees)
/// produces packets the SGW rejects even after a perfect relay rewrite; likewise a client
/// that does not post-translate cannot verify the SGW's packets.
#[test]
fn without_translation_the_icv_fails() {
    for s in scenarios() {
        let p = plan(s.c_v6, s.s_v6);
        let now = Timestamp::ZERO;
        let mut naive = config(&s, p.client, p.relay_c, C_UP.0, C_UP.1);
        naive.udp_encap = s.c_udp;
        let mut naive_out = OutboundSa::new(&naive, now).unwrap();
        let mut parties = parties(&s);
        let mut buf = vec![0u8; 4096];
        let up = inner(false, 100, 1);
        let n = naive_out.iv_len();
        let sealed = naive_out.seal(&up, &iv(n, 1), now, &mut buf).unwrap();
        let mut on_s = relay_rewrite(&buf[..sealed.len], &parties.up_s);
        assert_eq!(
            parties.sgw_in.open(&mut on_s, now).map(|_| ()),
            Err(SaError::BadIcv),
            "{}",
            s.name
        );

        let mut naive_in = config(&s, p.relay_c, p.client, C_DOWN.0, C_DOWN.1);
        naive_in.udp_encap = s.c_udp;
        let mut naive_in = InboundSa::new(&naive_in, now).unwrap();
        let down = inner(false, 100, 2);
        let n = parties.sgw_out.iv_len();
        let sealed = parties
            .sgw_out
            .seal(&down, &iv(n, 2), now, &mut buf)
            .unwrap();
        let mut on_c = relay_rewrite(&buf[..sealed.len], &parties.down_c);
        assert_eq!(
            naive_in.open(&mut on_c, now).map(|_| ()),
            Err(SaError::BadIcv),
            "{}",
            s.name
        );
    }
}

/// For AH, every immutable outer field the relay emits must be the one the client signed.
#[test]
fn ah_relay_must_reproduce_immutable_fields() {
    for s in scenarios().into_iter().filter(|s| s.ah.is_some()) {
        let mut p = parties(&s);
        let now = Timestamp::ZERO;
        let mut buf = vec![0u8; 4096];
        let n = p.client_out.sa().iv_len();
        let sealed = p
            .client_out
            .seal(&inner(false, 80, 7), &iv(n, 3), now, &mut buf)
            .unwrap();
        let good = relay_rewrite(&buf[..sealed.len], &p.up_s);
        let v4 = !s.s_v6;
        // (offset, xor): immutable fields. IPv4: Identification, source, destination, length
        // (kept consistent by padding the packet); IPv6: source, destination.
        let immutable: Vec<usize> = if v4 { vec![4, 5, 12, 19] } else { vec![8, 39] };
        for off in immutable {
            let mut bad = good.clone();
            bad[off] ^= 0x01;
            if v4 {
                bad[10..12].fill(0);
                let sum = sa_support::ipv4_checksum(&bad[..20]);
                bad[10..12].copy_from_slice(&sum.to_be_bytes());
            }
            let mut sgw =
                InboundSa::new(&config(&s, p_relay_s(&s), p_sgw(&s), S_UP.0, S_UP.1), now).unwrap();
            assert_eq!(
                sgw.open(&mut bad, now).map(|_| ()),
                Err(SaError::BadIcv),
                "{}: byte {off}",
                s.name
            );
        }
        // Mutable fields: TTL/hop limit, DSCP/traffic class, DF, flow label may change en route.
        let mutable: Vec<(usize, u8)> = if v4 {
            vec![(8, 0x3f), (1, 0xb8), (6, 0x40)]
        } else {
            vec![(7, 0x3f), (0, 0x0b), (1, 0xff), (3, 0x55)]
        };
        let mut changed = good.clone();
        for (off, x) in mutable {
            changed[off] ^= x;
        }
        if v4 {
            changed[10..12].fill(0);
            let sum = sa_support::ipv4_checksum(&changed[..20]);
            changed[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        p.sgw_in
            .open(&mut changed, now)
            .unwrap_or_else(|e| panic!("{}: mutable fields: {e}", s.name));
    }
}

fn p_relay_s(s: &Scenario) -> IpAddr {
    plan(s.c_v6, s.s_v6).relay_s
}

fn p_sgw(s: &Scenario) -> IpAddr {
    plan(s.c_v6, s.s_v6).sgw
}

/// AH with a client leg of another form than the gateway leg's: pre-translation gives the
/// relay's client-leg form (s-side Identification in AH's Reserved unless the client leg is
/// raw IPv4; UDP with the marker), and post-translation of that form gives back exactly the
/// bytes the client sealed — the SGW's packet.
#[test]
fn ah_changes_form_and_carries_identification_in_reserved() {
    let ah_in_udp = UdpEncap {
        src_port: 61_000,
        dst_port: 4500,
    };
    for esp_too in [false, true] {
        for s_v6 in [false, true] {
            for (c_v6, c_udp) in [
                (false, None),
                (true, None),
                (false, Some(ah_in_udp)),
                (true, Some(ah_in_udp)),
            ] {
                let s = Scenario {
                    name: format!(
                        "ah esp={esp_too} s-v6={s_v6} c-v6={c_v6} c-udp={}",
                        c_udp.is_some()
                    ),
                    esp: esp_too.then(|| esp(0, EspSuite::AES_GCM_16, 20, false)),
                    ah: Some(ah(0, Integrity::HmacSha1_96, false)),
                    c_v6,
                    s_v6,
                    c_udp,
                    s_udp: None,
                };
                let p = plan(c_v6, s_v6);
                let cfg = config(&s, p.relay_s, p.sgw, S_UP.0, S_UP.1);
                let translation = Translation {
                    s_side: side(&s, p.relay_s, p.sgw, S_UP.0, S_UP.1, None),
                    c_side: side(&s, p.client, p.relay_c, C_UP.0, C_UP.1, c_udp),
                };
                let now = Timestamp::ZERO;
                let mut plain = OutboundSa::new(&cfg, now).unwrap();
                plain.set_next_ident(0x4321);
                let mut sealed = vec![0u8; 4096];
                let iv = vec![9u8; plain.iv_len()];
                let n = plain
                    .seal(&inner(false, 90, 4), &iv, now, &mut sealed)
                    .unwrap()
                    .len;
                sealed.truncate(n);

                let mut buf = sealed.clone();
                buf.resize(4096, 0);
                let len = translation.to_c_side(&mut buf, n).unwrap();
                let c_form = buf[..len].to_vec();
                let ip = if c_v6 { 40 } else { 20 };
                let ah_at = match c_udp {
                    None => ip,
                    Some(_) => {
                        assert_eq!(c_form[ip + 8..ip + 12], AH_IN_UDP_MARKER, "{}", s.name);
                        assert_eq!(
                            usize::from(u16::from_be_bytes([c_form[ip + 4], c_form[ip + 5]])),
                            len - ip,
                            "{}",
                            s.name
                        );
                        ip + 12
                    }
                };
                let carried = !s_v6 && (c_v6 || c_udp.is_some());
                let reserved = u16::from_be_bytes([c_form[ah_at + 2], c_form[ah_at + 3]]);
                assert_eq!(reserved, if carried { 0x4321 } else { 0 }, "{}", s.name);
                assert_eq!(
                    c_form[ah_at + 4..ah_at + 8],
                    C_UP.1.to_be_bytes(),
                    "{}",
                    s.name
                );
                // After AH's SPI (and, in a bundle, after ESP's SPI) every byte is the sealed one.
                let s_ah = if s_v6 { 40 } else { 20 };
                let ah_len = (usize::from(sealed[s_ah + 1]) + 2) * 4;
                assert_eq!(
                    c_form[ah_at + 8..ah_at + ah_len],
                    sealed[s_ah + 8..s_ah + ah_len],
                    "{}",
                    s.name
                );
                if esp_too {
                    assert_eq!(
                        c_form[ah_at + ah_len..ah_at + ah_len + 4],
                        C_UP.0.to_be_bytes()
                    );
                    assert_eq!(
                        c_form[ah_at + ah_len + 4..],
                        sealed[s_ah + ah_len + 4..],
                        "{}",
                        s.name
                    );
                }

                // Back: the c-side form, with room after it, restores the sealed packet exactly.
                let mut received = c_form.clone();
                received.resize(len + INBOUND_ROOM, 0xee);
                let range = translation.to_s_side(&mut received).unwrap();
                assert_eq!(
                    hex::encode(&received[range]),
                    hex::encode(&sealed),
                    "{}",
                    s.name
                );

                // Without the room, an IPv4 client leg (raw, or UDP: 32 bytes) cannot grow into an IPv6
                // gateway leg's 40-byte header.
                let mut tight = c_form.clone();
                let r = translation.to_s_side(&mut tight);
                if s_v6 && !c_v6 {
                    assert!(
                        matches!(r, Err(SaError::BufferTooSmall { .. })),
                        "{}: {r:?}",
                        s.name
                    );
                    assert_eq!(tight, c_form, "{}: refused but changed", s.name);
                } else {
                    assert_eq!(
                        hex::encode(&tight[r.unwrap()]),
                        hex::encode(&sealed),
                        "{}",
                        s.name
                    );
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any packet, any scenario: the relay changes only addresses, SPIs (and ports), and the
    /// SGW gets the client's packet back; the c-side bytes after the SPIs are exactly the
    /// s-side bytes after the SPIs.
    #[test]
    fn any_packet_survives_the_relay(
        idx in 0usize..1000,
        len in 28usize..1500,
        fill in any::<u8>(),
        v6_inner in any::<bool>(),
        seed in any::<u8>(),
    ) {
        let all = scenarios();
        let s = &all[idx % all.len()];
        let mut p = parties(s);
        let up = inner(v6_inner, len, fill);
        let now = Timestamp::ZERO;
        let mut buf = vec![0u8; 4096];
        let n = p.client_out.sa().iv_len();
        let sealed = p.client_out.seal(&up, &iv(n, seed), now, &mut buf).unwrap();
        let on_c = buf[..sealed.len].to_vec();
        let mut on_s = relay_rewrite(&on_c, &p.up_s);
        // Only the SPI fields differ from the first IPsec header on.
        let (_, _, ah_c, esp_c) = sa_support::parse_offsets(&on_c);
        let (_, _, ah_s, esp_s) = sa_support::parse_offsets(&on_s);
        let first_c = ah_c.map(|x| x.0).or(esp_c).unwrap();
        let first_s = ah_s.map(|x| x.0).or(esp_s).unwrap();
        let spi_fields: Vec<usize> = ah_c.map(|(o, _)| o + 4 - first_c).into_iter()
            .chain(esp_c.map(|o| o - first_c)).collect();
        let (c_tail, s_tail) = (&on_c[first_c..], &on_s[first_s..]);
        prop_assert_eq!(c_tail.len(), s_tail.len());
        for (i, (x, y)) in c_tail.iter().zip(s_tail).enumerate() {
            let in_spi = spi_fields.iter().any(|&f| (f..f + 4).contains(&i));
            if !in_spi {
                prop_assert_eq!(x, y, "byte {} after the first IPsec header differs", i);
            }
        }
        let opened = p.sgw_in.open(&mut on_s, now).unwrap();
        prop_assert_eq!(opened.packet, &up[..]);
    }
}

#[test]
fn post_translation_refuses_packets_of_other_c_spis() {
    for s in scenarios().into_iter().step_by(7) {
        let mut p = parties(&s);
        let now = Timestamp::ZERO;
        let mut buf = vec![0u8; 4096];
        let n = p.sgw_out.iv_len();
        let sealed = p
            .sgw_out
            .seal(&inner(false, 90, 1), &iv(n, 1), now, &mut buf)
            .unwrap();
        let mut wrong = p.down_c;
        wrong.esp_spi = wrong.esp_spi.map(|x| x ^ 0x10);
        wrong.ah_spi = wrong.ah_spi.map(|x| x ^ 0x10);
        let mut on_c = relay_rewrite(&buf[..sealed.len], &wrong);
        let before = on_c.clone();
        let err = p.client_in.open(&mut on_c, now).unwrap_err();
        assert!(
            matches!(err, SaError::SpiMismatch { .. }),
            "{}: {err:?}",
            s.name
        );
        assert_eq!(
            on_c, before,
            "{}: a refused packet is left as received",
            s.name
        );
        assert_eq!(p.client_in.sa().counters().misdirected, 1, "{}", s.name);
    }
}
