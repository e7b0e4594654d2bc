//! Known-answer tests against an independent implementation (scapy, re-checked by the oracle's
//! hand-written `ref.py`): every vector under `tests/data/vectors/` (tunnel mode at the top,
//! `transport/` and `bundle/` below it) must
//! 1. open: `outer_hex` -> `inner_hex`;
//! 2. seal: `inner_hex` with the vector's IV and sequence number -> `outer_hex`, byte for byte;
//! 3. refuse `relay_side_outer_hex` as it stands — and with the SPI check out of the way (an SA
//!    keyed identically but labelled with the relay-side SPIs) fail on the ICV itself;
//! 4. open `relay_side_outer_hex` after the client's post-translation, and produce exactly
//!    `relay_side_outer_hex` from the client's pre-translation;
//! 5. for AH: open `in_transit_mutated.outer_hex` (mutable fields changed en route).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sa_support;

use ipsec_xlat::Timestamp;

use ipsec_xlat::sa::{
    ClientInboundSa, ClientOutboundSa, InboundSa, OutboundSa, SaError, Translation,
};
use sa_support::{all_vectors, Vector};

fn open(v: &Vector, cfg: &ipsec_xlat::sa::SaConfig, bytes: &[u8]) -> Result<Vec<u8>, SaError> {
    let mut sa = InboundSa::new(cfg, Timestamp::ZERO).unwrap();
    sa.resume_replay_at(v.highest_before());
    let mut buf = bytes.to_vec();
    sa.open(&mut buf, Timestamp::ZERO)
        .map(|o| o.packet.to_vec())
}

/// Tunnel mode: the inner packet exactly. Transport mode: the packet keeps the outer header
/// it arrived with (whose mutable fields or, for ESP, c-side addresses differ from the
/// vector's), so compare its payload and that the header's lengths were fixed up.
fn assert_same_packet(v: &Vector, got: &[u8]) {
    if !v.is_transport() {
        assert_eq!(hex::encode(got), hex::encode(&v.inner), "{}", v.name);
        return;
    }
    let hl = v.inner_header_len();
    assert_eq!(got.len(), v.inner.len(), "{}", v.name);
    assert_eq!(got[hl..], v.inner[hl..], "{}", v.name);
    if v.inner[0] >> 4 == 4 {
        assert_eq!(got[2..4], v.inner[2..4], "{}: total length", v.name);
        assert_eq!(got[9], v.inner[9], "{}: protocol", v.name);
    } else {
        assert_eq!(
            got[4..7],
            v.inner[4..7],
            "{}: payload length, next header",
            v.name
        );
    }
}

fn outbound(v: &Vector) -> OutboundSa {
    let mut sa = OutboundSa::new(&v.config, Timestamp::ZERO).unwrap();
    sa.resume_sequences_at(v.esp_seq, v.ah_seq);
    sa
}

#[test]
fn there_are_vectors_of_every_kind() {
    let vs = all_vectors();
    let count = |f: &dyn Fn(&Vector) -> bool| vs.iter().filter(|v| f(v)).count();
    assert!(vs.len() >= 37, "found only {} vectors", vs.len());
    assert!(count(&|v| v.name.starts_with("esp-")) >= 20);
    assert!(count(&|v| v.name.starts_with("ah-")) >= 9);
    assert!(count(&|v| v.name.starts_with("transport-")) >= 4);
    assert!(count(&|v| v.name.starts_with("bundle-")) >= 3);
    assert!(count(&|v| v.mutated.is_some()) >= 8);
}

#[test]
fn every_vector_opens_to_its_inner_packet() {
    for v in all_vectors() {
        let got = open(&v, &v.config, &v.outer).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(hex::encode(got), hex::encode(&v.inner), "{}", v.name);
    }
}

#[test]
fn every_vector_seals_byte_for_byte() {
    for v in all_vectors() {
        let mut sa = outbound(&v);
        let mut out = vec![0u8; 2048];
        let sealed = sa
            .seal(&v.inner, &v.iv, Timestamp::ZERO, &mut out)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(
            hex::encode(&out[..sealed.len]),
            hex::encode(&v.outer),
            "{}",
            v.name
        );
        assert_eq!(
            sa.sealed_len(&v.inner).unwrap(),
            v.outer.len(),
            "{}",
            v.name
        );
        assert_eq!(sa.counters().packets, 1);
    }
}

