//! The relay never holds IKE or IPsec key material: a complete exchange client -> relay ->
//! test SGW is driven in memory, every secret the two ends derived is collected, and the
//! relay's whole state (its `Debug`, which prints every field of every session, its events
//! and every datagram it sent) is searched for each of them as raw bytes, lowercase hex and
//! Rust's `[1, 2, 3]` list form.
//!
//! The Diffie-Hellman values are found without any hook in the client: the client seeds its
//! own generator from 32 bytes of the one it is given, so the test replays that stream,
//! recognises the client's private value as the window whose public value went through the
//! relay in a KE payload, and computes the shared secret with the SGW's public value. Both are
//! then searched for like every other secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod ike_lab;

use core::net::IpAddr;
use core::time::Duration;
use std::cell::RefCell;
use std::rc::Rc;

use ipsec_xlat::ike::crypto::{expand_encryption_key, SaKeys};
use ipsec_xlat::ike::dh::DhGroup;
use ipsec_xlat::ike::dh::DhPrivate;
use ipsec_xlat::ike::phase1::Phase1Proposal;
use ipsec_xlat::ike::phase2::{ChildIntegrity, ChildProposal, Encapsulation, EspCipher};
use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat::ike::*;
use ipsec_xlat::net::Leg;
use ipsec_xlat::testing::{add_ike_node, Fate, IkeNode, Network, RunLimit, RunOutcome};
use ipsec_xlat::wire::isakmp::{Message, PayloadType};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use ike_lab::{relay_config, LabSuite, CLIENT, LAB_P1, RELAY_C, RELAY_S, SGW};

fn child(pfs: Option<DhGroup>, ah: bool) -> ChildProposal {
    ChildProposal {
        esp: Some((EspCipher::AesCbc128, Some(ChildIntegrity::HmacSha256_128))),
        ah: ah.then_some(ChildIntegrity::HmacSha256_128),
        pfs,
        mode: Encapsulation::Tunnel,
        lifetime_secs: 3960,
    }
}

/// What one complete exchange left behind.
struct Outcome {
    /// Every secret either end derived, at least 16 bytes long.
    secrets: Vec<(String, Vec<u8>)>,
    /// The relay's state rendered as text: its `Debug` (plain and pretty) and its events.
    relay_text: String,
    /// Every byte the relay emitted, and the text above as bytes.
    relay_bytes: Vec<u8>,
    /// The relay's IPsec translation entries (to prove the exchange really completed).
    ipsec_entries: usize,
}

fn run(rsa: bool, child_proposal: ChildProposal, seed: u64) -> Outcome {
    run_with_group(rsa, child_proposal, seed, LAB_P1.group)
}

