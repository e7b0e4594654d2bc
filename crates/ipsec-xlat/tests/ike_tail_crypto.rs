//! The tail handshake (Noise IK in the mm1/mm2 tails) and sealed transport tails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use ipsec_xlat::ike::tail_crypto::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Stand-ins for the ISAKMP messages the tails ride on (their bytes only matter for binding).
const MM1: &[u8] = b"isakmp mm1 header+payloads";
const MM2: &[u8] = b"isakmp mm2 header+payloads";
const MM5: &[u8] = b"isakmp mm5 encrypted";
const MM6: &[u8] = b"isakmp mm6 encrypted";

struct Keys {
    client: StaticKeypair,
    relay: StaticKeypair,
}

fn keys(rng: &mut StdRng) -> Keys {
    Keys {
        client: StaticKeypair::generate(rng),
        relay: StaticKeypair::generate(rng),
    }
}

/// Runs mm1/mm2 and returns both sessions.
fn handshake(k: &Keys, rng: &mut StdRng) -> (TailSession, TailSession) {
    let mut init = TailInitiator::new(&k.client, &k.relay.public(), rng).unwrap();
    let mm1_tail = init.write_mm1(MM1, b"user=alice@example.com").unwrap();
    let authorised = k.client.public();
    let (resp, payload) =
        TailResponder::accept_mm1(&k.relay, MM1, &mm1_tail, |c| *c == authorised, rng).unwrap();
    assert_eq!(payload, b"user=alice@example.com");
    assert_eq!(resp.client(), &k.client.public());
    let (relay_session, mm2_tail) = resp.write_mm2(MM2, b"sgw=203.0.113.1").unwrap();
    let (client_session, payload) = init.read_mm2(MM2, &mm2_tail).unwrap();
    assert_eq!(payload, b"sgw=203.0.113.1");
    assert_eq!(client_session.peer(), &k.relay.public());
    assert_eq!(relay_session.peer(), &k.client.public());
    (client_session, relay_session)
}

#[test]
fn handshake_then_sealed_tails_round_trip_both_ways() {
    let mut rng = StdRng::seed_from_u64(1);
    let k = keys(&mut rng);
    let (mut client, mut relay) = handshake(&k, &mut rng);

    let sealed = client.seal(MM5, b"c-spi-1=0x11223344").unwrap();
    assert_eq!(
        sealed.len(),
        TRANSPORT_OVERHEAD + b"c-spi-1=0x11223344".len()
    );
    assert_eq!(relay.open(MM5, &sealed).unwrap(), b"c-spi-1=0x11223344");

    let sealed = relay.seal(MM6, b"s-spi-2, c-spi-2").unwrap();
    assert_eq!(client.open(MM6, &sealed).unwrap(), b"s-spi-2, c-spi-2");

    // Many more, including an empty payload.
    for i in 0..100u32 {
        let msg = i.to_be_bytes();
        let sealed = client.seal(&msg, &msg).unwrap();
        assert_eq!(relay.open(&msg, &sealed).unwrap(), msg);
    }
    let sealed = relay.seal(MM6, b"").unwrap();
    assert_eq!(client.open(MM6, &sealed).unwrap(), b"");
}

#[test]
fn payloads_are_not_visible_on_the_wire() {
    let mut rng = StdRng::seed_from_u64(2);
    let k = keys(&mut rng);
    let mut init = TailInitiator::new(&k.client, &k.relay.public(), &mut rng).unwrap();
    let secret_user = b"user=bob@example.com";
    let mm1_tail = init.write_mm1(MM1, secret_user).unwrap();
    assert!(!mm1_tail
        .windows(secret_user.len())
        .any(|w| w == secret_user));
    assert!(
        !mm1_tail.windows(32).any(|w| w == k.client.public().0),
        "client static key is sent encrypted"
    );
}

#[test]
fn tampered_tails_fail_authentication() {
    let mut rng = StdRng::seed_from_u64(3);
    let k = keys(&mut rng);

    // mm1: flip each byte position class (ephemeral, encrypted static, payload, tag).
    let mut init = TailInitiator::new(&k.client, &k.relay.public(), &mut rng).unwrap();
    let mm1_tail = init.write_mm1(MM1, b"user=alice").unwrap();
    for pos in [0, 40, 90, mm1_tail.len() - 1] {
        let mut bad = mm1_tail.clone();
        bad[pos] ^= 0x01;
        let err = TailResponder::accept_mm1(&k.relay, MM1, &bad, |_| true, &mut rng).unwrap_err();
        assert!(
            matches!(err, TailCryptoError::Authentication),
            "byte {pos}: {err:?}"
        );
    }

    // mm2 tampered: the client refuses it and can still complete with the genuine one.
    let (resp, _) =
        TailResponder::accept_mm1(&k.relay, MM1, &mm1_tail, |_| true, &mut rng).unwrap();
    let (mut relay, mm2_tail) = resp.write_mm2(MM2, b"ok").unwrap();
    let mut bad = mm2_tail.clone();
    bad[40] ^= 0x80;
    assert_eq!(
        init.read_mm2(MM2, &bad).unwrap_err(),
        TailCryptoError::Authentication
    );
    let (mut client, _) = init.read_mm2(MM2, &mm2_tail).unwrap();
    assert_eq!(
        init.read_mm2(MM2, &mm2_tail).unwrap_err(),
        TailCryptoError::HandshakeFinished
    );

    // Transport: every byte matters, counter included.
    let sealed = client.seal(MM5, b"payload").unwrap();
    for pos in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[pos] ^= 0x04;
        assert!(
            relay.open(MM5, &bad).is_err(),
            "tampered byte {pos} must not open"
        );
    }
    // The genuine tail still opens: failed attempts did not move the window.
    assert_eq!(relay.open(MM5, &sealed).unwrap(), b"payload");
    assert!(matches!(
        relay.open(MM5, &sealed[..10]).unwrap_err(),
        TailCryptoError::Truncated { .. }
    ));
}