#[test]
fn relay_side_bytes_fail_as_they_stand() {
    for v in all_vectors() {
        // With the SA as it stands: refused (the SPI is not this SA's).
        let err = open(&v, &v.config, &v.relay_side).unwrap_err();
        assert!(
            matches!(err, SaError::SpiMismatch { .. }),
            "{}: {err:?}",
            v.name
        );
        // Same keys but labelled with the relay-side SPIs, so only the ICV decides: it fails,
        // because the ICV covers the SGW-side SPI (and, for AH, the outer addresses).
        let relabelled = v.config_with_spis(v.relay_spis());
        let err = open(&v, &relabelled, &v.relay_side).unwrap_err();
        assert_eq!(err, SaError::BadIcv, "{}", v.name);
    }
}

#[test]
fn relay_side_bytes_open_after_post_translation() {
    for v in all_vectors() {
        let translation = Translation {
            s_side: v.sgw_side,
            c_side: v.relay_side_values,
        };
        let mut sa = InboundSa::new(&v.config, Timestamp::ZERO).unwrap();
        sa.resume_replay_at(v.highest_before());
        let mut client = ClientInboundSa::new(sa, translation).unwrap();
        let mut buf = v.relay_side.clone();
        let opened = client
            .open(&mut buf, Timestamp::ZERO)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_same_packet(&v, opened.packet);
    }
}

#[test]
fn post_translation_restores_exactly_what_the_icv_covers() {
    for v in all_vectors() {
        let translation = Translation {
            s_side: v.sgw_side,
            c_side: v.relay_side_values,
        };
        let mut buf = v.relay_side.clone();
        translation.to_s_side(&mut buf).unwrap();
        if v.has_ah() {
            // AH: SPIs and addresses restored, IPv4 checksum refilled: the SGW's exact bytes.
            assert_eq!(hex::encode(&buf), hex::encode(&v.outer), "{}", v.name);
        } else {
            // ESP: only the SPI is restored; the outer header is not covered and stays c-side.
            let esp_at = v.outer.len() - v.esp_len();
            assert_eq!(buf[esp_at..], v.outer[esp_at..], "{}", v.name);
            assert_eq!(buf[..esp_at], v.relay_side[..esp_at], "{}", v.name);
        }
    }
}

#[test]
fn pre_translation_produces_the_relay_side_bytes() {
    for v in all_vectors() {
        let translation = Translation {
            s_side: v.sgw_side,
            c_side: v.relay_side_values,
        };
        let mut client = ClientOutboundSa::new(outbound(&v), translation).unwrap();
        let mut out = vec![0u8; 2048];
        let sealed = client
            .seal(&v.inner, &v.iv, Timestamp::ZERO, &mut out)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(
            hex::encode(&out[..sealed.len]),
            hex::encode(&v.relay_side),
            "{}",
            v.name
        );
    }
}

#[test]
fn ah_vectors_mutated_in_transit_still_open() {
    let mut seen = 0;
    for v in all_vectors() {
        if let Some(mutated) = &v.mutated {
            let got = open(&v, &v.config, mutated).unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_same_packet(&v, &got);
            seen += 1;
        }
    }
    assert!(seen >= 8);
}

#[test]
fn a_flipped_bit_anywhere_after_the_header_fails() {
    for v in all_vectors() {
        // Every byte from the first IPsec header on is covered by the ICV (ESP: from the SPI;
        // AH: everything but the mutable IP fields).
        let start = v.outer.len() - v.protected_len();
        for i in (start..v.outer.len()).step_by(7) {
            let mut bad = v.outer.clone();
            bad[i] ^= 0x01;
            let r = open(&v, &v.config, &bad);
            assert!(r.is_err(), "{}: flipped byte {i} still opened", v.name);
        }
    }
}
