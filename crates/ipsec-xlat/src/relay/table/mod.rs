//! The translation table: entries in a slab, found by SPI through one open-addressing index.
//!
//! The per-packet path is `Table::find` (one hash lookup) followed by a slot read and an
//! update of the entry's activity; nothing there allocates. A slot is three whole cache lines
//! (see [`Slot`]) and the index bucket of an SPI is known from the SPI alone, so the batch
//! path can start the memory reads of a whole batch before it needs them
//! ([`Table::warm_index`], [`Table::warm_slot`]). Control-plane operations (insert,
//! path update for mobility, remove, expiry, SPI allocation) keep the index consistent with the
//! slab: every relay SPI of every live entry is indexed exactly once, pointing at its slot, and
//! nothing else is.

use core::time::Duration;

use hashbrown::HashMap;
use rand_core::RngCore;
use thiserror::Error;

use super::entry::{check_path, Entry, EntryError, EntryId, Leg, Path, Transport};
use super::expiry::{Due, ExpiryQueue, Wake};
use super::index::{Role, SpiIndex, MAX_SLOTS};
use super::spi::{BundleShape, Spi};
use super::time::Timestamp;

#[cfg(test)]
mod tests;

/// Tunables of a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableConfig {
    /// How long an SPI handed out by [`Table::allocate_spi`] stays reserved without being
    /// installed. It must outlast the negotiation that carries it (IKEv1 main mode message 6 to
    /// quick mode message 3, with retransmissions).
    pub reservation_hold: Duration,
    /// Forget an entry after this long without a forwarded packet in either direction. A
    /// relay-wide policy rather than a per-entry field: nothing negotiates it, and it saves 16
    /// bytes per entry. `None` (the default) keeps entries until their hard deadline; a relay
    /// that sets it must make sure clients send within it (the relay cannot tell an idle SA
    /// from a dead one).
    pub idle_timeout: Option<Duration>,
}

impl Default for TableConfig {
    fn default() -> Self {
        Self {
            reservation_hold: Duration::from_secs(300),
            idle_timeout: None,
        }
    }
}

/// Packets and bytes forwarded in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    /// Packets forwarded.
    pub packets: u64,
    /// Bytes forwarded (IPsec header onward, as they left the relay without outer headers).
    pub bytes: u64,
}

impl Traffic {
    fn add(&mut self, bytes: usize) {
        self.packets = self.packets.saturating_add(1);
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
    }
}

/// What the relay has seen of one entry: node-local runtime state, not part of the record a
/// store would share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// When the entry was installed or last forwarded a packet.
    pub last_seen: Timestamp,
    /// Client → SGW.
    pub to_gateway: Traffic,
    /// SGW → client.
    pub to_client: Traffic,
}

impl Activity {
    /// Records a forwarded packet of `bytes` that arrived on `from` at `now`.
    pub(crate) fn record(&mut self, from: Leg, bytes: usize, now: Timestamp) {
        if now > self.last_seen {
            self.last_seen = now;
        }
        match from {
            Leg::Client => self.to_gateway.add(bytes),
            Leg::Gateway => self.to_client.add(bytes),
        }
    }
}

/// Why an entry left the table by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryCause {
    /// Its hard deadline passed.
    Lifetime,
    /// It forwarded nothing for its idle timeout.
    Idle,
}

/// An entry removed by [`Table::pop_expired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// Its name.
    pub id: EntryId,
    /// The entry as it was.
    pub entry: Entry,
    /// Its activity up to the end.
    pub activity: Activity,
    /// Why it went.
    pub cause: ExpiryCause,
}

/// Why a table operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TableError {
    /// The entry is inconsistent in itself.
    #[error("invalid entry: {0}")]
    Invalid(#[from] EntryError),
    /// A relay SPI of the entry already belongs to a live entry.
    #[error("relay SPI {0} already belongs to a live entry")]
    SpiInUse(Spi),
    /// No live entry has this name.
    #[error("no entry {0:?}")]
    NotFound(EntryId),
    /// The table holds the most entries it can index.
    #[error("the table is full")]
    Full,
    /// The random source kept returning SPIs that are reserved or in use.
    #[error("no free SPI found after {0} draws; is the random source working?")]
    NoFreeSpi(u32),
}

/// Heap memory held by a table, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryUsage {
    /// The slab of entries.
    pub slots: usize,
    /// The free-slot list.
    pub free_list: usize,
    /// The SPI index.
    pub index: usize,
    /// Reserved, not yet installed SPIs.
    pub reservations: usize,
    /// The expiry heap.
    pub expiry: usize,
}

