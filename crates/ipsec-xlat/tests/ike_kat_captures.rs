//! Known-answer tests: our IKEv1 derivations reproduce strongSwan 5.9.8's numbers exactly.
//!
//! Inputs come from the captured exchanges in `tests/data/captures/` and, for the suites those
//! do not cover (SHA-1 and the SHA-2 family, AES-192/256, MODP 3072, ECP 256, Curve25519, PFS
//! with each, AES-GCM KEYMAT), in `tests/ike_captures/` (cookies, SA payload,
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

/// The negotiated algorithms of one capture (from charon's "selected proposal" lines).
#[derive(Clone, Copy)]
struct Suite {
    hash: HashAlgorithm,
    cipher: IkeCipherAlgorithm,
    /// KE payload body length of the phase-1 group.
    ke_len: usize,
    /// ESP encryption key length (AES key, plus the 4-byte salt for GCM).
    esp_enc_len: usize,
    /// ESP integrity key length (0 for GCM).
    esp_integ_len: usize,
}

/// AES-CBC-128, SHA2-256, MODP 2048; ESP AES-CBC-128 with HMAC-SHA-256-128: the suite of
/// every capture in tests/data/captures.
const LAB_SUITE: Suite = Suite {
    hash: HashAlgorithm::Sha256,
    cipher: IkeCipherAlgorithm::Aes128Cbc,
    ke_len: 256,
    esp_enc_len: 16,
    esp_integ_len: 32,
};

/// What one capture gives us, read from its files.
struct Capture {
    client_log: String,
    swanctl: String,
    /// Wireshark's ESP key table, where the capture has one.
    esp_sa: Option<String>,
    mm: Vec<IsakmpDatagram>,
    qm: Vec<IsakmpDatagram>,
}

impl Capture {
    /// A capture from the shared set (`tests/data/captures/NAME/`).
    fn shared(name: &str) -> Self {
        let dir = capture_dir(name);
        let read = |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap();
        Self::new(
            name,
            &dir.join(format!("{name}.client-side.pcap")),
            read(&format!("{name}.logs/xc-charon.log")),
            read(&format!("{name}.logs/xc-swanctl.conf")),
            Some(read(&format!("{name}.wireshark/esp_sa"))),
        )
    }

    /// A capture from our own set (`tests/ike_captures/NAME/`, made by make-capture.sh).
    fn own(name: &str) -> Self {
        let dir = own_capture_dir(name);
        let read = |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap();
        Self::new(
            name,
            &dir.join("client.pcap"),
            read("client-charon.log"),
            read("client-swanctl.conf"),
            None,
        )
    }

    fn new(
        name: &str,
        pcap: &std::path::Path,
        client_log: String,
        swanctl: String,
        esp_sa: Option<String>,
    ) -> Self {
        let all = read_isakmp(pcap);
        let of = |t: u8| -> Vec<IsakmpDatagram> {
            all.iter()
                .filter(|d| d.exchange_type() == t)
                .cloned()
                .collect()
        };
        let (mm, qm) = (of(MAIN_MODE), of(QUICK_MODE));
        assert_eq!(mm.len(), 6, "{name}: six main mode messages");
        assert_eq!(qm.len(), 3, "{name}: three quick mode messages");
        Self {
            client_log,
            swanctl,
            esp_sa,
            mm,
            qm,
        }
    }

    fn log(&self, what: &str) -> Vec<u8> {
        log_value(&self.client_log, what)
    }
}

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