#[test]
fn unauthorised_client_is_refused() {
    let mut rng = StdRng::seed_from_u64(4);
    let k = keys(&mut rng);
    let stranger = StaticKeypair::generate(&mut rng);
    let allowed = [k.client.public()];
    let mut init = TailInitiator::new(&stranger, &k.relay.public(), &mut rng).unwrap();
    let mm1_tail = init.write_mm1(MM1, b"user=mallory").unwrap();
    let err =
        TailResponder::accept_mm1(&k.relay, MM1, &mm1_tail, |c| allowed.contains(c), &mut rng)
            .unwrap_err();
    assert_eq!(err, TailCryptoError::UnauthorisedClient);

    // The authorised client passes the same check.
    let mut init = TailInitiator::new(&k.client, &k.relay.public(), &mut rng).unwrap();
    let mm1_tail = init.write_mm1(MM1, b"user=alice").unwrap();
    assert!(
        TailResponder::accept_mm1(&k.relay, MM1, &mm1_tail, |c| allowed.contains(c), &mut rng)
            .is_ok()
    );
}

#[test]
fn client_with_wrong_relay_key_cannot_reach_the_relay() {
    let mut rng = StdRng::seed_from_u64(5);
    let k = keys(&mut rng);
    let other_relay = StaticKeypair::generate(&mut rng);
    let mut init = TailInitiator::new(&k.client, &other_relay.public(), &mut rng).unwrap();
    let mm1_tail = init.write_mm1(MM1, b"user=alice").unwrap();
    assert_eq!(
        TailResponder::accept_mm1(&k.relay, MM1, &mm1_tail, |_| true, &mut rng).unwrap_err(),
        TailCryptoError::Authentication
    );
}

#[test]
fn tails_are_bound_to_their_message() {
    let mut rng = StdRng::seed_from_u64(6);
    let k = keys(&mut rng);
    let mut init = TailInitiator::new(&k.client, &k.relay.public(), &mut rng).unwrap();
    let mm1_tail = init.write_mm1(MM1, b"user=alice").unwrap();
    assert_eq!(
        TailResponder::accept_mm1(&k.relay, b"another mm1", &mm1_tail, |_| true, &mut rng)
            .unwrap_err(),
        TailCryptoError::WrongMessage
    );
    let (mut client, mut relay) = handshake(&k, &mut rng);
    let sealed = client.seal(MM5, b"x").unwrap();
    assert_eq!(
        relay.open(MM6, &sealed).unwrap_err(),
        TailCryptoError::WrongMessage
    );
    // A mis-bound tail does not consume its counter.
    assert_eq!(relay.open(MM5, &sealed).unwrap(), b"x");
}

#[test]
fn replays_are_reported_and_reordering_is_accepted() {
    let mut rng = StdRng::seed_from_u64(7);
    let k = keys(&mut rng);
    let (mut client, mut relay) = handshake(&k, &mut rng);
    // A tail sealed by one side cannot be reflected back to it (distinct keys per direction).
    let from_relay = relay.seal(MM6, b"r").unwrap();
    assert_eq!(
        relay.open(MM6, &from_relay).unwrap_err(),
        TailCryptoError::Authentication
    );
    assert_eq!(client.open(MM6, &from_relay).unwrap(), b"r");
    let first = client.seal(MM5, b"1").unwrap();
    let second = client.seal(MM5, b"2").unwrap();
    assert_eq!(relay.open(MM5, &second).unwrap(), b"2");
    assert_eq!(relay.open(MM5, &first).unwrap(), b"1", "reordered is fine");
    assert_eq!(
        relay.open(MM5, &first).unwrap_err(),
        TailCryptoError::Replayed { counter: 0 }
    );
    let held_back = client.seal(MM5, b"late").unwrap();
    for _ in 0..70 {
        let s = client.seal(MM5, b"n").unwrap();
        relay.open(MM5, &s).unwrap();
    }
    assert_eq!(
        relay.open(MM5, &held_back).unwrap_err(),
        TailCryptoError::TooOld { counter: 2 }
    );
}

#[test]
fn sessions_are_deterministic_under_injected_randomness() {
    let run = || {
        let mut rng = StdRng::seed_from_u64(8);
        let k = keys(&mut rng);
        let mut init = TailInitiator::new(&k.client, &k.relay.public(), &mut rng).unwrap();
        init.write_mm1(MM1, b"user").unwrap()
    };
    assert_eq!(run(), run());
}

#[test]
fn debug_output_hides_private_keys() {
    let kp = StaticKeypair::from_private_bytes([0xab; 32]);
    let shown = format!("{kp:?}");
    assert!(!shown.contains("171, 171"), "{shown}");
}
