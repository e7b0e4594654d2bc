//! Quick mode cores: SA payload bytes and HASH(1) verification against strongSwan's real qm1,
//! and complete main mode + quick mode exchanges between our cores in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod ike_lab;
mod ike_support;

use core::net::{Ipv4Addr, SocketAddr};

use ike_lab::{client_ts, lan_ts, same_keys, LAB_P1};
use ike_support::*;
use ipsec_xlat::ike::crypto::*;
use ipsec_xlat::ike::dh::{DhGroup, SharedSecret};
use ipsec_xlat::ike::phase1::*;
use ipsec_xlat::ike::phase2::*;
use ipsec_xlat::wire::isakmp::IdRepr;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// strongSwan's ESP offer in the lab: AES-128-CBC, HMAC-SHA-256-128, UDP-encapsulated tunnel
/// (kernel-libipsec always forces it), 3960 s.
const LAB_ESP: ChildProposal = ChildProposal {
    esp: Some((EspCipher::AesCbc128, Some(ChildIntegrity::HmacSha256_128))),
    ah: None,
    pfs: None,
    mode: Encapsulation::UdpTunnel,
    lifetime_secs: 3960,
};

/// Rebuilds the phase-1 SA of a shared capture from its log and pcap (as the KAT test does).
fn captured_phase1(name: &str) -> (Phase1Sa, Vec<IsakmpDatagram>) {
    let dir = capture_dir(name);
    let all = read_isakmp(&dir.join(format!("{name}.client-side.pcap")));
    let log = std::fs::read_to_string(dir.join(format!("{name}.logs/xc-charon.log"))).unwrap();
    let conf = std::fs::read_to_string(dir.join(format!("{name}.logs/xc-swanctl.conf"))).unwrap();
    let mm: Vec<_> = all
        .iter()
        .filter(|d| d.exchange_type() == MAIN_MODE)
        .collect();
    let qm: Vec<_> = all
        .iter()
        .filter(|d| d.exchange_type() == QUICK_MODE)
        .cloned()
        .collect();
    let cookies = Cookies::new(mm[0].initiator_cookie(), mm[1].responder_cookie());
    let p3 = walk(mm[2].first_payload(), mm[2].body());
    let p4 = walk(mm[3].first_payload(), mm[3].body());
    let hash = HashAlgorithm::Sha256;
    let g_xy = SharedSecret::from_bytes(log_value(&log, "shared Diffie Hellman secret"));
    let skeyid = Skeyid::for_pre_shared_key(
        hash,
        &psk_from_swanctl(&conf),
        &find(&p3, payload::NONCE).body,
        &find(&p4, payload::NONCE).body,
    );
    let keys = Phase1Keys::derive(skeyid, &g_xy, &cookies);
    let ka = expand_encryption_key(hash, keys.skeyid_e(), 16);
    let cipher = IkeCipher::new(IkeCipherAlgorithm::Aes128Cbc, &ka).unwrap();
    let iv0 = Iv::phase1_initial(
        hash,
        &find(&p3, payload::KE).body,
        &find(&p4, payload::KE).body,
    );
    let after5 = cipher.decrypt(&iv0, mm[4].body()).unwrap().next_iv;
    let after6 = cipher.decrypt(&after5, mm[5].body()).unwrap().next_iv;
    let sa = Phase1Sa {
        cookies,
        suite: LAB_P1,
        keys,
        cipher,
        last_block: after6,
        nat: NatState::default(),
        peer_id: Vec::new(),
    };
    (sa, qm)
}

/// Our ESP offer encodes exactly as strongSwan's qm1 SA payload (same SPI, same suite), with
/// and without PFS.
#[test]
fn child_offer_matches_strongswan_bytes() {
    for (name, pfs) in [
        (
            "psk-nonat-ike_aes128-sha256-modp2048-esp_aes128-sha256",
            None,
        ),
        (
            "psk-nonat-esp_aes128-sha256-modp2048_pfs",
            Some(DhGroup::MODP_2048),
        ),
    ] {
        let (p1, qm) = captured_phase1(name);
        let iv = Iv::phase2_initial(HashAlgorithm::Sha256, &p1.last_block, qm[0].message_id());
        let plain = p1.cipher.decrypt(&iv, qm[0].body()).unwrap().bytes;
        let payloads = walk(qm[0].first_payload(), &plain);
        let theirs = &find(&payloads, payload::SA).body;
        let (_, spi) = first_proposal_spi(theirs);
        let spis = BundleSpis {
            esp: Some(u32::from_be_bytes(spi.try_into().unwrap())),
            ah: None,
        };
        let ours = offer_child(&[ChildProposal { pfs, ..LAB_ESP }], &spis).unwrap();
        let mut bytes = Vec::new();
        ours.emit_body(&mut bytes).unwrap();
        assert_eq!(hex::encode(bytes), hex::encode(theirs), "{name}");
    }
}

