//! Main mode cores: proposal encoding against strongSwan's bytes, and complete initiator <->
//! responder exchanges in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod ike_lab;
mod ike_support;

use core::net::SocketAddr;

use ike_lab::{pki, LAB_P1};
use ike_support::*;
use std::sync::Arc;

use ipsec_xlat::ike::crypto::{
    Certificate, HashAlgorithm, IkeCipherAlgorithm, RsaSigningKey, SecretBytes,
};
use ipsec_xlat::ike::dh::DhGroup;
use ipsec_xlat::ike::phase1::*;
use ipsec_xlat::wire::isakmp::{IdRepr, SaPayload};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn captured_main_mode() -> Vec<IsakmpDatagram> {
    let name = "psk-nonat-ike_aes128-sha256-modp2048-esp_aes128-sha256";
    read_isakmp(&capture_dir(name).join(format!("{name}.client-side.pcap")))
        .into_iter()
        .filter(|d| d.exchange_type() == MAIN_MODE)
        .collect()
}

/// Our mm1 SA payload body is byte-identical to strongSwan's for the same suite: SAi_b is
/// hashed into HASH_I/HASH_R, so the shape matters, not only the meaning.
#[test]
fn offered_sa_matches_strongswan_bytes() {
    let mm = captured_main_mode();
    let theirs = find(&walk(mm[0].first_payload(), mm[0].body()), payload::SA)
        .body
        .clone();
    let mut ours = Vec::new();
    offer(&[LAB_P1]).emit_body(&mut ours).unwrap();
    assert_eq!(hex::encode(ours), hex::encode(theirs));
}

/// Our responder parses strongSwan's real mm1, picks the suite, and answers with exactly the SA
/// payload strongSwan's responder sent (the one transform, unchanged).
#[test]
fn responder_selects_from_strongswan_mm1_like_strongswan() {
    let mm = captured_main_mode();
    let mm1 = walk(mm[0].first_payload(), mm[0].body());
    let sa = SaPayload::parse(&find(&mm1, payload::SA).body, 0).unwrap();
    let (suite, answer) = select(&sa, &[LAB_P1]).unwrap();
    assert_eq!(suite, LAB_P1);
    let mut ours = Vec::new();
    answer.emit_body(&mut ours).unwrap();
    let mm2 = walk(mm[1].first_payload(), mm[1].body());
    let theirs = &find(&mm2, payload::SA).body;
    assert_eq!(&ours, theirs);
    // And the initiator accepts strongSwan's answer as a choice of what it offered.
    let chosen = SaPayload::parse(theirs, 0).unwrap();
    assert_eq!(accept_choice(&chosen, &[LAB_P1]).unwrap(), LAB_P1);
    // A responder with nothing in common refuses.
    let other = Phase1Proposal {
        group: DhGroup::ECP_256,
        ..LAB_P1
    };
    assert_eq!(
        select(&sa, &[other]).unwrap_err(),
        ProposalError::NoProposalChosen
    );
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config(suites: Vec<Phase1Proposal>, psk: &str, id: &str, local: &str) -> Phase1Config {
    Phase1Config {
        suites,
        credentials: Phase1Credentials::PreSharedKey(SecretBytes::from_slice(psk.as_bytes())),
        local_id: IdRepr::address(addr(id).ip()),
        local_addr: addr(local),
        initial_contact: true,
    }
}

struct Outcome {
    initiator: Result<Phase1Sa, Phase1Error>,
    responder: Result<Phase1Sa, Phase1Error>,
}

/// Runs a whole main mode between our two cores. `seen_from` is the initiator's address as
/// the responder sees it (differs from the initiator's own idea behind a NAT).
fn run(
    init_suites: Vec<Phase1Proposal>,
    resp_suites: Vec<Phase1Proposal>,
    init_psk: &str,
    resp_psk: &str,
    seen_from: &str,
    seed: u64,
) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let ic = config(
        init_suites,
        init_psk,
        "198.51.100.10:500",
        "198.51.100.10:500",
    );
    let rc = config(resp_suites, resp_psk, "203.0.113.1:500", "203.0.113.1:500");
    let (mut i, mm1) = MainModeInitiator::start(ic, addr("203.0.113.1:500"), &mut rng).unwrap();
    let (mut r, mm2) = MainModeResponder::handle_mm1(rc, &mm1, addr(seen_from), &mut rng).unwrap();
    let mm3 = i.handle_mm2(&mm2, &mut rng).unwrap();
    let mm4 = r.handle_mm3(&mm3, addr(seen_from), &mut rng).unwrap();
    let mm5 = i.handle_mm4(&mm4, &mut rng).unwrap();
    match r.handle_mm5(&mm5, &mut rng) {
        Ok((mm6, r_sa)) => Outcome {
            initiator: i.handle_mm6(&mm6),
            responder: Ok(r_sa),
        },
        Err(e) => Outcome {
            initiator: Err(Phase1Error::Unexpected("no mm6")),
            responder: Err(e),
        },
    }
}

