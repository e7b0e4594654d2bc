//! The AH transform (RFC 4302): computing and checking the ICV over an IP packet whose AH
//! header is already in place.
//!
//! The ICV input is the whole IP packet with the outer header's mutable fields and the ICV
//! field zeroed, followed (with extended sequence numbers) by the high 32 bits of the sequence
//! number (RFC 4302 §3.3.3). The zeroing itself is the wire layer's
//! [`icv_input`](crate::wire::ah::icv_input), which streams the bytes into the MAC without
//! copying the packet.

use core::ops::Range;

use subtle::ConstantTimeEq;

use crate::wire::ah::icv_input;
use crate::wire::IpVersion;

use super::error::{ConfigError, SaError};
use super::esp::seq_high;
use super::integrity::{Integrity, IntegrityKey};
use super::keys::SecretKey;

/// Longest ICV of a supported algorithm.
const MAX_ICV: usize = 16;

/// Keyed AH processing for one SPI.
pub(crate) struct AhTransform {
    integrity: IntegrityKey,
    esn: bool,
}

impl AhTransform {
    pub(crate) fn new(alg: Integrity, key: &SecretKey, esn: bool) -> Result<Self, ConfigError> {
        Ok(Self {
            integrity: IntegrityKey::new(alg, key.as_bytes())?,
            esn,
        })
    }

    pub(crate) fn icv_len(&self) -> usize {
        self.integrity.icv_len()
    }

    /// AH header length under `version` (RFC 4302 §2.2: 32-bit aligned for IPv4, 64-bit for
    /// IPv6).
    pub(crate) fn header_len(&self, version: IpVersion) -> Result<usize, SaError> {
        crate::wire::ah::header_len_for(self.icv_len(), version).map_err(SaError::from)
    }

    /// Computes the ICV of `ip_packet` for sequence number `seq`; returns it and where it
    /// belongs in the packet.
    fn compute(
        &self,
        ip_packet: &[u8],
        seq: u64,
    ) -> Result<([u8; MAX_ICV], Range<usize>), SaError> {
        let mut mac = self.integrity.start();
        let layout = icv_input(ip_packet, self.icv_len(), |chunk| mac.update(chunk))?;
        if self.esn {
            mac.update(&seq_high(seq));
        }
        let mut icv = [0u8; MAX_ICV];
        let n = self.icv_len().min(MAX_ICV);
        mac.finish_into(icv.get_mut(..n).unwrap_or_default());
        Ok((icv, layout.icv))
    }

    /// Fills the ICV field of `ip_packet`, whose AH header (SPI, sequence number, zeroed ICV)
    /// and payload are written.
    pub(crate) fn sign(&self, ip_packet: &mut [u8], seq: u64) -> Result<(), SaError> {
        let (icv, range) = self.compute(ip_packet, seq)?;
        let n = range.len();
        match (ip_packet.get_mut(range), icv.get(..n)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                Ok(())
            }
            _ => Err(SaError::BadIcv),
        }
    }

    /// Checks the ICV of a received `ip_packet` in constant time.
    pub(crate) fn verify(&self, ip_packet: &[u8], seq: u64) -> Result<(), SaError> {
        let (icv, range) = self.compute(ip_packet, seq)?;
        let n = range.len();
        match (ip_packet.get(range), icv.get(..n)) {
            (Some(received), Some(expected)) if bool::from(received.ct_eq(expected)) => Ok(()),
            _ => Err(SaError::BadIcv),
        }
    }
}