fn run_with_group(rsa: bool, child_proposal: ChildProposal, seed: u64, group: DhGroup) -> Outcome {
    let p1 = Phase1Proposal { group, ..LAB_P1 };
    let mut rng = StdRng::seed_from_u64(seed);
    let relay_key = StaticKeypair::generate(&mut rng);
    let client_key = StaticKeypair::generate(&mut rng);
    let suite = LabSuite {
        p1,
        child: child_proposal,
        rsa,
    };
    let sgw = TestSgw::new(suite.sgw_config("lab-only-psk"), &mut rng);
    let relay = IkeRelay::new(
        relay_config(relay_key.clone(), vec![client_key.public()]),
        &mut rng,
    );
    let spis = ipsec_xlat::relay::StandaloneSpis::new(seed);
    let mut net = Network::new(Duration::from_millis(1));
    // The client's generator, and a copy of the seed it will draw for its own (see the top).
    let mut client_rng = StdRng::seed_from_u64(seed.wrapping_add(0x5eed));
    let mut client_seed = [0u8; 32];
    client_rng.clone().fill_bytes(&mut client_seed);
    let client = IkeClient::new(
        suite.client_config(
            "lab-only-psk",
            CLIENT,
            client_key,
            relay_key.public(),
            "alice@example.com",
        ),
        net.now(),
        &mut client_rng,
    )
    .unwrap();
    let client = add_ike_node(
        &mut net,
        "client",
        client,
        (),
        &[(Leg::CSide, IpAddr::V4(CLIENT))],
    );
    let relay = add_ike_node(
        &mut net,
        "relay",
        relay,
        spis,
        &[
            (Leg::CSide, IpAddr::V4(RELAY_C)),
            (Leg::SSide, IpAddr::V4(RELAY_S)),
        ],
    );
    let sgw = add_ike_node(&mut net, "sgw", sgw, (), &[(Leg::SSide, IpAddr::V4(SGW))]);

    // Every datagram the relay put on the wire, either side.
    let relay_datagrams: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let seen = Rc::clone(&relay_datagrams);
    net.set_impairment(move |d| {
        if d.from == relay {
            seen.borrow_mut().push(d.bytes.clone());
        }
        Fate::Deliver
    });
    let limit = RunLimit::for_duration(net.now(), Duration::from_secs(10));
    let outcome = net.run_until(limit, |net| net.in_flight() == 0);
    assert_eq!(outcome, RunOutcome::Done, "the exchange settled");
    assert_eq!(net.stats().undeliverable, 0, "no datagram to nowhere");
    let relay_datagrams = relay_datagrams.take();
    let relay_sent: Vec<u8> = relay_datagrams.concat();
    let (client_id, relay_id) = (client, relay);
    let client = net
        .node_mut::<IkeNode<IkeClient>>(client_id)
        .unwrap()
        .inner_mut();
    let client_events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
    let sgw = net.node_mut::<IkeNode<TestSgw>>(sgw).unwrap().inner_mut();
    let sgw_events: Vec<_> = std::iter::from_fn(|| sgw.poll_event()).collect();
    let relay = net
        .node_mut::<IkeNode<IkeRelay>>(relay_id)
        .unwrap()
        .inner_mut();
    let relay_events: Vec<_> = std::iter::from_fn(|| relay.poll_event()).collect();
    let relay = net.node::<IkeNode<IkeRelay>>(relay_id).unwrap().inner();
    let client = net.node::<IkeNode<IkeClient>>(client_id).unwrap().inner();

    let mut secrets = Vec::new();
    let p1 = client.phase1_keys().expect("IKE SA established");
    secrets.push(("SKEYID".to_owned(), p1.skeyid().expose().to_vec()));
    secrets.push(("SKEYID_d".to_owned(), p1.skeyid_d().expose().to_vec()));
    secrets.push(("SKEYID_a".to_owned(), p1.skeyid_a().expose().to_vec()));
    secrets.push(("SKEYID_e".to_owned(), p1.skeyid_e().expose().to_vec()));
    let ka = expand_encryption_key(LAB_P1.hash, p1.skeyid_e(), LAB_P1.cipher.key_len());
    secrets.push(("IKE encryption key".to_owned(), ka.expose().to_vec()));
    let (dh_private, dh_shared) = phase1_dh(group, client_seed, &relay_datagrams);
    secrets.push(("client's DH private value".to_owned(), dh_private));
    secrets.push(("DH shared secret g^xy".to_owned(), dh_shared));
    let mut push_sa = |who: &str, c: &ipsec_xlat::ike::phase2::ChildSa| {
        let keys: [(&str, &Option<SaKeys>); 4] = [
            ("esp_in", &c.esp_in),
            ("esp_out", &c.esp_out),
            ("ah_in", &c.ah_in),
            ("ah_out", &c.ah_out),
        ];
        for (name, k) in keys {
            if let Some(k) = k {
                secrets.push((format!("{who} {name} enc"), k.encryption.expose().to_vec()));
                secrets.push((format!("{who} {name} integ"), k.integrity.expose().to_vec()));
            }
        }
    };
    let mut children = 0;
    for e in &client_events {
        if let IkeClientEvent::ChildEstablished(c) = e {
            children += 1;
            push_sa("client", &c.sa);
        }
    }
    for e in &sgw_events {
        if let SgwEvent::ChildEstablished { child, .. } = e {
            children += 1;
            push_sa("sgw", child);
        }
    }
    assert_eq!(children, 2, "one child on each end");
    secrets.retain(|(_, s)| s.len() >= 16);

    let relay_text = format!("{relay:?}\n{relay:#?}\n{relay_events:?}\n{relay_events:#?}");
    let mut relay_bytes = relay_sent;
    relay_bytes.extend_from_slice(relay_text.as_bytes());
    let ipsec_entries = relay_events
        .iter()
        .filter(|e| matches!(e, IkeRelayEvent::IpsecTranslation(_)))
        .count();
    Outcome {
        secrets,
        relay_text,
        relay_bytes,
        ipsec_entries,
    }
}

/// The public values of every KE payload in the (unencrypted) messages the relay forwarded.
fn ke_payloads(datagrams: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    for datagram in datagrams {
        // On port 4500 IKE follows the four-byte non-ESP marker.
        let ike = match datagram.strip_prefix(&[0u8; 4]) {
            Some(rest) => rest,
            None => datagram.as_slice(),
        };
        let Ok((message, _tail)) = Message::parse(ike) else {
            continue;
        };
        let Ok(payloads) = message.payloads() else {
            continue; // encrypted
        };
        for payload in payloads.flatten() {
            if payload.payload_type() == PayloadType::KEY_EXCHANGE {
                found.push(payload.body().to_vec());
            }
        }
    }
    found
}