fn assert_same_sa(a: &Phase1Sa, b: &Phase1Sa) {
    assert_eq!(a.cookies, b.cookies);
    assert_eq!(a.suite, b.suite);
    assert!(a.keys.skeyid_d().ct_eq(b.keys.skeyid_d().expose()));
    assert!(a.keys.skeyid_a().ct_eq(b.keys.skeyid_a().expose()));
    assert!(a.keys.skeyid_e().ct_eq(b.keys.skeyid_e().expose()));
    assert_eq!(a.last_block, b.last_block, "phase-2 IV seed agrees");
}

#[test]
fn every_group_and_suite_establishes() {
    let mut seed = 0;
    for group in DhGroup::SUPPORTED {
        for (cipher, hash) in [
            (IkeCipherAlgorithm::Aes128Cbc, HashAlgorithm::Sha256),
            (IkeCipherAlgorithm::Aes256Cbc, HashAlgorithm::Sha1),
        ] {
            seed += 1;
            let suite = Phase1Proposal {
                cipher,
                hash,
                group,
                ..LAB_P1
            };
            let out = run(
                vec![suite],
                vec![suite],
                "secret",
                "secret",
                "198.51.100.10:500",
                seed,
            );
            let (i, r) = (out.initiator.unwrap(), out.responder.unwrap());
            assert_same_sa(&i, &r);
            assert_eq!(i.suite, suite);
            assert!(!i.nat.float() && !r.nat.float(), "no NAT on this path");
            assert!(i.nat.negotiated);
            assert_eq!(i.peer_id, vec![1, 0, 0, 0, 203, 0, 113, 1]);
        }
    }
}

#[test]
fn responder_picks_the_first_acceptable_offer() {
    let ecp = Phase1Proposal {
        group: DhGroup::ECP_256,
        ..LAB_P1
    };
    let out = run(
        vec![ecp, LAB_P1],
        vec![LAB_P1],
        "k",
        "k",
        "198.51.100.10:500",
        99,
    );
    assert_eq!(out.initiator.unwrap().suite, LAB_P1);
}

#[test]
fn wrong_psk_fails_authentication_at_the_responder() {
    let out = run(
        vec![LAB_P1],
        vec![LAB_P1],
        "right",
        "wrong",
        "198.51.100.10:500",
        7,
    );
    assert_eq!(
        out.responder.unwrap_err(),
        Phase1Error::AuthenticationFailed
    );
}

#[test]
fn nat_is_detected_on_both_sides() {
    let out = run(
        vec![LAB_P1],
        vec![LAB_P1],
        "k",
        "k",
        "203.0.113.254:4096",
        8,
    );
    let (i, r) = (out.initiator.unwrap(), out.responder.unwrap());
    assert!(i.nat.local_behind_nat && !i.nat.remote_behind_nat && i.nat.float());
    assert!(r.nat.remote_behind_nat && !r.nat.local_behind_nat && r.nat.float());
}

