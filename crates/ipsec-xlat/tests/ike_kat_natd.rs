//! NAT-D known answers (RFC 3947) from the strongSwan captures, and the s-side rule: a NAT-D
//! hash is computed over the addresses *as the receiver sees them*.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod ike_support;

use ike_support::*;
use ipsec_xlat::ike::crypto::{natd_hash, Cookies, HashAlgorithm};

const HASH: HashAlgorithm = HashAlgorithm::Sha256;

fn main_mode(name: &str, side: &str) -> Vec<IsakmpDatagram> {
    let dir = capture_dir(name);
    read_isakmp(&dir.join(format!("{name}.{side}.pcap")))
        .into_iter()
        .filter(|d| d.exchange_type() == MAIN_MODE)
        .collect()
}

fn natd_payloads(msg: &IsakmpDatagram) -> Vec<Vec<u8>> {
    let payloads = walk(msg.first_payload(), msg.body());
    find_all(&payloads, payload::NAT_D)
        .into_iter()
        .map(|p| p.body.clone())
        .collect()
}

/// Without NAT, the first NAT-D payload of mm3 and mm4 (the hash of the *remote* end, RFC 3947
/// section 3.2) is exactly HASH(CKY-I | CKY-R | IP | port) of the datagram's destination, and
/// charon printed the same value.
#[test]
fn destination_hashes_match_wire_and_charon() {
    let name = "psk-nonat-ike_aes128-sha256-modp2048-esp_aes128-sha256";
    let mm = main_mode(name, "client-side");
    let cookies = Cookies::new(mm[0].initiator_cookie(), mm[1].responder_cookie());
    let log = std::fs::read_to_string(capture_dir(name).join(format!("{name}.logs/xc-charon.log")))
        .unwrap();
    let charon_hashes = log_values(&log, "natd_hash");
    for msg in [&mm[2], &mm[3]] {
        let ours = natd_hash(HASH, &cookies, msg.dst);
        assert_eq!(
            natd_payloads(msg)[0],
            ours,
            "dst hash of {} -> {}",
            msg.src,
            msg.dst
        );
        assert!(charon_hashes.contains(&ours));
    }
    // charon's own hash of its (client) address, which it printed but did not send as-is:
    let own = natd_hash(HASH, &cookies, mm[2].src);
    assert!(
        charon_hashes.contains(&own),
        "charon computed the real source hash"
    );
}

/// Debian's strongSwan with kernel-libipsec forces UDP encapsulation by sending a source NAT-D
/// hash that cannot match (LAB-STRONGSWAN.md): the second payload differs from the real hash of
/// the sender's address in both directions. A client talking to such an SGW must expect NAT to
/// be "detected" and float to 4500 even with no NAT on the path.
#[test]
fn strongswan_forces_nat_with_a_bogus_source_hash() {
    let name = "psk-nonat-ike_aes128-sha256-modp2048-esp_aes128-sha256";
    let mm = main_mode(name, "client-side");
    let cookies = Cookies::new(mm[0].initiator_cookie(), mm[1].responder_cookie());
    for msg in [&mm[2], &mm[3]] {
        let sent = natd_payloads(msg);
        assert_eq!(sent.len(), 2);
        assert_ne!(
            sent[1],
            natd_hash(HASH, &cookies, msg.src),
            "source hash is forced"
        );
    }
}

/// Through a real NAT, the SGW's mm4 destination hash covers the address the SGW saw (the NAT's
/// outside address from the SGW-side capture), not the client's own address. This is the rule
/// our client follows toward the SGW: NAT-D is computed over the s-side addresses.
#[test]
fn nat_hash_covers_the_address_the_receiver_saw() {
    let name = "psk-nat";
    let client = main_mode(name, "client-side");
    let sgw = main_mode(name, "sgw-side");
    let cookies = Cookies::new(client[0].initiator_cookie(), client[1].responder_cookie());
    assert_eq!(
        sgw[0].initiator_cookie(),
        client[0].initiator_cookie(),
        "NAT keeps cookies"
    );
    let mm4_seen_by_client = &client[3];
    let mm4_sent_by_sgw = &sgw[3];
    assert_ne!(
        mm4_seen_by_client.dst, mm4_sent_by_sgw.dst,
        "there is a NAT"
    );
    let dst_hash = &natd_payloads(mm4_seen_by_client)[0];
    assert_eq!(dst_hash, &natd_hash(HASH, &cookies, mm4_sent_by_sgw.dst));
    assert_ne!(dst_hash, &natd_hash(HASH, &cookies, mm4_seen_by_client.dst));
}
