//! Known-answer tests: our IKEv1 derivations reproduce strongSwan 5.9.8's numbers exactly.
//!
//! Inputs come from the captured exchanges in `tests/data/captures/` (cookies, SA payload,
//! KE values, nonces, encrypted messages from the pcap; the PSK from swanctl.conf; the DH
//! shared secret from charon's `ike = 4` log, since the private values are never printed).
//! Every derived value is compared with what charon printed (SKEYID, SKEYID_d/a/e, Ka, the
//! IVs, HASH_I/HASH_R, Hash(1..3), ESP keys) *and*, where the value travels, with the bytes on
//! the wire: mm5/mm6 and qm1..qm3 are decrypted with our keys and IVs and their HASH payloads
//! recomputed; the ESP keys are checked against the key table Wireshark used to verify the
//! captured ESP ICVs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod ike_support;

use ike_support::*;
use ipsec_xlat::ike::crypto::*;
use ipsec_xlat::ike::dh::SharedSecret;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    Psk,
    Rsa,
}

/// What one capture gives us, read from its files.
struct Capture {
    name: &'static str,
    client_log: String,
    swanctl: String,
    esp_sa: String,
    mm: Vec<IsakmpDatagram>,
    qm: Vec<IsakmpDatagram>,
}

impl Capture {
    fn load(name: &'static str) -> Self {
        let dir = capture_dir(name);
        let read = |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap();
        let all = read_isakmp(&dir.join(format!("{name}.client-side.pcap")));
        let mm: Vec<_> = all
            .iter()
            .filter(|d| d.exchange_type() == MAIN_MODE)
            .cloned()
            .collect();
        let qm: Vec<_> = all
            .iter()
            .filter(|d| d.exchange_type() == QUICK_MODE)
            .cloned()
            .collect();
        assert_eq!(mm.len(), 6, "{name}: six main mode messages");
        assert_eq!(qm.len(), 3, "{name}: three quick mode messages");
        Self {
            name,
            client_log: read(&format!("{name}.logs/xc-charon.log")),
            swanctl: read(&format!("{name}.logs/xc-swanctl.conf")),
            esp_sa: read(&format!("{name}.wireshark/esp_sa")),
            mm,
            qm,
        }
    }

    fn log(&self, what: &str) -> Vec<u8> {
        log_value(&self.client_log, what)
    }
}

/// The negotiated suite of every capture: AES-CBC-128, SHA2-256, MODP 2048; ESP AES-CBC-128
/// with HMAC-SHA-256-128.
const HASH: HashAlgorithm = HashAlgorithm::Sha256;
const CIPHER: IkeCipherAlgorithm = IkeCipherAlgorithm::Aes128Cbc;
const ESP_ENC_LEN: usize = 16;
const ESP_INTEG_LEN: usize = 32;

/// Decrypts an encrypted ISAKMP message and walks its payloads.
fn open(cipher: &IkeCipher, iv: &Iv, msg: &IsakmpDatagram) -> (Vec<u8>, Vec<Payload>, Iv) {
    assert!(msg.is_encrypted());
    let out = cipher.decrypt(iv, msg.body()).unwrap();
    let payloads = walk(msg.first_payload(), &out.bytes);
    let end = chain_end(&payloads);
    // strongSwan pads with 1..=16 zero bytes (never 0).
    let pad = &out.bytes[end..];
    assert!(
        (1..=16).contains(&pad.len()) && pad.iter().all(|b| *b == 0),
        "padding as strongSwan sends it"
    );
    (out.bytes, payloads, out.next_iv)
}