/// A corrupted mm6 is refused without ending the exchange: the genuine one still completes.
#[test]
fn corrupted_mm6_does_not_kill_the_exchange() {
    let mut rng = StdRng::seed_from_u64(11);
    let ic = config(vec![LAB_P1], "k", "198.51.100.10:500", "198.51.100.10:500");
    let rc = config(vec![LAB_P1], "k", "203.0.113.1:500", "203.0.113.1:500");
    let peer = addr("198.51.100.10:500");
    let (mut i, mm1) = MainModeInitiator::start(ic, addr("203.0.113.1:500"), &mut rng).unwrap();
    let (mut r, mm2) = MainModeResponder::handle_mm1(rc, &mm1, peer, &mut rng).unwrap();
    let mm3 = i.handle_mm2(&mm2, &mut rng).unwrap();
    let mm4 = r.handle_mm3(&mm3, peer, &mut rng).unwrap();
    let mm5 = i.handle_mm4(&mm4, &mut rng).unwrap();
    let (mm6, _) = r.handle_mm5(&mm5, &mut rng).unwrap();
    let mut bad = mm6.clone();
    let last = bad.len() - 20;
    bad[last] ^= 0x40;
    assert!(i.handle_mm6(&bad).is_err());
    assert!(i.handle_mm6(&mm6[..mm6.len() - 1]).is_err(), "truncated");
    assert!(i.handle_mm6(&mm6).is_ok());
    // Out-of-order: the initiator is done now.
    assert!(matches!(
        i.handle_mm6(&mm6).unwrap_err(),
        Phase1Error::Unexpected(_)
    ));
}

#[test]
fn mm2_with_foreign_cookie_or_unoffered_suite_is_refused() {
    let mut rng = StdRng::seed_from_u64(12);
    let ic = config(vec![LAB_P1], "k", "198.51.100.10:500", "198.51.100.10:500");
    let (mut i, mm1) = MainModeInitiator::start(ic, addr("203.0.113.1:500"), &mut rng).unwrap();
    let other = Phase1Proposal {
        hash: HashAlgorithm::Sha1,
        ..LAB_P1
    };
    let rc = config(
        vec![LAB_P1, other],
        "k",
        "203.0.113.1:500",
        "203.0.113.1:500",
    );
    let (_, mut mm2) =
        MainModeResponder::handle_mm1(rc, &mm1, addr("198.51.100.10:500"), &mut rng).unwrap();
    let genuine = mm2.clone();
    mm2[0] ^= 1;
    assert_eq!(
        i.handle_mm2(&mm2, &mut rng).unwrap_err(),
        Phase1Error::Unexpected("cookie mismatch")
    );
    assert!(i.handle_mm2(&genuine, &mut rng).is_ok());
}

// --- RSA signatures ------------------------------------------------------------------------

const NOW: u64 = 1_800_000_000; // 2027-01-15

fn rsa_creds(name: &str, trusted: &[&str], now: u64) -> Phase1Credentials {
    Phase1Credentials::Rsa(Arc::new(RsaCredentials {
        key: RsaSigningKey::from_pem(&pki(&format!("{name}.key"))).unwrap(),
        cert: Certificate::from_pem(&pki(&format!("{name}.crt"))).unwrap(),
        trusted_cas: trusted
            .iter()
            .map(|f| Certificate::from_pem(&pki(f)).unwrap())
            .collect(),
        now_unix_secs: now,
    }))
}

const RSA_SUITE: Phase1Proposal = Phase1Proposal {
    auth: Phase1Auth::RsaSignatures,
    ..LAB_P1
};

fn run_rsa(
    init: Phase1Credentials,
    init_id: IdRepr,
    resp: Phase1Credentials,
) -> (
    Result<Phase1Sa, Phase1Error>,
    Option<Result<Phase1Sa, Phase1Error>>,
) {
    let mut rng = StdRng::seed_from_u64(21);
    let peer = addr("198.51.100.10:500");
    let ic = Phase1Config {
        suites: vec![RSA_SUITE],
        credentials: init,
        local_id: init_id,
        local_addr: peer,
        initial_contact: true,
    };
    let rc = Phase1Config {
        suites: vec![RSA_SUITE],
        credentials: resp,
        local_id: IdRepr::fqdn("sgw.lab.test"),
        local_addr: addr("203.0.113.1:500"),
        initial_contact: false,
    };
    let (mut i, mm1) = MainModeInitiator::start(ic, addr("203.0.113.1:500"), &mut rng).unwrap();
    let (mut r, mm2) = MainModeResponder::handle_mm1(rc, &mm1, peer, &mut rng).unwrap();
    let mm3 = i.handle_mm2(&mm2, &mut rng).unwrap();
    let mm4 = r.handle_mm3(&mm3, peer, &mut rng).unwrap();
    let mm5 = i.handle_mm4(&mm4, &mut rng).unwrap();
    match r.handle_mm5(&mm5, &mut rng) {
        Ok((mm6, r_sa)) => (Ok(r_sa), Some(i.handle_mm6(&mm6))),
        Err(e) => (Err(e), None),
    }
}

