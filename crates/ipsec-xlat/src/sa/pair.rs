//! An installed SA pair: the outbound and inbound halves of one negotiated bundle, the IV
//! source its outbound half seals with, and the lifetime clock both halves keep.
//!
//! Every role that runs SAs (the gateway with plain [`OutboundSa`]/[`InboundSa`], the client
//! with [`ClientOutboundSa`]/[`ClientInboundSa`], which translate SPIs for the relay) holds
//! its bundles in this shape, so timers, expiry and IVs are written once. A bundle is gone
//! when both halves reached a hard lifetime limit (RFC 4301 §4.4.2.1): one dead half alone
//! still lets the other direction drain.

use rand_core::RngCore;

use super::counters::SaCounters;
use super::error::SaError;
use super::inbound::{InboundSa, Opened};
use super::iv::IvSource;
use super::outbound::{OutboundSa, Sealed};
use super::translate::{ClientInboundSa, ClientOutboundSa};
use crate::time::Timestamp;

/// What a pair needs of either half: its lifetime clock and its counters.
pub trait SaHalf {
    /// When the half's next time-based lifetime event is due.
    fn next_deadline(&self) -> Option<Timestamp>;
    /// Fires the lifetime events due at `now`.
    fn handle_timeout(&mut self, now: Timestamp);
    /// Whether a hard lifetime limit ended this half.
    fn is_expired(&self) -> bool;
    /// Packets and errors of this half.
    fn counters(&self) -> &SaCounters;
}

/// The sending half of a pair.
pub trait SealHalf: SaHalf {
    /// Bytes of IV each seal needs.
    fn iv_len(&self) -> usize;
    /// Seals `packet` with `iv` into the front of `out`.
    fn seal(
        &mut self,
        packet: &[u8],
        iv: &[u8],
        now: Timestamp,
        out: &mut [u8],
    ) -> Result<Sealed, SaError>;
}

/// The receiving half of a pair.
pub trait OpenHalf: SaHalf {
    /// Verifies and opens the whole IP packet at the front of `packet`, in place.
    fn open<'a>(&mut self, packet: &'a mut [u8], now: Timestamp) -> Result<Opened<'a>, SaError>;
}

/// One installed bundle: both halves and the outbound IVs.
pub struct SaPair<O, I> {
    /// Packets we send.
    pub outbound: O,
    /// Packets we receive.
    pub inbound: I,
    iv: IvSource,
}

impl<O: SealHalf, I: OpenHalf> SaPair<O, I> {
    /// Pairs the halves of one bundle; `aead` says whether its ESP cipher is an AEAD (GCM
    /// takes counter IVs, CBC random ones: see [`IvSource`]).
    pub fn new(outbound: O, inbound: I, aead: bool) -> Self {
        let iv = IvSource::new(outbound.iv_len(), aead);
        Self {
            outbound,
            inbound,
            iv,
        }
    }

    /// Seals `packet` into the front of `out` with the next IV (drawn from `rng` when the
    /// cipher wants random ones).
    pub fn seal<R: RngCore + ?Sized>(
        &mut self,
        rng: &mut R,
        packet: &[u8],
        now: Timestamp,
        out: &mut [u8],
    ) -> Result<Sealed, SaError> {
        let mut iv_buf = [0u8; 16];
        let iv = self.iv.next(rng, &mut iv_buf);
        self.outbound.seal(packet, iv, now, out)
    }

    /// Opens the whole IP packet at the front of `packet` with the inbound half.
    pub fn open<'a>(
        &mut self,
        packet: &'a mut [u8],
        now: Timestamp,
    ) -> Result<Opened<'a>, SaError> {
        self.inbound.open(packet, now)
    }

    /// The earlier deadline of the two halves.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        [self.outbound.next_deadline(), self.inbound.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires both halves' lifetime events due at `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.outbound.handle_timeout(now);
        self.inbound.handle_timeout(now);
    }

    /// Whether both halves are past a hard limit, so the bundle can go.
    pub fn is_expired(&self) -> bool {
        self.outbound.is_expired() && self.inbound.is_expired()
    }

    /// (outbound, inbound) counters.
    pub fn counters(&self) -> (SaCounters, SaCounters) {
        (*self.outbound.counters(), *self.inbound.counters())
    }
}

