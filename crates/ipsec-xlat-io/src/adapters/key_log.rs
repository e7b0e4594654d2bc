//! An SA key log for test gateways: one JSON object per SA and direction, in the format of the
//! independent oracle (`oracle.py decap --sa`), so captured packets can be verified by an
//! implementation that shares nothing with ours.
//!
//! Why it exists: AH through the relay is only proven when an outside verifier accepts the AH
//! packets the SGW receives and sends. strongSwan writes its keys to its log for the same
//! purpose (`ike = 4`); `xlat-test-sgw --key-log` is the equivalent. A production relay has no
//! keys to log, and the client never logs its own.

use core::fmt::Write as _;
use core::net::IpAddr;

use ipsec_xlat::ike::phase2::{ChildIntegrity, ChildSa, EspCipher};

use ipsec_xlat::ike::phase2::Direction;

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn auth_name(i: ChildIntegrity) -> &'static str {
    match i {
        ChildIntegrity::HmacSha1_96 => "HMAC-SHA1-96",
        ChildIntegrity::HmacSha256_128 => "HMAC-SHA256-128",
    }
}

fn crypt_name(c: EspCipher) -> &'static str {
    match c {
        EspCipher::AesCbc128 | EspCipher::AesCbc256 => "AES-CBC",
        EspCipher::AesGcm16_128 | EspCipher::AesGcm16_256 => "AES-GCM-16",
    }
}

/// The key-log lines of one direction of `child`, whose outer header runs `src` → `dst`: an AH
/// line and/or an ESP line (a bundle has both). `peer` only labels the line. Lines for parts
/// whose SPI or keys are missing are left out (the SA could not have been installed anyway).
pub fn key_log_lines(
    child: &ChildSa,
    direction: Direction,
    src: IpAddr,
    dst: IpAddr,
    udp_encap: bool,
) -> Vec<String> {
    let (spis, esp_keys, ah_keys, dir) = match direction {
        Direction::Inbound => (child.inbound_spis, &child.esp_in, &child.ah_in, "in"),
        Direction::Outbound => (child.outbound_spis, &child.esp_out, &child.ah_out, "out"),
    };
    let outer = format!(r#""outer": {{"src": "{src}", "dst": "{dst}"}}"#);
    let mut lines = Vec::new();
    if let (Some(integrity), Some(spi), Some(keys)) = (child.proposal.ah, spis.ah, ah_keys) {
        lines.push(format!(
            r#"{{"direction": "{dir}", "proto": "AH", "spi": "0x{spi:08x}", "auth_algo": "{}", "auth_key": "{}", {outer}}}"#,
            auth_name(integrity),
            hex(keys.integrity.expose())
        ));
    }
    if let (Some((cipher, integrity)), Some(spi), Some(keys)) =
        (child.proposal.esp, spis.esp, esp_keys)
    {
        let auth = match integrity {
            Some(i) => format!(
                r#", "auth_algo": "{}", "auth_key": "{}""#,
                auth_name(i),
                hex(keys.integrity.expose())
            ),
            None => String::new(),
        };
        let nat_t = if udp_encap {
            r#", "nat_t": {"sport": 4500, "dport": 4500}"#
        } else {
            ""
        };
        lines.push(format!(
            r#"{{"direction": "{dir}", "proto": "ESP", "spi": "0x{spi:08x}", "crypt_algo": "{}", "crypt_key": "{}"{auth}, {outer}{nat_t}}}"#,
            crypt_name(cipher),
            hex(keys.encryption.expose())
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipsec_xlat::ike::crypto::{SaKeys, SecretBytes};
    use ipsec_xlat::ike::phase2::{BundleSpis, ChildProposal, Encapsulation};

    fn keys(encryption: &[u8], integrity: &[u8]) -> Option<SaKeys> {
        Some(SaKeys {
            encryption: SecretBytes::new(encryption.to_vec()),
            integrity: SecretBytes::new(integrity.to_vec()),
        })
    }

    fn bundle() -> ChildSa {
        ChildSa {
            message_id: 1,
            proposal: ChildProposal {
                esp: Some((EspCipher::AesCbc128, Some(ChildIntegrity::HmacSha256_128))),
                ah: Some(ChildIntegrity::HmacSha1_96),
                pfs: None,
                mode: Encapsulation::Tunnel,
                lifetime_secs: 3600,
            },
            inbound_spis: BundleSpis {
                esp: Some(0x1111_1111),
                ah: Some(0x2222_2222),
            },
            outbound_spis: BundleSpis {
                esp: Some(0x3333_3333),
                ah: Some(0x4444_4444),
            },
            esp_in: keys(&[1; 16], &[2; 32]),
            esp_out: keys(&[3; 16], &[4; 32]),
            ah_in: keys(&[], &[5; 20]),
            ah_out: keys(&[], &[6; 20]),
        }
    }

    #[test]
    fn bundle_logs_ah_and_esp_per_direction_with_that_directions_keys() {
        let child = bundle();
        let src: IpAddr = "203.0.113.254".parse().unwrap();
        let dst: IpAddr = "203.0.113.1".parse().unwrap();
        let inbound = key_log_lines(&child, Direction::Inbound, src, dst, false);
        assert_eq!(inbound.len(), 2);
        assert!(inbound[0].contains(r#""proto": "AH", "spi": "0x22222222""#));
        assert!(inbound[0].contains(r#""auth_algo": "HMAC-SHA1-96""#));
        assert!(inbound[0].contains(&"05".repeat(20)));
        assert!(inbound[1].contains(r#""proto": "ESP", "spi": "0x11111111""#));
        assert!(inbound[1].contains(r#""crypt_algo": "AES-CBC", "crypt_key": "01010101"#));
        assert!(inbound[1].contains(&"02".repeat(32)));
        assert!(inbound[1].contains(r#""outer": {"src": "203.0.113.254", "dst": "203.0.113.1"}"#));
        assert!(!inbound[1].contains("nat_t"));
        let outbound = key_log_lines(&child, Direction::Outbound, dst, src, true);
        assert!(outbound[0].contains(r#""direction": "out""#));
        assert!(outbound[0].contains("0x44444444") && outbound[0].contains(&"06".repeat(20)));
        assert!(outbound[1].contains("0x33333333") && outbound[1].contains(r#""nat_t""#));
    }

    #[test]
    fn aead_esp_has_no_auth_fields_and_missing_keys_log_nothing() {
        let mut child = bundle();
        child.proposal.ah = None;
        child.proposal.esp = Some((EspCipher::AesGcm16_128, None));
        let src: IpAddr = "203.0.113.254".parse().unwrap();
        let dst: IpAddr = "203.0.113.1".parse().unwrap();
        let lines = key_log_lines(&child, Direction::Inbound, src, dst, false);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains(r#""crypt_algo": "AES-GCM-16""#));
        assert!(!lines[0].contains("auth_algo"));
        child.esp_out = None;
        assert!(key_log_lines(&child, Direction::Outbound, dst, src, false).is_empty());
    }
}
