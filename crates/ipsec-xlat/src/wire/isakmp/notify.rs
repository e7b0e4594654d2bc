//! Notification (RFC 2408 §3.14) and delete (§3.15) payloads.
//!
//! ```text
//! N body: ! DOI (4) ! Protocol-ID ! SPI Size ! Notify Message Type (2) ! SPI ! Notification Data
//! D body: ! DOI (4) ! Protocol-Id ! SPI Size ! # of SPIs (2)           ! SPIs (SPI Size each)
//! ```

use nom::number::complete::{be_u16, be_u32, be_u8};

use super::codec::{at, fixed, len_u16, len_u8, take_len};
use super::error::IsakmpError;
use super::numbers::{Doi, NotifyType, ProtocolId};

/// Notification payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyPayload<'a> {
    doi: Doi,
    protocol: ProtocolId,
    notify_type: NotifyType,
    spi: &'a [u8],
    data: &'a [u8],
}

impl<'a> NotifyPayload<'a> {
    /// Reads a notification payload body at `offset`.
    pub fn parse(body: &'a [u8], offset: usize) -> Result<Self, IsakmpError> {
        let (rest, (doi, protocol, spi_size, notify_type)) = fixed(
            body,
            offset,
            "notification payload",
            8,
            (be_u32, be_u8, be_u8, be_u16),
        )?;
        let (spi, data) = take_len(
            rest,
            usize::from(spi_size),
            "notification SPI",
            at(offset, 8),
        )?;
        Ok(NotifyPayload {
            doi: Doi(doi),
            protocol: ProtocolId(protocol),
            notify_type: NotifyType(notify_type),
            spi,
            data,
        })
    }

    /// The domain of interpretation.
    pub fn doi(&self) -> Doi {
        self.doi
    }

    /// The protocol the notification is about.
    pub fn protocol(&self) -> ProtocolId {
        self.protocol
    }

    /// The notify message type.
    pub fn notify_type(&self) -> NotifyType {
        self.notify_type
    }

    /// The SPI (the cookie pair for ISAKMP, 4 bytes for ESP/AH, or empty).
    pub fn spi(&self) -> &'a [u8] {
        self.spi
    }

    /// The notification data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The owned form.
    pub fn to_repr(&self) -> NotifyRepr {
        NotifyRepr {
            doi: self.doi,
            protocol: self.protocol,
            notify_type: self.notify_type,
            spi: self.spi.to_vec(),
            data: self.data.to_vec(),
        }
    }
}

/// A notification payload body to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotifyRepr {
    /// Domain of interpretation.
    pub doi: Doi,
    /// Protocol.
    pub protocol: ProtocolId,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// SPI.
    pub spi: Vec<u8>,
    /// Notification data.
    pub data: Vec<u8>,
}

impl NotifyRepr {
    /// Appends the payload body to `out`.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), IsakmpError> {
        out.extend_from_slice(&self.doi.0.to_be_bytes());
        out.push(self.protocol.0);
        out.push(len_u8("notification SPI", self.spi.len())?);
        out.extend_from_slice(&self.notify_type.0.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

/// Delete payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletePayload<'a> {
    doi: Doi,
    protocol: ProtocolId,
    spi_size: u8,
    count: u16,
    spis: &'a [u8],
}

impl<'a> DeletePayload<'a> {
    /// Reads a delete payload body at `offset`; the SPIs must fill it exactly.
    pub fn parse(body: &'a [u8], offset: usize) -> Result<Self, IsakmpError> {
        let (spis, (doi, protocol, spi_size, count)) = fixed(
            body,
            offset,
            "delete payload",
            8,
            (be_u32, be_u8, be_u8, be_u16),
        )?;
        let expected = usize::from(spi_size).checked_mul(usize::from(count));
        if expected != Some(spis.len()) {
            return Err(IsakmpError::SpiCountMismatch {
                offset: at(offset, 8),
                spi_size,
                count,
                available: spis.len(),
            });
        }
        Ok(DeletePayload {
            doi: Doi(doi),
            protocol: ProtocolId(protocol),
            spi_size,
            count,
            spis,
        })
    }

    /// The domain of interpretation.
    pub fn doi(&self) -> Doi {
        self.doi
    }

    /// The protocol of the SAs deleted.
    pub fn protocol(&self) -> ProtocolId {
        self.protocol
    }

    /// The size of each SPI.
    pub fn spi_size(&self) -> u8 {
        self.spi_size
    }

    /// The number of SPIs.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The SPIs.
    pub fn spis(&self) -> SpiIter<'a> {
        SpiIter {
            rest: self.spis,
            size: usize::from(self.spi_size),
            left: self.count,
        }
    }

    /// The owned form.
    pub fn to_repr(&self) -> DeleteRepr {
        DeleteRepr {
            doi: self.doi,
            protocol: self.protocol,
            spi_size: self.spi_size,
            spis: self.spis().map(<[u8]>::to_vec).collect(),
        }
    }
}

/// The SPIs of a delete payload.
#[derive(Debug, Clone)]
pub struct SpiIter<'a> {
    rest: &'a [u8],
    size: usize,
    left: u16,
}

impl<'a> Iterator for SpiIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.left = self.left.checked_sub(1)?;
        let (spi, rest) = self.rest.split_at_checked(self.size)?;
        self.rest = rest;
        Some(spi)
    }
}

/// A delete payload body to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeleteRepr {
    /// Domain of interpretation.
    pub doi: Doi,
    /// Protocol.
    pub protocol: ProtocolId,
    /// Size of each SPI (16 for ISAKMP, 4 for ESP/AH).
    pub spi_size: u8,
    /// SPIs, each `spi_size` bytes.
    pub spis: Vec<Vec<u8>>,
}

impl DeleteRepr {
    /// Appends the payload body to `out`.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), IsakmpError> {
        if self
            .spis
            .iter()
            .any(|s| s.len() != usize::from(self.spi_size))
        {
            return Err(IsakmpError::Inconsistent {
                what: "delete payload",
                reason: "an SPI's length differs from the SPI size",
            });
        }
        out.extend_from_slice(&self.doi.0.to_be_bytes());
        out.push(self.protocol.0);
        out.push(self.spi_size);
        out.extend_from_slice(&len_u16("delete SPI count", self.spis.len())?.to_be_bytes());
        for spi in &self.spis {
            out.extend_from_slice(spi);
        }
        Ok(())
    }
}