fn replay(name: &str, c: &Capture, suite: Suite, auth: Auth, pfs: bool) {
    let (hash, cipher_alg) = (suite.hash, suite.cipher);
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
    assert_eq!(g_xi.len(), suite.ke_len, "{name}: KE body length");
    assert_eq!(g_xr.len(), suite.ke_len, "{name}: KE body length");

    // --- phase 1 keys -------------------------------------------------------------------
    let g_xy = SharedSecret::from_bytes(c.log("shared Diffie Hellman secret"));
    let skeyid = match auth {
        Auth::Psk => Skeyid::for_pre_shared_key(hash, &psk_from_swanctl(&c.swanctl), &ni_b, &nr_b),
        Auth::Rsa => Skeyid::for_signatures(hash, &ni_b, &nr_b, &g_xy),
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
    let ka = expand_encryption_key(hash, keys.skeyid_e(), cipher_alg.key_len());
    assert_eq!(ka.expose(), &c.log("encryption key Ka")[..], "{name}: Ka");
    let cipher = IkeCipher::new(cipher_alg, &ka).unwrap();
    let iv0 = Iv::phase1_initial(hash, &g_xi, &g_xr);
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
            // The hash payloads on the wire carry exactly our values.
            let wire_i = &find(&mm5_payloads, payload::HASH).body;
            let wire_r = &find(&mm6_payloads, payload::HASH).body;
            assert!(verify_hash_i(keys.skeyid(), &transcript, &idii_b, wire_i));
            assert!(verify_hash_r(keys.skeyid(), &transcript, &idir_b, wire_r));
            let mut forged = wire_r.clone();
            forged[0] ^= 1;
            assert!(!verify_hash_r(keys.skeyid(), &transcript, &idir_b, &forged));
        }
        Auth::Rsa => {
            // Signature mode: mm5/mm6 carry CERT and SIG instead of HASH. SIG_I/SIG_R are
            // PKCS#1 v1.5 signatures (no DigestInfo) over exactly our HASH_I/HASH_R, checked
            // with the public key of the certificate sent alongside.
            for (payloads, hash, who) in [
                (&mm5_payloads, &computed_hash_i, "SIG_I"),
                (&mm6_payloads, &computed_hash_r, "SIG_R"),
            ] {
                let cert = &find(payloads, payload::CERT).body;
                assert_eq!(cert[0], 4, "X.509 signature encoding");
                let cert = Certificate::from_der(&cert[1..]).unwrap();
                let sig = &find(payloads, payload::SIG).body;
                assert!(
                    cert.verify_ike_signature(hash, sig),
                    "{name}: {who} verifies"
                );
                let mut other = hash.clone();
                other[0] ^= 1;
                assert!(!cert.verify_ike_signature(&other, sig));
                // The FQDN ID names the certificate's subjectAltName.
                let id = &find(payloads, payload::ID).body;
                assert_eq!(id[0], 2, "ID_FQDN");
                let fqdn = String::from_utf8(id[4..].to_vec()).unwrap();
                assert!(
                    cert.dns_names().contains(&fqdn),
                    "{fqdn} in {:?}",
                    cert.dns_names()
                );
            }
        }
    }

    // --- quick mode ---------------------------------------------------------------------
    let (qm1, qm2, qm3) = (&c.qm[0], &c.qm[1], &c.qm[2]);
    let mid = qm1.message_id();
    assert!(qm2.message_id() == mid && qm3.message_id() == mid);
    let qm_ivs = log_values(&c.client_log, &format!("next IV for MID {mid}"));
    let qm_iv = Iv::phase2_initial(hash, &iv_after_mm6, mid);
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
        suite.esp_enc_len,
        suite.esp_integ_len,
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
        suite.esp_enc_len,
        suite.esp_integ_len,
    );
    assert_eq!(
        outbound.encryption.expose(),
        &c.log("encryption initiator key")[..],
        "{name}: ESP encryption key, initiator to responder"
    );
    assert_eq!(
        inbound.encryption.expose(),
        &c.log("encryption responder key")[..],
        "{name}: ESP encryption key, responder to initiator"
    );
    if suite.esp_integ_len == 0 {
        // AEAD: charon prints no integrity key, and we derive none.
        assert!(outbound.integrity.is_empty() && inbound.integrity.is_empty());
    } else {
        assert_eq!(
            outbound.integrity.expose(),
            &c.log("integrity initiator key")[..],
            "{name}: ESP integrity key, initiator to responder"
        );
        assert_eq!(
            inbound.integrity.expose(),
            &c.log("integrity responder key")[..],
            "{name}: ESP integrity key, responder to initiator"
        );
    }
    // And the keys Wireshark used to check every captured ESP ICV.
    if let Some(esp_sa) = &c.esp_sa {
        let table = wireshark_esp_keys(esp_sa);
        for (spi, keys) in [(spi_r, &outbound), (spi_i, &inbound)] {
            let (_, enc, integ) = table
                .iter()
                .find(|(s, _, _)| *s == spi)
                .expect("SPI in esp_sa");
            assert_eq!(
                keys.encryption.expose(),
                &enc[..],
                "{name}: ESP enc key {spi:08x}"
            );
            assert_eq!(
                keys.integrity.expose(),
                &integ[..],
                "{name}: ESP integ key {spi:08x}"
            );
        }
    }
}

