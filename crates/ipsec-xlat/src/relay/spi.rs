//! SPIs as the relay stores them, and the SA bundle shape (ESP, AH, or AH+ESP).
//!
//! An SPI of 0 never appears on the wire and 1–255 are reserved by IANA (RFC 4303 §2.1), so a
//! table SPI is a `NonZeroU32` that [`Spi::new`] also refuses below 256. Making 0 impossible
//! lets `Option<Spi>` cost four bytes, which matters at a million entries.

use core::fmt;
use core::num::NonZeroU32;

/// The lowest SPI value a live SA may use; 1–255 are reserved for IANA (RFC 4303 §2.1).
pub const FIRST_USABLE_SPI: u32 = 256;

/// A Security Parameters Index usable by a live SA (never 0–255).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(NonZeroU32);

impl Spi {
    /// `Some` if `value` may name a live SA (>= 256), `None` for 0 and the reserved 1–255.
    pub const fn new(value: u32) -> Option<Self> {
        if value < FIRST_USABLE_SPI {
            return None;
        }
        match NonZeroU32::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The SPI as the 32-bit number carried on the wire.
    pub const fn get(self) -> u32 {
        self.0.get()
    }

    /// The SPI in network byte order, as it is written into an ESP or AH header.
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.0.get().to_be_bytes()
    }
}

impl fmt::Debug for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Spi({:#010x})", self.get())
    }
}

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.get())
    }
}

/// The two IPsec protocols a relay entry can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpsecProtocol {
    /// Encapsulating Security Payload, IP protocol 50.
    Esp,
    /// Authentication Header, IP protocol 51.
    Ah,
}

impl IpsecProtocol {
    /// The IP protocol number.
    pub const fn number(self) -> u8 {
        match self {
            Self::Esp => 50,
            Self::Ah => 51,
        }
    }
}

/// Which protocols an SA bundle holds. With AH+ESP the packet is `IP | AH | ESP | ...`: ESP is
/// applied first and AH, covering it, last (RFC 4301 transport adjacency), so AH is outermost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundleShape {
    /// ESP alone.
    Esp,
    /// AH alone.
    Ah,
    /// AH outside ESP.
    AhEsp,
}

impl BundleShape {
    /// The protocol whose header comes first after the outer IP (or UDP) header.
    pub const fn outermost(self) -> IpsecProtocol {
        match self {
            Self::Esp => IpsecProtocol::Esp,
            Self::Ah | Self::AhEsp => IpsecProtocol::Ah,
        }
    }

    /// Whether AH is part of the bundle (so the relay must reproduce the signed outer header).
    pub const fn has_ah(self) -> bool {
        matches!(self, Self::Ah | Self::AhEsp)
    }
}

/// The SPIs one party receives on, one per protocol of the bundle.
///
/// IKEv1 negotiates a bundle as one proposal with several protocols; each protocol gets its own
/// SPI in each direction, so a direction of an AH+ESP bundle has two SPIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpiSet {
    /// SPI of the ESP SA, if ESP is in the bundle.
    pub esp: Option<Spi>,
    /// SPI of the AH SA, if AH is in the bundle.
    pub ah: Option<Spi>,
}

impl SpiSet {
    /// An ESP-only set.
    pub const fn esp(spi: Spi) -> Self {
        Self {
            esp: Some(spi),
            ah: None,
        }
    }

    /// An AH-only set.
    pub const fn ah(spi: Spi) -> Self {
        Self {
            esp: None,
            ah: Some(spi),
        }
    }

    /// An AH+ESP bundle's set.
    pub const fn ah_esp(ah: Spi, esp: Spi) -> Self {
        Self {
            esp: Some(esp),
            ah: Some(ah),
        }
    }

    /// The bundle shape, or `None` for a set with no SPI at all.
    pub const fn shape(&self) -> Option<BundleShape> {
        match (self.ah, self.esp) {
            (None, Some(_)) => Some(BundleShape::Esp),
            (Some(_), None) => Some(BundleShape::Ah),
            (Some(_), Some(_)) => Some(BundleShape::AhEsp),
            (None, None) => None,
        }
    }

    /// The SPI for `protocol`, if that protocol is in the set.
    pub const fn get(&self, protocol: IpsecProtocol) -> Option<Spi> {
        match protocol {
            IpsecProtocol::Esp => self.esp,
            IpsecProtocol::Ah => self.ah,
        }
    }

    /// The SPI of the outermost header, which is what a received packet is looked up by.
    pub(crate) const fn outermost(&self) -> Option<Spi> {
        match self.ah {
            Some(ah) => Some(ah),
            None => self.esp,
        }
    }

    /// Every SPI in the set with its protocol, AH first.
    pub fn iter(&self) -> impl Iterator<Item = (IpsecProtocol, Spi)> {
        let ah = self.ah.map(|spi| (IpsecProtocol::Ah, spi));
        let esp = self.esp.map(|spi| (IpsecProtocol::Esp, spi));
        ah.into_iter().chain(esp)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_zero_spis_are_refused() {
        assert_eq!(Spi::new(0), None);
        assert_eq!(Spi::new(1), None);
        assert_eq!(Spi::new(255), None);
        assert_eq!(Spi::new(256).map(Spi::get), Some(256));
        assert_eq!(Spi::new(u32::MAX).map(Spi::get), Some(u32::MAX));
    }

    #[test]
    fn option_spi_is_four_bytes() {
        assert_eq!(core::mem::size_of::<Option<Spi>>(), 4);
        assert_eq!(core::mem::size_of::<SpiSet>(), 8);
    }

    #[test]
    fn bundle_outermost_is_ah() {
        let (ah, esp) = (Spi::new(0x1000).unwrap(), Spi::new(0x2000).unwrap());
        let set = SpiSet::ah_esp(ah, esp);
        assert_eq!(set.shape(), Some(BundleShape::AhEsp));
        assert_eq!(set.outermost(), Some(ah));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![(IpsecProtocol::Ah, ah), (IpsecProtocol::Esp, esp)]
        );
        assert_eq!(SpiSet::esp(esp).outermost(), Some(esp));
        assert_eq!(
            SpiSet {
                esp: None,
                ah: None
            }
            .shape(),
            None
        );
    }
}