impl MemoryUsage {
    /// All parts together.
    pub fn total(&self) -> usize {
        [
            self.slots,
            self.free_list,
            self.index,
            self.reservations,
            self.expiry,
        ]
        .iter()
        .fold(0usize, |sum, part| sum.saturating_add(*part))
    }
}

/// One occupied slot.
///
/// Aligned to a cache line and laid out in field order (`repr(C)`), so that a slot is exactly
/// three 64-byte lines (192 bytes with padding): the client partition and the start of the
/// gateway partition; the rest of the gateway partition, the hard deadline and `last_seen`;
/// the traffic counters, the shape and the expiry bookkeeping. A forwarded packet reads and
/// writes all three, and [`Table::warm_slot`] loads them together.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct Slot {
    pub entry: Entry,
    pub activity: Activity,
    /// The bundle shape, validated at insert and kept so the packet path need not derive it.
    pub shape: BundleShape,
    /// The `at` of this entry's one valid expiry item ([`Timestamp::NEVER`] if none).
    scheduled: Timestamp,
}

impl Slot {
    /// The earliest time the entry expires given its activity so far, and why.
    fn deadline(&self, idle_timeout: Option<Duration>) -> (Timestamp, ExpiryCause) {
        let hard = self.entry.expires_at;
        let idle = match idle_timeout {
            Some(timeout) => self.activity.last_seen.saturating_add(timeout),
            None => Timestamp::NEVER,
        };
        if hard <= idle {
            (hard, ExpiryCause::Lifetime)
        } else {
            (idle, ExpiryCause::Idle)
        }
    }
}

/// What a received SPI stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// A live entry receives on it.
    Live(Role),
    /// It was handed out for a negotiation whose entry is not installed yet.
    Reserved,
    /// Nothing.
    Unknown,
}

/// Draws before [`Table::allocate_spi`] gives up; with at most a quarter of the SPI space in
/// use, a working random source fails this often with probability below 4^-64.
const MAX_DRAWS: u32 = 64;

/// The relay's translation table, in memory.
#[derive(Debug, Default)]
pub struct Table {
    config: TableConfig,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    index: SpiIndex,
    reservations: HashMap<u32, Timestamp>,
    expiry: ExpiryQueue,
    len: usize,
}