fn replay(name: &'static str, auth: Auth, pfs: bool) {
    let c = Capture::load(name);
    let (mm1, mm2, mm3, mm4, mm5, mm6) =
        (&c.mm[0], &c.mm[1], &c.mm[2], &c.mm[3], &c.mm[4], &c.mm[5]);
    let cookies = Cookies::new(mm1.initiator_cookie(), mm2.responder_cookie());

    let mm1_payloads = walk(mm1.first_payload(), mm1.body());
    let sai_b = find(&mm1_payloads, payload::SA).body.clone();
    let mm3_payloads = walk(mm3.first_payload(), mm3.body());
    let mm4_payloads = walk(mm4.first_payload(), mm4.body());
    let g_xi = find(&mm3_payloads, payload::KE).body.clone();
    let g_xr = find(&mm4_payloads, payload::KE).body.clone();
    let ni_b = find(&mm3_payloads, payload::NONCE).body.clone();
    let nr_b = find(&mm4_payloads, payload::NONCE).body.clone();
    assert_eq!(g_xi.len(), 256, "MODP 2048 KE is fixed-length");

    // --- phase 1 keys -------------------------------------------------------------------
    let g_xy = SharedSecret::from_bytes(c.log("shared Diffie Hellman secret"));
    let skeyid = match auth {
        Auth::Psk => Skeyid::for_pre_shared_key(HASH, &psk_from_swanctl(&c.swanctl), &ni_b, &nr_b),
        Auth::Rsa => Skeyid::for_signatures(HASH, &ni_b, &nr_b, &g_xy),
    };
    assert_eq!(skeyid.expose(), &c.log("SKEYID")[..], "{name}: SKEYID");
    let keys = Phase1Keys::derive(skeyid, &g_xy, &cookies);
    assert_eq!(
        keys.skeyid_d().expose(),
        &c.log("SKEYID_d")[..],
        "{name}: SKEYID_d"
    );
    assert_eq!(
        keys.skeyid_a().expose(),
        &c.log("SKEYID_a")[..],
        "{name}: SKEYID_a"
    );
    assert_eq!(
        keys.skeyid_e().expose(),
        &c.log("SKEYID_e")[..],
        "{name}: SKEYID_e"
    );
    let ka = expand_encryption_key(HASH, keys.skeyid_e(), CIPHER.key_len());
    assert_eq!(ka.expose(), &c.log("encryption key Ka")[..], "{name}: Ka");
    let cipher = IkeCipher::new(CIPHER, &ka).unwrap();
    let iv0 = Iv::phase1_initial(HASH, &g_xi, &g_xr);
    assert_eq!(&iv0.0[..], &c.log("initial IV")[..], "{name}: phase-1 IV");
    let mid0_ivs = log_values(&c.client_log, "next IV for MID 0");

    // --- mm5 / mm6: decrypt and check HASH_I / HASH_R -----------------------------------
    let transcript = Phase1Transcript {
        g_xi: &g_xi,
        g_xr: &g_xr,
        cookies,
        sai_b: &sai_b,
    };
    let (_, mm5_payloads, iv_after_mm5) = open(&cipher, &iv0, mm5);
    assert_eq!(
        &iv_after_mm5.0[..],
        &mid0_ivs[0][..],
        "{name}: IV after mm5"
    );
    let idii_b = find(&mm5_payloads, payload::ID).body.clone();
    let computed_hash_i = hash_i(keys.skeyid(), &transcript, &idii_b);
    assert_eq!(computed_hash_i, c.log("HASH_I"), "{name}: HASH_I vs charon");

    let (_, mm6_payloads, iv_after_mm6) = open(&cipher, &iv_after_mm5, mm6);
    assert_eq!(
        &iv_after_mm6.0[..],
        &mid0_ivs[1][..],
        "{name}: IV after mm6"
    );
    let idir_b = find(&mm6_payloads, payload::ID).body.clone();
    let computed_hash_r = hash_r(keys.skeyid(), &transcript, &idir_b);
    assert_eq!(computed_hash_r, c.log("HASH_R"), "{name}: HASH_R vs charon");

    match auth {
        Auth::Psk => {
            // The HASH payloads on the wire carry exactly our values.
            let wire_i = &find(&mm5_payloads, payload::HASH).body;
            let wire_r = &find(&mm6_payloads, payload::HASH).body;
            assert!(verify_hash_i(keys.skeyid(), &transcript, &idii_b, wire_i));
            assert!(verify_hash_r(keys.skeyid(), &transcript, &idir_b, wire_r));
            let mut forged = wire_r.clone();
            forged[0] ^= 1;
            assert!(!verify_hash_r(keys.skeyid(), &transcript, &idir_b, &forged));
        }
        Auth::Rsa => {
            // Signature mode: mm5/mm6 carry CERT and SIG instead of HASH; the decryption
            // itself (payload chain parsed, zero padding) proves Ka and the IVs.
            assert_eq!(find(&mm5_payloads, payload::ID).body[0], 2, "ID_FQDN");
            find(&mm5_payloads, payload::SIG);
            find(&mm6_payloads, payload::SIG);
        }
    }

    // --- quick mode ---------------------------------------------------------------------
    let (qm1, qm2, qm3) = (&c.qm[0], &c.qm[1], &c.qm[2]);
    let mid = qm1.message_id();
    assert!(qm2.message_id() == mid && qm3.message_id() == mid);
    let qm_ivs = log_values(&c.client_log, &format!("next IV for MID {mid}"));
    let qm_iv = Iv::phase2_initial(HASH, &iv_after_mm6, mid);
    assert_eq!(
        &qm_iv.0[..],
        &qm_ivs[0][..],
        "{name}: quick mode initial IV"
    );

    let (qm1_plain, qm1_payloads, iv_after_qm1) = open(&cipher, &qm_iv, qm1);
    assert_eq!(&iv_after_qm1.0[..], &qm_ivs[1][..], "{name}: IV after qm1");
    let hash1_payload = &qm1_payloads[0];
    assert_eq!(hash1_payload.kind, payload::HASH, "HASH comes first");
    let after_hash1 = &qm1_plain[hash1_payload.len..chain_end(&qm1_payloads)];
    let h1 = quick_mode_hash1(&keys, mid, after_hash1);
    assert_eq!(h1, hash1_payload.body, "{name}: HASH(1) on the wire");
    assert_eq!(h1, c.log("Hash(1)"), "{name}: HASH(1) vs charon");
    let qni_b = find(&qm1_payloads, payload::NONCE).body.clone();
    let (proto_i, spi_i) = first_proposal_spi(&find(&qm1_payloads, payload::SA).body);
    assert_eq!(proto_i, IpsecProtocolId::ESP.0);
    assert_eq!(find_all(&qm1_payloads, payload::KE).len(), usize::from(pfs));

    let (qm2_plain, qm2_payloads, iv_after_qm2) = open(&cipher, &iv_after_qm1, qm2);
    assert_eq!(&iv_after_qm2.0[..], &qm_ivs[2][..], "{name}: IV after qm2");
    let hash2_payload = &qm2_payloads[0];
    let after_hash2 = &qm2_plain[hash2_payload.len..chain_end(&qm2_payloads)];
    let h2 = quick_mode_hash2(&keys, mid, &qni_b, after_hash2);
    assert_eq!(h2, hash2_payload.body, "{name}: HASH(2) on the wire");
    assert_eq!(h2, c.log("Hash(2)"), "{name}: HASH(2) vs charon");
    let qnr_b = find(&qm2_payloads, payload::NONCE).body.clone();
    let (_, spi_r) = first_proposal_spi(&find(&qm2_payloads, payload::SA).body);

    let (_, qm3_payloads, iv_after_qm3) = open(&cipher, &iv_after_qm2, qm3);
    assert_eq!(&iv_after_qm3.0[..], &qm_ivs[3][..], "{name}: IV after qm3");
    let h3 = quick_mode_hash3(&keys, mid, &qni_b, &qnr_b);
    assert_eq!(
        h3,
        find(&qm3_payloads, payload::HASH).body,
        "{name}: HASH(3) on the wire"
    );
    assert_eq!(h3, c.log("Hash(3)"), "{name}: HASH(3) vs charon");

    // --- KEYMAT ---------------------------------------------------------------------------
    let qm_dh = pfs.then(|| SharedSecret::from_bytes(c.log("DH secret")));
    let spi_i = u32::from_be_bytes(spi_i.try_into().unwrap());
    let spi_r = u32::from_be_bytes(spi_r.try_into().unwrap());
    // Initiator -> responder SA: its SPI is the one the responder chose (qm2).
    let outbound = SaKeys::derive(
        &keys,
        qm_dh.as_ref(),
        &KeymatInput {
            protocol: IpsecProtocolId::ESP,
            spi: spi_r,
            ni_b: &qni_b,
            nr_b: &qnr_b,
        },
        ESP_ENC_LEN,
        ESP_INTEG_LEN,
    );
    let inbound = SaKeys::derive(
        &keys,
        qm_dh.as_ref(),
        &KeymatInput {
            protocol: IpsecProtocolId::ESP,
            spi: spi_i,
            ni_b: &qni_b,
            nr_b: &qnr_b,
        },
        ESP_ENC_LEN,
        ESP_INTEG_LEN,
    );
    assert_eq!(
        outbound.encryption.expose(),
        &c.log("encryption initiator key")[..]
    );
    assert_eq!(
        outbound.integrity.expose(),
        &c.log("integrity initiator key")[..]
    );
    assert_eq!(
        inbound.encryption.expose(),
        &c.log("encryption responder key")[..]
    );
    assert_eq!(
        inbound.integrity.expose(),
        &c.log("integrity responder key")[..]
    );
    // And the keys Wireshark used to check every captured ESP ICV.
    let table = wireshark_esp_keys(&c.esp_sa);
    for (spi, keys) in [(spi_r, &outbound), (spi_i, &inbound)] {
        let (_, enc, integ) = table
            .iter()
            .find(|(s, _, _)| *s == spi)
            .expect("SPI in esp_sa");
        assert_eq!(
            keys.encryption.expose(),
            &enc[..],
            "{name}: ESP enc key for {spi:08x}"
        );
        assert_eq!(
            keys.integrity.expose(),
            &integ[..],
            "{name}: ESP integ key for {spi:08x}"
        );
    }
    let _ = c.name;
}

#[test]
fn psk_nonat_full_exchange_matches_strongswan() {
    replay(
        "psk-nonat-ike_aes128-sha256-modp2048-esp_aes128-sha256",
        Auth::Psk,
        false,
    );
}

#[test]
fn psk_nat_full_exchange_matches_strongswan() {
    replay("psk-nat", Auth::Psk, false);
}

#[test]
fn rsa_signature_skeyid_and_exchange_match_strongswan() {
    replay("rsa-nonat", Auth::Rsa, false);
}

#[test]
fn pfs_quick_mode_keymat_matches_strongswan() {
    replay("psk-nonat-esp_aes128-sha256-modp2048_pfs", Auth::Psk, true);
}