fn replay_shared(name: &str, auth: Auth, pfs: bool) {
    replay(name, &Capture::shared(name), LAB_SUITE, auth, pfs);
}

fn replay_own(name: &str, suite: Suite, pfs: bool) {
    replay(name, &Capture::own(name), suite, Auth::Psk, pfs);
}

#[test]
fn psk_nonat_full_exchange_matches_strongswan() {
    replay_shared(
        "psk-nonat-ike_aes128-sha256-modp2048-esp_aes128-sha256",
        Auth::Psk,
        false,
    );
}

#[test]
fn psk_nat_full_exchange_matches_strongswan() {
    replay_shared("psk-nat", Auth::Psk, false);
}

#[test]
fn rsa_signature_skeyid_and_exchange_match_strongswan() {
    replay_shared("rsa-nonat", Auth::Rsa, false);
}

#[test]
fn pfs_quick_mode_keymat_matches_strongswan() {
    replay_shared("psk-nonat-esp_aes128-sha256-modp2048_pfs", Auth::Psk, true);
}

/// SHA-1 PRF: Ka for AES-256 needs the RFC 2409 App. B expansion (20-byte PRF output,
/// 32-byte key), and the 52-byte ESP KEYMAT takes three PRF blocks. MODP 3072 KE.
#[test]
fn sha1_prf_with_aes256_expands_ka_like_strongswan() {
    let suite = Suite {
        hash: HashAlgorithm::Sha1,
        cipher: IkeCipherAlgorithm::Aes256Cbc,
        ke_len: 384,
        esp_enc_len: 32,
        esp_integ_len: 20,
    };
    replay_own("aes256-sha1-modp3072_esp-aes256-sha1", suite, false);
}

/// ECP 256 in phase 1 and as quick-mode PFS group; AES-GCM ESP, whose KEYMAT carries the
/// 4-byte salt after the 16-byte key (RFC 4106 section 8.1).
#[test]
fn ecp256_and_gcm_keymat_match_strongswan() {
    let suite = Suite {
        hash: HashAlgorithm::Sha256,
        cipher: IkeCipherAlgorithm::Aes128Cbc,
        ke_len: 64,
        esp_enc_len: 20,
        esp_integ_len: 0,
    };
    replay_own("aes128-sha256-ecp256_esp-aes128gcm16-ecp256", suite, true);
}

/// Curve25519 in phase 1 and as PFS group, AES-256 in both phases.
#[test]
fn curve25519_with_pfs_matches_strongswan() {
    let suite = Suite {
        hash: HashAlgorithm::Sha256,
        cipher: IkeCipherAlgorithm::Aes256Cbc,
        ke_len: 32,
        esp_enc_len: 32,
        esp_integ_len: 32,
    };
    replay_own("aes256-sha256-curve25519_esp-pfs-curve25519", suite, true);
}

/// SHA2-512 PRF (64-byte SKEYIDs, hash-truncated IVs), AES-192, MODP 3072 PFS, HMAC-SHA-384.
#[test]
fn sha512_prf_aes192_modp3072_pfs_match_strongswan() {
    let suite = Suite {
        hash: HashAlgorithm::Sha512,
        cipher: IkeCipherAlgorithm::Aes192Cbc,
        ke_len: 256,
        esp_enc_len: 24,
        esp_integ_len: 48,
    };
    replay_own(
        "aes192-sha512-modp2048_esp-aes192-sha384-modp3072",
        suite,
        true,
    );
}

/// SHA2-384 PRF with AES-256 (48-byte SKEYID_e, no expansion), ESP HMAC-SHA-512.
#[test]
fn sha384_prf_aes256_match_strongswan() {
    let suite = Suite {
        hash: HashAlgorithm::Sha384,
        cipher: IkeCipherAlgorithm::Aes256Cbc,
        ke_len: 256,
        esp_enc_len: 32,
        esp_integ_len: 64,
    };
    replay_own("aes256-sha384-modp2048_esp-aes256-sha512", suite, false);
}