impl Table {
    /// An empty table.
    pub fn new(config: TableConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// An empty table with room for `entries` ESP entries before any reallocation. Sizing up
    /// front matters at scale: a growing `Vec` or hash table briefly holds both its old and its
    /// new allocation, and may end with up to twice the capacity it needs.
    pub fn with_capacity(config: TableConfig, entries: usize) -> Self {
        Self {
            config,
            slots: Vec::with_capacity(entries),
            free: Vec::new(),
            index: SpiIndex::with_capacity(entries.saturating_mul(2)),
            reservations: HashMap::new(),
            expiry: ExpiryQueue::with_capacity(entries),
            len: 0,
        }
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no live entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of SPIs reserved by [`Table::allocate_spi`] and not yet installed or released.
    pub fn reserved_spis(&self) -> usize {
        self.reservations.len()
    }

    /// Chooses a fresh relay SPI at random and reserves it until `now` plus the configured
    /// hold: never below 256, never one a live entry or another reservation uses. The relay
    /// hands it out in a negotiation (c-SPI-2 to the client, s-SPI-2 to the SGW) and installs
    /// the entry later; [`Table::insert`] consumes the reservation.
    pub fn allocate_spi<R: RngCore + ?Sized>(
        &mut self,
        rng: &mut R,
        now: Timestamp,
    ) -> Result<Spi, TableError> {
        for _ in 0..MAX_DRAWS {
            let Some(spi) = Spi::new(rng.next_u32()) else {
                continue;
            };
            if self.spi_taken(spi) {
                continue;
            }
            let until = now.saturating_add(self.config.reservation_hold);
            self.reservations.insert(spi.get(), until);
            self.expiry.push(until, Wake::Reservation(spi.get()));
            return Ok(spi);
        }
        Err(TableError::NoFreeSpi(MAX_DRAWS))
    }

    /// Gives back a reserved SPI whose negotiation failed. Returns whether it was reserved.
    pub fn release_spi(&mut self, spi: Spi) -> bool {
        self.reservations.remove(&spi.get()).is_some()
    }

    /// Whether `spi` is reserved and not yet installed.
    pub fn is_reserved(&self, spi: Spi) -> bool {
        self.reservations.contains_key(&spi.get())
    }

    /// Whether a live entry or a reservation uses `spi` as a relay SPI.
    pub fn spi_taken(&self, spi: Spi) -> bool {
        self.index.contains(spi.get()) || self.reservations.contains_key(&spi.get())
    }

    /// Installs `entry` at `now` (its idle clock starts then). Its relay SPIs must not belong
    /// to a live entry; reservations of them are consumed. SPIs that were never reserved here
    /// are accepted too, so entries can be reloaded from a store after a restart.
    pub fn insert(&mut self, entry: Entry, now: Timestamp) -> Result<EntryId, TableError> {
        let shape = entry.validate()?;
        let id = entry
            .id()
            .ok_or(TableError::Invalid(EntryError::ShapeMismatch))?;
        if let Some((_, _, spi)) = entry
            .relay_spis()
            .find(|(_, _, spi)| self.index.contains(spi.get()))
        {
            return Err(TableError::SpiInUse(spi));
        }
        let slot_no = match self.free.pop() {
            Some(slot_no) => slot_no,
            None => {
                let slot_no = u32::try_from(self.slots.len()).map_err(|_| TableError::Full)?;
                if slot_no >= MAX_SLOTS {
                    return Err(TableError::Full);
                }
                self.slots.push(None);
                slot_no
            }
        };
        for (leg, protocol, spi) in entry.relay_spis() {
            self.index.insert(
                spi.get(),
                Role {
                    slot: slot_no,
                    leg,
                    protocol,
                },
            );
            self.reservations.remove(&spi.get());
        }
        let activity = Activity {
            last_seen: now,
            to_gateway: Traffic::default(),
            to_client: Traffic::default(),
        };
        let mut slot = Slot {
            entry,
            activity,
            shape,
            scheduled: Timestamp::NEVER,
        };
        slot.scheduled = slot.deadline(self.config.idle_timeout).0;
        self.expiry.push(slot.scheduled, Wake::Slot(slot_no));
        if let Some(place) = self.slots.get_mut(slot_no as usize) {
            *place = Some(slot);
        }
        self.len = self.len.saturating_add(1);
        Ok(id)
    }

    /// The entry named `id`.
    pub fn get(&self, id: EntryId) -> Option<&Entry> {
        self.slot_of(id).map(|(_, slot)| &slot.entry)
    }

    /// What the relay has seen of entry `id`.
    pub fn activity(&self, id: EntryId) -> Option<&Activity> {
        self.slot_of(id).map(|(_, slot)| &slot.activity)
    }

    /// Every live entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (EntryId, &Entry, &Activity)> + '_ {
        self.slots
            .iter()
            .flatten()
            .filter_map(|slot| slot.entry.id().map(|id| (id, &slot.entry, &slot.activity)))
    }

    /// Moves one leg of entry `id` to a new path: the client's new address or port after
    /// mobility or a NAT rebinding, learnt through an authenticated channel. SPIs stay.
    pub fn update_path(&mut self, id: EntryId, leg: Leg, path: Path) -> Result<(), TableError> {
        check_path(leg, &path)?;
        let slot_no = self
            .slot_of(id)
            .map(|(slot_no, _)| slot_no)
            .ok_or(TableError::NotFound(id))?;
        let slot = self.slot_mut(slot_no).ok_or(TableError::NotFound(id))?;
        if leg == Leg::Gateway
            && slot.shape.has_ah()
            && matches!(path.transport, Transport::Udp { .. })
        {
            return Err(EntryError::AhOverUdpToGateway.into());
        }
        slot.entry.partition_mut(leg).path = path;
        Ok(())
    }

    /// Removes entry `id` (rekeyed and retired, or deleted by the control plane).
    pub fn remove(&mut self, id: EntryId) -> Option<Entry> {
        let (slot_no, _) = self.slot_of(id)?;
        let slot = self.take_slot(slot_no)?;
        self.compact_expiry_if_needed();
        Some(slot.entry)
    }

    /// The earliest time at which [`Table::pop_expired`] may have something to do. Calling it
    /// then is never late; it may be early, when traffic has pushed an idle deadline out.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiry.next()
    }

