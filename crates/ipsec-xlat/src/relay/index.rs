//! The SPI index: relay receive SPI → (slot, leg, protocol), one probe of one cache line per
//! packet in the common case.
//!
//! Every SPI the relay receives on, on either leg and for either protocol, is a key here. The
//! relay chooses these SPIs itself, at random and never twice among live entries, so one flat
//! SPI space serves both legs and both protocols: a packet's outermost SPI alone finds its entry,
//! and the stored leg and protocol tell whether it came the way the entry expects.
//!
//! # Why our own table rather than hashbrown
//!
//! At a million entries every lookup misses the caches, and the cost of a packet is the number
//! of *dependent* trips to memory. A SwissTable lookup makes two (control bytes, then the
//! bucket), and its bucket address is not known before the first returns. Here the bucket
//! address is a pure function of the SPI ([`SpiIndex::home`]), so the batch path can load the
//! buckets of a whole batch at once before looking any of them up, and a lookup then touches
//! one 8-byte bucket, usually within the line already loaded.
//!
//! # Layout
//!
//! Open addressing with linear probing over a power-of-two array of 8-byte buckets (SPI,
//! packed role). SPI 0 never names a live SA (the relay refuses 0–255), so it marks an empty
//! bucket. The load is kept at or below one half: a successful lookup probes 1.5 buckets on
//! average, an unsuccessful one 2.5, and an empty bucket always ends a probe. Removal shifts
//! the following run back (no tombstones), so the table never degrades with churn. At a
//! million ESP entries (two keys each) the index is 2^22 buckets, 33.6 bytes per entry.
//!
//! The home bucket is chosen by multiplying the SPI by a fixed odd 64-bit constant and taking
//! the top bits (Fibonacci hashing), so SPIs restored from a store in sequence spread as well
//! as the relay's random ones. Keys are the relay's own choice, so a peer cannot pile them up;
//! every probe loop is bounded by the bucket count all the same.

use super::spi::IpsecProtocol;
use crate::net::Leg;

/// Slots are numbered below this bound, leaving the top two bits of a packed value for leg and
/// protocol. It also keeps at least three quarters of the SPI space free (four SPIs per entry at
/// most), so choosing a random unused SPI takes few draws.
pub(crate) const MAX_SLOTS: u32 = 1 << 28;

const LEG_BIT: u32 = 1 << 31;
const AH_BIT: u32 = 1 << 30;
const SLOT_MASK: u32 = (1 << 30) - 1;

/// The smallest bucket array allocated (a power of two).
const MIN_BUCKETS: usize = 8;

/// 2^64 divided by the golden ratio, odd: multiplying by it spreads consecutive keys over the
/// whole range of the top bits.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

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
            Leg::CSide => 0,
            Leg::SSide => LEG_BIT,
        };
        let protocol = match role.protocol {
            IpsecProtocol::Esp => 0,
            IpsecProtocol::Ah => AH_BIT,
        };
        Self(leg | protocol | (role.slot & SLOT_MASK))
    }

    #[inline(always)]
    fn unpack(self) -> Role {
        Role {
            slot: self.0 & SLOT_MASK,
            leg: if self.0 & LEG_BIT == 0 {
                Leg::CSide
            } else {
                Leg::SSide
            },
            protocol: if self.0 & AH_BIT == 0 {
                IpsecProtocol::Esp
            } else {
                IpsecProtocol::Ah
            },
        }
    }
}

/// One bucket: an SPI (0 when empty) and its packed role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    spi: u32,
    role: Packed,
}

const EMPTY: Bucket = Bucket {
    spi: 0,
    role: Packed(0),
};

/// Relay receive SPI → role.
#[derive(Debug, Default)]
pub(crate) struct SpiIndex {
    /// Empty, or a power-of-two number of buckets.
    buckets: Vec<Bucket>,
    /// Occupied buckets; at most half of `buckets.len()`.
    len: usize,
    /// 64 minus log2 of the bucket count: how far to shift a product to get a home bucket.
    shift: u32,
}

impl SpiIndex {
    /// An index with room for `spis` keys before it reallocates.
    pub fn with_capacity(spis: usize) -> Self {
        let mut index = Self::default();
        if spis > 0 {
            index.resize(buckets_for(spis));
        }
        index
    }

