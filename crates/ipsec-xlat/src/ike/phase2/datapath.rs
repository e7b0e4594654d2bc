//! From a negotiated child SA to the datapath: the [`SaConfig`] of each direction, with its
//! keys, SPIs and lifetime, and a short name of the bundle for logs. Every role that runs SAs
//! (the client and the gateway) derives its SAs here, so they agree on lifetimes and margins.

use core::time::Duration;

use thiserror::Error;

use super::{ChildIntegrity, ChildProposal, ChildSa, Encapsulation, EspCipher};
use crate::ike::crypto::SaKeys;
use crate::sa::{
    AhConfig, Encryption as SaEncryption, EspConfig, EspSuite, Integrity as SaIntegrity, Lifetime,
    Mode, SaConfig, SecretKey, TunnelHeader, DEFAULT_REPLAY_WINDOW,
};

/// A negotiated child SA lacks what its proposal says it has (a bug in the exchange that made
/// it, never the peer's input): the SA is not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("negotiated child SA lacks its {what} ({direction:?})")]
pub struct IncompleteChild {
    /// What is missing: keys or an SPI of one protocol.
    pub what: &'static str,
    /// Which half of the bundle.
    pub direction: Direction,
}

fn esp_suite(cipher: EspCipher, integrity: Option<ChildIntegrity>) -> EspSuite {
    let integrity = integrity.map(sa_integrity);
    if cipher.is_aead() {
        EspSuite {
            encryption: SaEncryption::AesGcm16,
            integrity: None,
        }
    } else {
        EspSuite {
            encryption: SaEncryption::AesCbc,
            integrity,
        }
    }
}

fn sa_integrity(i: ChildIntegrity) -> SaIntegrity {
    match i {
        ChildIntegrity::HmacSha1_96 => SaIntegrity::HmacSha1_96,
        ChildIntegrity::HmacSha256_128 => SaIntegrity::HmacSha256_128,
    }
}

/// One direction of a negotiated bundle for the datapath: `spis` are the SPIs this direction's
/// packets carry (as the receiver knows them), `keys` this direction's ESP and AH keys, `outer`
/// the tunnel header (addresses of this direction).
pub fn sa_config(
    child: &ChildSa,
    direction: Direction,
    outer: TunnelHeader,
) -> Result<SaConfig, IncompleteChild> {
    let (spis, esp_keys, ah_keys) = match direction {
        Direction::Inbound => (child.inbound_spis, &child.esp_in, &child.ah_in),
        Direction::Outbound => (child.outbound_spis, &child.esp_out, &child.ah_out),
    };
    let missing = |what: &'static str| IncompleteChild { what, direction };
    let esp = match child.proposal.esp {
        Some((cipher, integrity)) => {
            let keys: &SaKeys = esp_keys.as_ref().ok_or_else(|| missing("ESP keys"))?;
            Some(EspConfig {
                spi: spis.esp.ok_or_else(|| missing("ESP SPI"))?,
                suite: esp_suite(cipher, integrity),
                encryption_key: SecretKey::new(keys.encryption.expose()),
                integrity_key: SecretKey::new(keys.integrity.expose()),
                esn: false,
            })
        }
        None => None,
    };
    let ah = match child.proposal.ah {
        Some(integrity) => {
            let keys: &SaKeys = ah_keys.as_ref().ok_or_else(|| missing("AH keys"))?;
            Some(AhConfig {
                spi: spis.ah.ok_or_else(|| missing("AH SPI"))?,
                integrity: sa_integrity(integrity),
                key: SecretKey::new(keys.integrity.expose()),
                esn: false,
            })
        }
        None => None,
    };
    // The negotiated lifetime plus a margin for the rekey's last packets: IKE replaces the SA
    // before then; the hard limit only stops an SA nobody replaced.
    let lifetime = u64::from(child.proposal.lifetime_secs);
    Ok(SaConfig {
        mode: Mode::Tunnel(outer),
        esp,
        ah,
        udp_encap: None,
        replay_window: DEFAULT_REPLAY_WINDOW,
        lifetime: Lifetime {
            hard_time: Some(Duration::from_secs(lifetime.saturating_add(lifetime / 10))),
            ..Lifetime::UNLIMITED
        },
    })
}

/// Which half of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Packets we receive.
    Inbound,
    /// Packets we send.
    Outbound,
}

/// A short name of a negotiated bundle for logs, e.g. `ESP aes128gcm16` or
/// `AH sha256 + ESP aes256-sha256`.
pub fn describe_child(p: &ChildProposal) -> String {
    let integ = |i: ChildIntegrity| match i {
        ChildIntegrity::HmacSha1_96 => "sha1",
        ChildIntegrity::HmacSha256_128 => "sha256",
    };
    let esp = p.esp.map(|(c, i)| {
        let c = match c {
            EspCipher::AesCbc128 => "aes128",
            EspCipher::AesCbc256 => "aes256",
            EspCipher::AesGcm16_128 => "aes128gcm16",
            EspCipher::AesGcm16_256 => "aes256gcm16",
        };
        match i {
            Some(i) => format!("ESP {c}-{}", integ(i)),
            None => format!("ESP {c}"),
        }
    });
    let ah = p.ah.map(|i| format!("AH {}", integ(i)));
    let mut name = match (ah, esp) {
        (Some(a), Some(e)) => format!("{a} + {e}"),
        (Some(a), None) => a,
        (None, Some(e)) => e,
        (None, None) => "nothing".into(),
    };
    if let Some(g) = p.pfs {
        name.push_str(&format!(" (PFS group {})", g.0));
    }
    if p.mode == Encapsulation::UdpTunnel {
        name.push_str(", UDP-encapsulated");
    }
    name
}