/// The client's phase-1 DH private value and the shared secret, recovered by replaying the
/// client's generator from its seed: the private value is the 32-byte window of that stream
/// (at some 32-bit word offset: the generator hands out whole words) whose public value the
/// relay forwarded; the shared secret follows from the other KE payload, the SGW's.
fn phase1_dh(group: DhGroup, client_seed: [u8; 32], datagrams: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
    let publics = ke_payloads(datagrams);
    assert_eq!(publics.len(), 2, "main mode carries one KE each way");
    let mut stream = vec![0u8; 4096];
    ChaCha20Rng::from_seed(client_seed).fill_bytes(&mut stream);
    for offset in (0..=stream.len() - 32).step_by(4) {
        let window = &stream[offset..offset + 32];
        let Ok(candidate) = DhPrivate::from_private_bytes(group, window) else {
            continue;
        };
        let public = candidate.public_value();
        let Some(ours) = publics.iter().position(|p| *p == public) else {
            continue;
        };
        let theirs = &publics[1 - ours];
        let shared = candidate
            .agree(theirs)
            .expect("the SGW's public value is valid");
        return (window.to_vec(), shared.expose().to_vec());
    }
    panic!("the client's DH private value is not in the first 4 KiB of its generator");
}

/// The forms in which `secret` would show up if it leaked: found in `text` or `bytes`?
fn leaks(secret: &[u8], text: &str, bytes: &[u8]) -> Option<&'static str> {
    if bytes.windows(secret.len()).any(|w| w == secret) {
        return Some("raw bytes");
    }
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    if text.to_ascii_lowercase().contains(&hex) {
        return Some("hex");
    }
    let list = format!("{secret:?}");
    let inner = list.trim_start_matches('[').trim_end_matches(']');
    if text.contains(inner) {
        return Some("Debug list");
    }
    // Pretty Debug puts each element on its own line; compare with whitespace removed.
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let inner_squeezed: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    if squeezed.contains(&inner_squeezed) {
        return Some("pretty Debug list");
    }
    None
}

fn assert_no_keys(o: &Outcome) {
    assert!(o.ipsec_entries >= 1, "the exchange completed at the relay");
    assert!(
        o.secrets.len() >= 11,
        "secrets collected: {}",
        o.secrets.len()
    );
    // The dump really is the relay's state, not an empty summary.
    assert!(o.relay_text.contains("sessions"));
    assert!(o.relay_text.contains("TailSession"));
    assert!(o.relay_text.contains("IpsecTranslation"));
    for (name, secret) in &o.secrets {
        assert_eq!(
            leaks(secret, &o.relay_text, &o.relay_bytes),
            None,
            "{name} found in the relay's state"
        );
    }
}

#[test]
fn psk_main_and_quick_mode() {
    assert_no_keys(&run(false, child(None, false), 1));
}

#[test]
fn psk_quick_mode_with_pfs_and_ah() {
    assert_no_keys(&run(false, child(Some(DhGroup::MODP_2048), true), 2));
}

#[test]
fn psk_curve25519() {
    assert_no_keys(&run_with_group(
        false,
        child(None, false),
        5,
        DhGroup::CURVE25519,
    ));
}

#[test]
fn rsa_signatures() {
    assert_no_keys(&run(true, child(None, false), 3));
}

/// The search is not vacuous: a secret put into the relay's rendered state is found in each form.
#[test]
fn search_finds_an_injected_secret() {
    let o = run(false, child(None, false), 4);
    let (_, secret) = &o.secrets[0];
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let forms = [
        (
            format!("{}{}", o.relay_text, hex.to_uppercase()),
            Vec::new(),
            "hex",
        ),
        (
            format!("{}{:?}", o.relay_text, secret),
            Vec::new(),
            "Debug list",
        ),
        (
            format!("{}{:#?}", o.relay_text, secret),
            Vec::new(),
            "pretty Debug list",
        ),
        (
            o.relay_text.clone(),
            {
                let mut b = o.relay_bytes.clone();
                b.extend_from_slice(secret);
                b
            },
            "raw bytes",
        ),
    ];
    for (text, bytes, form) in forms {
        assert_eq!(leaks(secret, &text, &bytes), Some(form));
    }
}