#[test]
fn rsa_signature_main_mode_establishes() {
    let (r, i) = run_rsa(
        rsa_creds("client", &["ca.crt"], NOW),
        IdRepr::fqdn("client.lab.test"),
        rsa_creds("sgw", &["ca.crt"], NOW),
    );
    let (r, i) = (r.unwrap(), i.unwrap().unwrap());
    assert_same_sa(&i, &r);
    assert_eq!(&i.peer_id[4..], b"sgw.lab.test");
    assert_eq!(&r.peer_id[4..], b"client.lab.test");
}

#[test]
fn rsa_peer_from_an_untrusted_ca_is_refused() {
    // The SGW trusts only a CA that is actually the client's own end-entity certificate.
    let (r, _) = run_rsa(
        rsa_creds("client", &["ca.crt"], NOW),
        IdRepr::fqdn("client.lab.test"),
        rsa_creds("sgw", &["sgw.crt"], NOW),
    );
    assert_eq!(r.unwrap_err(), Phase1Error::UntrustedCertificate);
}

#[test]
fn rsa_certificate_outside_its_validity_is_refused() {
    let (r, _) = run_rsa(
        rsa_creds("client", &["ca.crt"], NOW),
        IdRepr::fqdn("client.lab.test"),
        rsa_creds("sgw", &["ca.crt"], 2_200_000_000), // 2039
    );
    assert_eq!(r.unwrap_err(), Phase1Error::UntrustedCertificate);
}

#[test]
fn rsa_identity_must_name_the_certificate() {
    let (r, _) = run_rsa(
        rsa_creds("client", &["ca.crt"], NOW),
        IdRepr::fqdn("mallory.lab.test"),
        rsa_creds("sgw", &["ca.crt"], NOW),
    );
    assert_eq!(r.unwrap_err(), Phase1Error::IdentityMismatch);
}

#[test]
fn rsa_key_and_certificate_checks() {
    let key = RsaSigningKey::from_pem(&pki("client.key")).unwrap();
    let cert = Certificate::from_pem(&pki("client.crt")).unwrap();
    let other = Certificate::from_pem(&pki("sgw.crt")).unwrap();
    let ca = Certificate::from_pem(&pki("ca.crt")).unwrap();
    assert!(key.matches(&cert) && !key.matches(&other));
    assert!(cert.is_issued_by(&ca) && other.is_issued_by(&ca));
    assert!(!cert.is_issued_by(&other) && !ca.is_issued_by(&cert));
    assert!(ca.is_issued_by(&ca), "self-signed root");
    let mut rng = StdRng::seed_from_u64(3);
    let hash = [0x42u8; 32];
    let sig = key.sign_ike_hash(&hash, &mut rng).unwrap();
    assert_eq!(sig.len(), 256);
    assert!(cert.verify_ike_signature(&hash, &sig));
    assert!(!other.verify_ike_signature(&hash, &sig));
    // PKCS#1 v1.5 is deterministic: blinding randomness does not change the signature.
    let mut rng2 = StdRng::seed_from_u64(4);
    assert_eq!(key.sign_ike_hash(&hash, &mut rng2).unwrap(), sig);
    assert!(matches!(
        Certificate::from_der(&[0x30, 0x03, 0x02, 0x01, 0x01]),
        Err(ipsec_xlat::ike::crypto::CertError::Malformed(_))
    ));
    assert!(
        RsaSigningKey::from_pem("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----").is_err()
    );
}
