//! Property tests: seal then open gives the packet back for every suite, mode, IP version,
//! ESN and encapsulation; and no byte string makes `open` panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sa_support;

use ipsec_xlat::Timestamp;

use ipsec_xlat::sa::{InboundSa, Integrity, Mode, OutboundSa, SaConfig, UdpEncap};
use proptest::prelude::*;
use sa_support::{ah, esp, esp_suites, inner_v4, inner_v6, sa_config, tunnel_v4, tunnel_v6};

/// Every combination we support, by index.
fn configs() -> Vec<(String, SaConfig)> {
    let mut out = Vec::new();
    let modes = [
        ("tunnel4", tunnel_v4()),
        ("tunnel6", tunnel_v6()),
        ("transport", Mode::Transport),
    ];
    for (suite_name, suite, klen) in esp_suites() {
        for (mode_name, mode) in modes {
            for esn in [false, true] {
                for udp in [None, Some(UdpEncap::NAT_T)] {
                    let mut c = sa_config(mode, Some(esp(0x1001, suite, klen, esn)), None);
                    c.udp_encap = udp;
                    out.push((
                        format!(
                            "esp {suite_name} {mode_name} esn={esn} udp={}",
                            udp.is_some()
                        ),
                        c,
                    ));
                }
                for integ in [Integrity::HmacSha256_128, Integrity::HmacSha1_96] {
                    out.push((
                        format!("ah {integ:?} + esp {suite_name} {mode_name} esn={esn}"),
                        sa_config(
                            mode,
                            Some(esp(0x1001, suite, klen, esn)),
                            Some(ah(0x2002, integ, esn)),
                        ),
                    ));
                }
            }
        }
    }
    for integ in [Integrity::HmacSha256_128, Integrity::HmacSha1_96] {
        for (mode_name, mode) in modes {
            for esn in [false, true] {
                out.push((
                    format!("ah {integ:?} {mode_name} esn={esn}"),
                    sa_config(mode, None, Some(ah(0x2002, integ, esn))),
                ));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn seal_then_open_round_trips(
        idx in 0usize..10_000,
        len in 0usize..1500,
        fill in any::<u8>(),
        v6 in any::<bool>(),
        iv_seed in any::<[u8; 16]>(),
        start in prop_oneof![Just(1u64), 1u64..u64::from(u32::MAX), Just(u64::from(u32::MAX))],
        count in 1usize..4,
    ) {
        let all = configs();
        let (name, cfg) = &all[idx % all.len()];
        let now = Timestamp::ZERO;
        let mut tx = OutboundSa::new(cfg, now).unwrap();
        let mut rx = InboundSa::new(cfg, now).unwrap();
        tx.resume_sequence_at(start);
        rx.resume_replay_at(start - 1);
        let esn = cfg.esp.as_ref().is_some_and(|e| e.esn) || cfg.ah.as_ref().is_some_and(|a| a.esn);
        let packet = if v6 { inner_v6(len.max(48), fill) } else { inner_v4(len.max(28), fill) };
        let mut buf = vec![0u8; 2048];
        for k in 0..count as u64 {
            let iv = &iv_seed[..tx.iv_len()];
            let seq = start + k;
            let r = tx.seal(&packet, iv, now, &mut buf);
            if !esn && seq > u64::from(u32::MAX) {
                prop_assert_eq!(r, Err(ipsec_xlat::sa::SaError::SequenceOverflow), "{}", name);
                continue;
            }
            let sealed = r.unwrap();
            prop_assert_eq!(sealed.len, tx.sealed_len(&packet).unwrap());
            let wire = &mut buf[..sealed.len];
            let opened = rx.open(wire, now).unwrap_or_else(|e| panic!("{name}: {e}"));
            prop_assert_eq!(opened.packet, &packet[..], "{}", name);
            prop_assert_eq!(opened.esp_seq.or(opened.ah_seq), Some(seq));
        }
    }

    /// Random bytes (and random bytes behind a plausible IPv4/IPv6 + ESP/AH header) never
    /// panic and never open.
    #[test]
    fn garbage_never_panics(
        idx in 0usize..10_000,
        mut bytes in proptest::collection::vec(any::<u8>(), 0..400),
        shape in 0u8..4,
    ) {
        let all = configs();
        let (_, cfg) = &all[idx % all.len()];
        let mut rx = InboundSa::new(cfg, Timestamp::ZERO).unwrap();
        if bytes.len() >= 48 {
            let n = bytes.len();
            match shape {
                0 => {
                    bytes[0] = 0x45;
                    bytes[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                    bytes[6] = 0x40;
                    bytes[7] = 0;
                    bytes[9] = [50, 51, 17][n % 3];
                }
                1 => {
                    bytes[0] = 0x60;
                    bytes[4..6].copy_from_slice(&((n - 40) as u16).to_be_bytes());
                    bytes[6] = [50, 51, 17][n % 3];
                }
                _ => {}
            }
            // Point the SPI at the SA so the crypto path runs.
            let spi = cfg.ah.as_ref().map(|a| a.spi).or(cfg.esp.as_ref().map(|e| e.spi)).unwrap();
            let hl = if bytes[0] >> 4 == 4 { 20 } else { 40 };
            let at = if bytes[9.min(n - 1)] == 51 || bytes[6] == 51 { hl + 4 } else { hl };
            if at + 4 <= n {
                bytes[at..at + 4].copy_from_slice(&spi.to_be_bytes());
            }
        }
        prop_assert!(rx.open(&mut bytes, Timestamp::ZERO).is_err());
        prop_assert_eq!(rx.counters().errors(), 1);
    }
}

#[test]
fn there_are_many_configurations() {
    // 8 ESP suites x 3 modes x 2 ESN x (2 encapsulations + 2 AH) + 2 AH x 3 modes x 2 ESN.
    assert_eq!(configs().len(), 8 * 3 * 2 * 4 + 2 * 3 * 2);
}