/// `SaHalf` for a half whose lifetime clock and counters are those of the plain SA that
/// `$sa` reaches from `$this` (the SA itself, or the one a client half translates for).
macro_rules! sa_half {
    ($ty:ty, |$this:ident| $sa:expr, |$this_mut:ident| $sa_mut:expr) => {
        impl SaHalf for $ty {
            fn next_deadline(&self) -> Option<Timestamp> {
                let $this = self;
                $sa.next_deadline()
            }
            fn handle_timeout(&mut self, now: Timestamp) {
                let $this_mut = self;
                $sa_mut.handle_timeout(now);
            }
            fn is_expired(&self) -> bool {
                let $this = self;
                $sa.is_expired()
            }
            fn counters(&self) -> &SaCounters {
                let $this = self;
                $sa.counters()
            }
        }
    };
}

sa_half!(OutboundSa, |sa| sa, |sa| sa);
sa_half!(InboundSa, |sa| sa, |sa| sa);
sa_half!(ClientOutboundSa, |half| half.sa(), |half| half.sa_mut());
sa_half!(ClientInboundSa, |half| half.sa(), |half| half.sa_mut());

impl SealHalf for OutboundSa {
    fn iv_len(&self) -> usize {
        OutboundSa::iv_len(self)
    }
    fn seal(
        &mut self,
        packet: &[u8],
        iv: &[u8],
        now: Timestamp,
        out: &mut [u8],
    ) -> Result<Sealed, SaError> {
        OutboundSa::seal(self, packet, iv, now, out)
    }
}

impl OpenHalf for InboundSa {
    fn open<'a>(&mut self, packet: &'a mut [u8], now: Timestamp) -> Result<Opened<'a>, SaError> {
        InboundSa::open(self, packet, now)
    }
}

impl SealHalf for ClientOutboundSa {
    fn iv_len(&self) -> usize {
        self.sa().iv_len()
    }
    fn seal(
        &mut self,
        packet: &[u8],
        iv: &[u8],
        now: Timestamp,
        out: &mut [u8],
    ) -> Result<Sealed, SaError> {
        ClientOutboundSa::seal(self, packet, iv, now, out)
    }
}

impl OpenHalf for ClientInboundSa {
    fn open<'a>(&mut self, packet: &'a mut [u8], now: Timestamp) -> Result<Opened<'a>, SaError> {
        ClientInboundSa::open(self, packet, now)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use core::net::IpAddr;
    use core::time::Duration;

    use super::*;
    use crate::sa::{
        Encryption, EspConfig, EspSuite, Lifetime, Mode, SaConfig, SecretKey, TunnelHeader,
    };

    fn config(hard: Duration) -> SaConfig {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mut config = SaConfig::esp(
            Mode::Tunnel(TunnelHeader::between(a, b).unwrap()),
            EspConfig {
                spi: 0x1234_5678,
                suite: EspSuite {
                    encryption: Encryption::AesGcm16,
                    integrity: None,
                },
                encryption_key: SecretKey::new(&[7; 20]),
                integrity_key: SecretKey::new(&[]),
                esn: false,
            },
        );
        config.lifetime = Lifetime {
            hard_time: Some(hard),
            ..Lifetime::UNLIMITED
        };
        config
    }

    fn inner() -> Vec<u8> {
        // A minimal IPv4 header (no payload) is enough for tunnel mode.
        let mut p = vec![
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let sum = crate::wire::checksum::checksum(&p);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p
    }

    #[test]
    fn seals_with_counter_ivs_opens_and_expires_when_both_halves_do() {
        let t0 = Timestamp::ZERO;
        let out = OutboundSa::new(&config(Duration::from_secs(10)), t0).unwrap();
        let inb = InboundSa::new(&config(Duration::from_secs(20)), t0).unwrap();
        let mut pair = SaPair::new(out, inb, true);
        let mut rng = rand::rngs::mock::StepRng::new(0, 0);
        let mut buf = vec![0u8; 256];
        let sealed = pair.seal(&mut rng, &inner(), t0, &mut buf).unwrap();
        let opened = pair.open(&mut buf[..sealed.len], t0).unwrap();
        assert_eq!(opened.packet, &inner()[..]);
        assert_eq!(pair.counters().0.packets, 1);
        assert_eq!(pair.counters().1.packets, 1);
        assert_eq!(pair.next_deadline(), Some(t0 + Duration::from_secs(10)));

        pair.handle_timeout(t0 + Duration::from_secs(10));
        assert!(pair.outbound.is_expired());
        assert!(!pair.is_expired(), "the inbound half still drains");
        assert_eq!(pair.next_deadline(), Some(t0 + Duration::from_secs(20)));
        pair.handle_timeout(t0 + Duration::from_secs(20));
        assert!(pair.is_expired());
    }
}
