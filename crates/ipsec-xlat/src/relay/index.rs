//! The SPI index: relay receive SPI → (slot, leg, protocol), one hashbrown lookup per packet.
//!
//! Every SPI the relay receives on, on either leg and for either protocol, is a key here. The
//! relay chooses these SPIs itself, at random and never twice among live entries, so one flat
//! SPI space serves both legs and both protocols: a packet's outermost SPI alone finds its entry,
//! and the stored leg and protocol tell whether it came the way the entry expects.
//!
//! The value is packed into 32 bits (leg, protocol, slot) so that a bucket is 8 bytes; at a
//! million entries the index is then about 36 bytes per ESP entry (two keys, 87.5 % maximum
//! load, power-of-two bucket count, one control byte per bucket).

use hashbrown::HashMap;

use super::entry::Leg;
use super::spi::IpsecProtocol;

/// Slots are numbered below this bound, leaving the top two bits of a packed value for leg and
/// protocol. It also keeps at least three quarters of the SPI space free (four SPIs per entry at
/// most), so choosing a random unused SPI takes few draws.
pub(crate) const MAX_SLOTS: u32 = 1 << 28;

const LEG_BIT: u32 = 1 << 31;
const AH_BIT: u32 = 1 << 30;
const SLOT_MASK: u32 = (1 << 30) - 1;

/// What a relay SPI stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Role {
    /// Slot of the entry in the table.
    pub slot: u32,
    /// The leg on which the relay receives this SPI.
    pub leg: Leg,
    /// The protocol whose header carries it.
    pub protocol: IpsecProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed(u32);

impl Packed {
    fn pack(role: Role) -> Self {
        let leg = match role.leg {
            Leg::Client => 0,
            Leg::Gateway => LEG_BIT,
        };
        let protocol = match role.protocol {
            IpsecProtocol::Esp => 0,
            IpsecProtocol::Ah => AH_BIT,
        };
        Self(leg | protocol | (role.slot & SLOT_MASK))
    }

    fn unpack(self) -> Role {
        Role {
            slot: self.0 & SLOT_MASK,
            leg: if self.0 & LEG_BIT == 0 {
                Leg::Client
            } else {
                Leg::Gateway
            },
            protocol: if self.0 & AH_BIT == 0 {
                IpsecProtocol::Esp
            } else {
                IpsecProtocol::Ah
            },
        }
    }
}

/// Relay receive SPI → role.
#[derive(Debug, Default)]
pub(crate) struct SpiIndex {
    map: HashMap<u32, Packed>,
}

impl SpiIndex {
    /// An index with room for `spis` keys before it reallocates.
    pub fn with_capacity(spis: usize) -> Self {
        Self {
            map: HashMap::with_capacity(spis),
        }
    }

    /// The role of `spi`, if a live entry receives on it.
    #[inline(always)]
    pub fn get(&self, spi: u32) -> Option<Role> {
        self.map.get(&spi).map(|packed| packed.unpack())
    }

    /// Whether a live entry receives on `spi`.
    pub fn contains(&self, spi: u32) -> bool {
        self.map.contains_key(&spi)
    }

    /// Adds `spi`; the caller has checked it is absent.
    pub fn insert(&mut self, spi: u32, role: Role) {
        debug_assert!(role.slot < MAX_SLOTS);
        self.map.insert(spi, Packed::pack(role));
    }

    /// Removes `spi`, returning its role.
    pub fn remove(&mut self, spi: u32) -> Option<Role> {
        self.map.remove(&spi).map(Packed::unpack)
    }

    /// Number of indexed SPIs.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Heap bytes held by the index.
    pub fn allocation_size(&self) -> usize {
        self.map.allocation_size()
    }

    /// Every indexed SPI with its role (for consistency checks).
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (u32, Role)> + '_ {
        self.map.iter().map(|(spi, packed)| (*spi, packed.unpack()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_every_role() {
        for leg in [Leg::Client, Leg::Gateway] {
            for protocol in [IpsecProtocol::Esp, IpsecProtocol::Ah] {
                for slot in [0, 1, 12345, MAX_SLOTS - 1] {
                    let role = Role {
                        slot,
                        leg,
                        protocol,
                    };
                    assert_eq!(Packed::pack(role).unpack(), role);
                }
            }
        }
    }
}