    /// The home bucket of `spi`: where its probe starts. Only meaningful with buckets.
    #[inline(always)]
    fn home(&self, spi: u32) -> usize {
        // `shift` is at most 61 (at least 8 buckets), so the shift never overflows; the
        // result is below the bucket count, which fits a usize.
        let product = u64::from(spi).wrapping_mul(FIBONACCI);
        usize::try_from(product.wrapping_shr(self.shift)).unwrap_or(0)
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// Starts loading the home bucket of `spi` (a prefetch: nothing waits for it), so that a
    /// caller can start the memory reads of many lookups before it needs any of them.
    #[inline(always)]
    pub(crate) fn prefetch(&self, spi: u32) {
        if !self.buckets.is_empty() {
            prefetch_index::prefetch_index(&self.buckets, self.home(spi));
        }
    }

    /// The index of the bucket holding `spi`, if any.
    #[inline(always)]
    fn position(&self, spi: u32) -> Option<usize> {
        if spi == 0 {
            return None;
        }
        let mask = self.mask();
        let mut at = self.home(spi);
        for _ in 0..self.buckets.len() {
            let bucket = self.buckets.get(at)?;
            if bucket.spi == spi {
                return Some(at);
            }
            if bucket.spi == 0 {
                return None;
            }
            at = at.wrapping_add(1) & mask;
        }
        None
    }

    /// The role of `spi`, if a live entry receives on it.
    #[inline(always)]
    pub fn get(&self, spi: u32) -> Option<Role> {
        let at = self.position(spi)?;
        self.buckets.get(at).map(|bucket| bucket.role.unpack())
    }

    /// Whether a live entry receives on `spi`.
    pub(crate) fn contains(&self, spi: u32) -> bool {
        self.position(spi).is_some()
    }

    /// Adds `spi` with `role`, or replaces its role if present. SPI 0 is never a key and is
    /// ignored (the table only indexes SPIs of 256 and above).
    pub fn insert(&mut self, spi: u32, role: Role) {
        debug_assert!(role.slot < MAX_SLOTS);
        if spi == 0 {
            return;
        }
        if let Some(bucket) = self.position(spi).and_then(|at| self.buckets.get_mut(at)) {
            bucket.role = Packed::pack(role);
            return;
        }
        let needed = buckets_for(self.len.saturating_add(1));
        if needed > self.buckets.len() {
            self.resize(needed);
        }
        if self.place(spi, Packed::pack(role)) {
            self.len = self.len.saturating_add(1);
        }
    }

    /// Puts a key known to be absent into the first empty bucket of its probe. Returns false
    /// only if there is no empty bucket, which the load bound rules out.
    fn place(&mut self, spi: u32, role: Packed) -> bool {
        let mask = self.mask();
        let mut at = self.home(spi);
        for _ in 0..self.buckets.len() {
            match self.buckets.get_mut(at) {
                Some(bucket) if bucket.spi == 0 => {
                    *bucket = Bucket { spi, role };
                    return true;
                }
                Some(_) => at = at.wrapping_add(1) & mask,
                None => return false,
            }
        }
        false
    }

    /// Moves every key into a fresh array of `buckets` buckets (a power of two, at least
    /// [`MIN_BUCKETS`], more than twice the keys).
    fn resize(&mut self, buckets: usize) {
        let old = core::mem::replace(&mut self.buckets, vec![EMPTY; buckets]);
        self.shift = 64u32.saturating_sub(buckets.trailing_zeros());
        for bucket in old.into_iter().filter(|bucket| bucket.spi != 0) {
            self.place(bucket.spi, bucket.role);
        }
    }

    /// Removes `spi`, returning its role. The run of keys after it moves back over the hole
    /// where their probes allow, so every remaining key stays reachable without tombstones.
    pub(crate) fn remove(&mut self, spi: u32) -> Option<Role> {
        let mut hole = self.position(spi)?;
        let role = self.buckets.get(hole)?.role.unpack();
        let mask = self.mask();
        let mut next = hole;
        for _ in 0..self.buckets.len() {
            next = next.wrapping_add(1) & mask;
            let Some(&bucket) = self.buckets.get(next) else {
                break;
            };
            if bucket.spi == 0 {
                break;
            }
            // The key at `next` may fill the hole unless its home lies cyclically after the
            // hole and at or before `next` (then the hole is not on its probe path).
            let home = self.home(bucket.spi);
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                if let Some(place) = self.buckets.get_mut(hole) {
                    *place = bucket;
                }
                hole = next;
            }
        }
        if let Some(place) = self.buckets.get_mut(hole) {
            *place = EMPTY;
        }
        self.len = self.len.saturating_sub(1);
        Some(role)
    }

    /// Number of indexed SPIs.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes held by the index.
    pub(crate) fn allocation_size(&self) -> usize {
        self.buckets
            .capacity()
            .saturating_mul(core::mem::size_of::<Bucket>())
    }

    /// Every indexed SPI with its role (for consistency checks).
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (u32, Role)> + '_ {
        self.buckets
            .iter()
            .filter(|bucket| bucket.spi != 0)
            .map(|bucket| (bucket.spi, bucket.role.unpack()))
    }
}

