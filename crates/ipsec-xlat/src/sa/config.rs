//! Configuration of one SA (or ESP+AH bundle) as IKE negotiated it.

use super::error::ConfigError;
use super::esp::EspSuite;
use super::integrity::Integrity;
use super::keys::SecretKey;
use super::lifetime::Lifetime;
use super::outer::{Mode, UdpEncap};
use super::replay::{MAX_WINDOW, MIN_WINDOW};

/// ESP part of an SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspConfig {
    /// SPI as the receiver of this direction knows it. For a client behind the relay, the
    /// s-side SPI: the one the SGW allocated or was told about.
    pub spi: u32,
    /// Algorithms.
    pub suite: EspSuite,
    /// Encryption key (for AES-GCM: key followed by the 4-byte salt; empty for NULL).
    pub encryption_key: SecretKey,
    /// Integrity key (empty for AES-GCM).
    pub integrity_key: SecretKey,
    /// Extended (64-bit) sequence numbers (RFC 4304).
    pub esn: bool,
}

/// AH part of an SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AhConfig {
    /// SPI as the receiver of this direction knows it (s-side for a relayed client).
    pub spi: u32,
    /// Integrity algorithm.
    pub integrity: Integrity,
    /// Integrity key.
    pub key: SecretKey,
    /// Extended (64-bit) sequence numbers.
    pub esn: bool,
}

/// One direction of an IPsec SA: ESP, AH, or the bundle AH-over-ESP (RFC 4301 §4.5: on
/// output ESP is applied first, then AH over the result, so the packet reads
/// `IP | AH | ESP | ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaConfig {
    /// Tunnel (with its outer header) or transport.
    pub mode: Mode,
    /// ESP, if this SA has it.
    pub esp: Option<EspConfig>,
    /// AH, if this SA has it.
    pub ah: Option<AhConfig>,
    /// RFC 3948 UDP encapsulation of ESP (not with AH, whose ICV covers the addresses a NAT
    /// rewrites).
    pub udp_encap: Option<UdpEncap>,
    /// Anti-replay window size for the inbound direction, 32..=4096 packets.
    pub replay_window: u32,
    /// Soft and hard lifetimes.
    pub lifetime: Lifetime,
}

/// Default anti-replay window (what strongSwan and Linux use unless told otherwise).
pub const DEFAULT_REPLAY_WINDOW: u32 = 64;

impl SaConfig {
    /// An ESP-only SA with a default replay window and no lifetime limits.
    pub fn esp(mode: Mode, esp: EspConfig) -> Self {
        Self {
            mode,
            esp: Some(esp),
            ah: None,
            udp_encap: None,
            replay_window: DEFAULT_REPLAY_WINDOW,
            lifetime: Lifetime::UNLIMITED,
        }
    }

    /// An AH-only SA with a default replay window and no lifetime limits.
    pub fn ah(mode: Mode, ah: AhConfig) -> Self {
        Self {
            mode,
            esp: None,
            ah: Some(ah),
            udp_encap: None,
            replay_window: DEFAULT_REPLAY_WINDOW,
            lifetime: Lifetime::UNLIMITED,
        }
    }

    /// Checks what can be checked without keys being used.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.esp.is_none() && self.ah.is_none() {
            return Err(ConfigError::Unsupported("an SA needs ESP, AH or both"));
        }
        if self.udp_encap.is_some() && self.ah.is_some() {
            return Err(ConfigError::Unsupported(
                "UDP encapsulation carries ESP only (AH covers the addresses a NAT rewrites)",
            ));
        }
        if self.udp_encap.is_some() && self.esp.is_none() {
            return Err(ConfigError::Unsupported("UDP encapsulation needs ESP"));
        }
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&self.replay_window) {
            return Err(ConfigError::BadReplayWindow(self.replay_window));
        }
        for spi in [
            self.esp.as_ref().map(|e| e.spi),
            self.ah.as_ref().map(|a| a.spi),
        ]
        .into_iter()
        .flatten()
        {
            if spi <= crate::wire::esp::MAX_RESERVED_SPI {
                return Err(ConfigError::ReservedSpi(spi));
            }
        }
        if let Some(esp) = &self.esp {
            esp.suite.validate()?;
        }
        Ok(())
    }
}