/// Our responder takes strongSwan's real qm1: HASH(1) verifies, the ESP offer is understood,
/// the selectors match, and the answer carries our SPI.
#[test]
fn responder_accepts_strongswan_qm1() {
    let (p1, qm) = captured_phase1("psk-nonat-ike_aes128-sha256-modp2048-esp_aes128-sha256");
    let config = ChildConfig {
        proposals: vec![LAB_ESP],
        local_ts: lan_ts(),
        remote_ts: client_ts(),
    };
    let mut rng = StdRng::seed_from_u64(1);
    let spis = BundleSpis {
        esp: Some(0xc0ffee01),
        ah: None,
    };
    let (r, qm2) =
        QuickModeResponder::handle_qm1(&p1, &config, spis, &qm[0].message, &mut rng).unwrap();
    assert_eq!(r.message_id(), qm[0].message_id());
    assert!(qm2.len() > 28);
    // The same qm1 with one ciphertext bit flipped does not verify.
    let mut bad = qm[0].message.clone();
    let n = bad.len();
    bad[n - 20] ^= 1;
    assert!(QuickModeResponder::handle_qm1(&p1, &config, spis, &bad, &mut rng).is_err());
    // Selectors that do not mirror ours are refused.
    let narrow = ChildConfig {
        local_ts: IdRepr::address(Ipv4Addr::new(10, 9, 0, 2).into()),
        ..config
    };
    assert_eq!(
        QuickModeResponder::handle_qm1(&p1, &narrow, spis, &qm[0].message, &mut rng).unwrap_err(),
        Phase2Error::TrafficSelectors
    );
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Main mode then quick mode between our cores.
fn establish(p1: Phase1Proposal, child: ChildProposal, seed: u64) -> (ChildSa, ChildSa) {
    let mut rng = StdRng::seed_from_u64(seed);
    let cfg = |id: &str| Phase1Config {
        suites: vec![p1],
        credentials: Phase1Credentials::PreSharedKey(SecretBytes::from_slice(b"k")),
        local_id: IdRepr::address(addr(id).ip()),
        local_addr: addr(id),
        initial_contact: false,
    };
    let (i_addr, r_addr) = (addr("198.51.100.10:500"), addr("203.0.113.1:500"));
    let (mut i, mm1) =
        MainModeInitiator::start(cfg("198.51.100.10:500"), r_addr, &mut rng).unwrap();
    let (mut r, mm2) =
        MainModeResponder::handle_mm1(cfg("203.0.113.1:500"), &mm1, i_addr, &mut rng).unwrap();
    let mm3 = i.handle_mm2(&mm2, &mut rng).unwrap();
    let mm4 = r.handle_mm3(&mm3, i_addr, &mut rng).unwrap();
    let mm5 = i.handle_mm4(&mm4, &mut rng).unwrap();
    let (mm6, r_sa) = r.handle_mm5(&mm5, &mut rng).unwrap();
    let i_sa = i.handle_mm6(&mm6).unwrap();

    let i_cfg = ChildConfig {
        proposals: vec![child],
        local_ts: client_ts(),
        remote_ts: lan_ts(),
    };
    let r_cfg = ChildConfig {
        proposals: vec![child],
        local_ts: lan_ts(),
        remote_ts: client_ts(),
    };
    let i_spis = BundleSpis {
        esp: child.esp.map(|_| 0x1111_0001),
        ah: child.ah.map(|_| 0x1111_0002),
    };
    let r_spis = BundleSpis {
        esp: child.esp.map(|_| 0x2222_0001),
        ah: child.ah.map(|_| 0x2222_0002),
    };
    let (mut qi, qm1) = QuickModeInitiator::start(&i_sa, i_cfg, i_spis, &mut rng).unwrap();
    let (mut qr, qm2) =
        QuickModeResponder::handle_qm1(&r_sa, &r_cfg, r_spis, &qm1, &mut rng).unwrap();
    let (qm3, i_child) = qi.handle_qm2(&i_sa, &qm2).unwrap();
    let r_child = qr.handle_qm3(&r_sa, &qm3).unwrap();
    (i_child, r_child)
}

#[test]
fn esp_ah_bundles_and_pfs_agree_on_keys() {
    let cases = [
        LAB_ESP,
        ChildProposal {
            esp: Some((EspCipher::AesGcm16_256, None)),
            ..LAB_ESP
        },
        ChildProposal {
            esp: None,
            ah: Some(ChildIntegrity::HmacSha1_96),
            mode: Encapsulation::Tunnel,
            ..LAB_ESP
        },
        ChildProposal {
            esp: Some((EspCipher::AesCbc256, Some(ChildIntegrity::HmacSha1_96))),
            ah: Some(ChildIntegrity::HmacSha256_128),
            mode: Encapsulation::Tunnel,
            ..LAB_ESP
        },
        ChildProposal {
            pfs: Some(DhGroup::CURVE25519),
            ..LAB_ESP
        },
        ChildProposal {
            pfs: Some(DhGroup::ECP_256),
            ..LAB_ESP
        },
    ];
    for (n, child) in cases.into_iter().enumerate() {
        let (i, r) = establish(LAB_P1, child, n as u64);
        assert_eq!(i.proposal, child);
        assert_eq!(i.inbound_spis, r.outbound_spis);
        assert_eq!(i.outbound_spis, r.inbound_spis);
        assert!(
            same_keys(&i.esp_out, &r.esp_in) && same_keys(&i.esp_in, &r.esp_out),
            "{child:?}"
        );
        assert!(
            same_keys(&i.ah_out, &r.ah_in) && same_keys(&i.ah_in, &r.ah_out),
            "{child:?}"
        );
        // Directions differ (different SPIs enter KEYMAT).
        assert!(!same_keys(&i.esp_out, &i.esp_in) || child.esp.is_none());
        if let Some((cipher, integ)) = child.esp {
            let k = i.esp_out.as_ref().unwrap();
            assert_eq!(k.encryption.len(), cipher.keymat_len());
            assert_eq!(
                k.integrity.len(),
                integ.map(|i| i.keymat_len()).unwrap_or(0)
            );
        }
        assert_eq!(i.ah_out.is_some(), child.ah.is_some());
    }
}