/// Buckets for `keys` keys at a load of at most one half.
fn buckets_for(keys: usize) -> usize {
    keys.saturating_mul(2)
        .checked_next_power_of_two()
        .unwrap_or(1 << (usize::BITS - 1))
        .max(MIN_BUCKETS)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn role(slot: u32) -> Role {
        Role {
            slot,
            leg: if slot % 2 == 0 {
                Leg::CSide
            } else {
                Leg::SSide
            },
            protocol: if slot % 3 == 0 {
                IpsecProtocol::Ah
            } else {
                IpsecProtocol::Esp
            },
        }
    }

    #[test]
    fn packing_round_trips_every_role() {
        for leg in [Leg::CSide, Leg::SSide] {
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

    /// Checks the structure: load bound, every key reachable from its home without crossing
    /// an empty bucket, and the count.
    fn check(index: &SpiIndex) {
        let occupied = index.buckets.iter().filter(|b| b.spi != 0).count();
        assert_eq!(occupied, index.len);
        if index.buckets.is_empty() {
            return;
        }
        assert!(index.buckets.len().is_power_of_two());
        assert!(
            index.len * 2 <= index.buckets.len(),
            "load at most one half"
        );
        let mask = index.buckets.len() - 1;
        for (at, bucket) in index.buckets.iter().enumerate() {
            if bucket.spi == 0 {
                continue;
            }
            let mut probe = index.home(bucket.spi);
            while probe != at {
                assert_ne!(index.buckets[probe].spi, 0, "an empty bucket cuts a probe");
                probe = (probe + 1) & mask;
            }
        }
    }

    #[test]
    fn empty_index_finds_nothing_and_spi_zero_is_never_a_key() {
        let mut index = SpiIndex::default();
        assert_eq!(index.get(0), None);
        assert_eq!(index.get(1234), None);
        index.prefetch(1234); // no buckets: nothing to load, and no panic
        assert_eq!(index.remove(1234), None);
        index.insert(0, role(1));
        assert_eq!(index.len(), 0);
        assert_eq!(index.get(0), None);
    }

    #[test]
    fn sequential_spis_spread_and_all_remain_reachable_after_removals() {
        let mut index = SpiIndex::with_capacity(4);
        for n in 0..10_000u32 {
            index.insert(0x1000_0000 + n, role(n));
        }
        check(&index);
        assert_eq!(index.buckets.len(), 32_768);
        for n in (0..10_000u32).step_by(3) {
            assert_eq!(index.remove(0x1000_0000 + n), Some(role(n)));
        }
        check(&index);
        for n in 0..10_000u32 {
            let expected = (n % 3 != 0).then(|| role(n));
            assert_eq!(index.get(0x1000_0000 + n), expected);
        }
    }

    #[test]
    fn with_capacity_does_not_reallocate_up_to_capacity() {
        let mut index = SpiIndex::with_capacity(2_000);
        let size = index.allocation_size();
        assert_eq!(size, 4_096 * 8);
        for n in 0..2_000u32 {
            index.insert(n * 7919 + 256, role(n));
        }
        assert_eq!(index.allocation_size(), size);
        check(&index);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, u32),
        Remove(u32),
        Get(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        // A narrow key range makes collisions, long runs and wrap-around common.
        let key = prop_oneof![0u32..64, 256u32..320, any::<u32>()];
        prop_oneof![
            3 => (key.clone(), 0u32..MAX_SLOTS).prop_map(|(k, s)| Op::Insert(k, s)),
            2 => key.clone().prop_map(Op::Remove),
            1 => key.prop_map(Op::Get),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec(op(), 1..400),
                                   capacity in 0usize..16) {
            let mut index = SpiIndex::with_capacity(capacity);
            let mut model: HashMap<u32, Role> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(spi, slot) => {
                        index.insert(spi, role(slot));
                        if spi != 0 {
                            model.insert(spi, role(slot));
                        }
                    }
                    Op::Remove(spi) => prop_assert_eq!(index.remove(spi), model.remove(&spi)),
                    Op::Get(spi) => prop_assert_eq!(index.get(spi), model.get(&spi).copied()),
                }
                prop_assert_eq!(index.len(), model.len());
            }
            check(&index);
            for (spi, role) in &model {
                prop_assert_eq!(index.get(*spi), Some(*role));
                prop_assert!(index.contains(*spi));
            }
            let mut listed: Vec<(u32, Role)> = index.iter().collect();
            listed.sort_by_key(|(spi, _)| *spi);
            let mut expected: Vec<(u32, Role)> = model.into_iter().collect();
            expected.sort_by_key(|(spi, _)| *spi);
            prop_assert_eq!(listed, expected);
        }
    }
}