    /// Removes and returns one entry that has expired at `now`, or `None` when none has.
    /// Lapsed SPI reservations are dropped silently on the way. Call it until it returns `None`.
    pub fn pop_expired(&mut self, now: Timestamp) -> Option<Expired> {
        while let Some(due) = self.expiry.pop_due(now) {
            match due.what {
                Wake::Reservation(spi) => {
                    if self.reservations.get(&spi) == Some(&due.at) {
                        self.reservations.remove(&spi);
                    }
                }
                Wake::Slot(slot_no) => {
                    let idle_timeout = self.config.idle_timeout;
                    let Some(slot) = self.slot_mut(slot_no) else {
                        continue;
                    };
                    if slot.scheduled != due.at {
                        continue; // a leftover of an entry since removed, or rescheduled
                    }
                    let (deadline, cause) = slot.deadline(idle_timeout);
                    if deadline > now {
                        slot.scheduled = deadline;
                        self.expiry.push(deadline, Wake::Slot(slot_no));
                        continue;
                    }
                    let slot = self.take_slot(slot_no)?;
                    let id = slot.entry.id()?;
                    return Some(Expired {
                        id,
                        entry: slot.entry,
                        activity: slot.activity,
                        cause,
                    });
                }
            }
        }
        self.compact_expiry_if_needed();
        None
    }

    /// Heap memory held, by part (capacities, not just what is in use).
    pub fn memory_usage(&self) -> MemoryUsage {
        MemoryUsage {
            slots: self
                .slots
                .capacity()
                .saturating_mul(core::mem::size_of::<Option<Slot>>()),
            free_list: self
                .free
                .capacity()
                .saturating_mul(core::mem::size_of::<u32>()),
            index: self.index.allocation_size(),
            reservations: self.reservations.allocation_size(),
            expiry: self.expiry.allocation_size(),
        }
    }

    /// What `spi` stands for: the one lookup of the per-packet path.
    #[inline(always)]
    pub(crate) fn find(&self, spi: u32) -> Found {
        match self.index.get(spi) {
            Some(role) => Found::Live(role),
            None if self.reservations.contains_key(&spi) => Found::Reserved,
            None => Found::Unknown,
        }
    }

    /// Loads the index bucket where the lookup of `spi` starts, without depending on it: a
    /// batch calls this for all its SPIs before looking any up, so that their memory reads
    /// overlap. Fold the results into `core::hint::black_box` so that the reads are kept.
    #[inline(always)]
    pub(crate) fn warm_index(&self, spi: u32) -> u32 {
        self.index.warm(spi)
    }

    /// Loads the three cache lines of slot `slot_no` (see [`Slot`]), as [`Table::warm_index`]
    /// does for the index: one read in each line, nothing that depends on the values read.
    #[inline(always)]
    pub(crate) fn warm_slot(&self, slot_no: u32) -> u64 {
        self.slots
            .get(slot_no as usize)
            .and_then(Option::as_ref)
            .map_or(0, |slot| {
                u64::from(slot.entry.client.relay_spis.esp.map_or(0, Spi::get))
                    .wrapping_add(slot.activity.last_seen.as_millis())
                    .wrapping_add(slot.scheduled.as_millis())
            })
    }

    /// The occupied slot `slot_no`.
    #[inline(always)]
    pub(crate) fn slot(&self, slot_no: u32) -> Option<&Slot> {
        self.slots.get(slot_no as usize).and_then(Option::as_ref)
    }

    /// The occupied slot `slot_no`, mutably.
    #[inline(always)]
    pub(crate) fn slot_mut(&mut self, slot_no: u32) -> Option<&mut Slot> {
        self.slots
            .get_mut(slot_no as usize)
            .and_then(Option::as_mut)
    }

    /// The slot of entry `id`: its SPI must index the entry of which it is the name.
    fn slot_of(&self, id: EntryId) -> Option<(u32, &Slot)> {
        let role = self.index.get(id.0.get())?;
        let slot = self.slot(role.slot)?;
        (slot.entry.id() == Some(id)).then_some((role.slot, slot))
    }

    /// Empties slot `slot_no`, unindexing its SPIs.
    fn take_slot(&mut self, slot_no: u32) -> Option<Slot> {
        let slot = self.slots.get_mut(slot_no as usize)?.take()?;
        for (_, _, spi) in slot.entry.relay_spis() {
            self.index.remove(spi.get());
        }
        self.free.push(slot_no);
        self.len = self.len.saturating_sub(1);
        Some(slot)
    }

    /// Drops expiry items of removed entries once they outnumber the live ones.
    fn compact_expiry_if_needed(&mut self) {
        let live = self.len.saturating_add(self.reservations.len());
        if !self.expiry.needs_compaction(live) {
            return;
        }
        let slots = self.slots.iter().enumerate().filter_map(|(slot_no, slot)| {
            let slot = slot.as_ref()?;
            let slot_no = u32::try_from(slot_no).ok()?;
            Some(Due {
                at: slot.scheduled,
                what: Wake::Slot(slot_no),
            })
        });
        let reservations = self.reservations.iter().map(|(spi, at)| Due {
            at: *at,
            what: Wake::Reservation(*spi),
        });
        self.expiry.rebuild(slots.chain(reservations));
    }
}
