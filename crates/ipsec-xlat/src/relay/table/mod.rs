//! The translation table: entries in a slab, found by SPI through one open-addressing index.
//!
//! The per-packet path is `Table::find` (one index lookup) followed by the read and update of
//! one cache line, the arrival leg's `LegLine`; nothing there allocates. The index bucket of
//! an SPI is known from the SPI alone and the line from the bucket, so the batch path can
//! prefetch a whole batch's buckets, then their lines, before it needs them
//! (`Table::prefetch_index`, `Table::prefetch_line`). Control-plane operations (insert,
//! path update for mobility, remove, expiry, SPI allocation) keep the index consistent with the
//! slab: every relay SPI of every live entry is indexed exactly once, pointing at its slot, and
//! nothing else is.

use core::time::Duration;

use hashbrown::HashMap;
use rand_core::RngCore;
use thiserror::Error;

use super::entry::{check_path, Entry, EntryError, EntryId, LegPath, LegTransport};
use super::expiry::{Due, ExpiryQueue, Wake};
use super::index::{Role, SpiIndex, MAX_SLOTS};
use super::spi::Spi;
use crate::net::Leg;
use crate::time::Timestamp;

mod lines;
#[cfg(test)]
mod tests;

pub(crate) use lines::Route;
use lines::{entry_of, Cold};
pub(crate) use lines::{CompactExit, LegLine};

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
    /// The control plane's part of each slot; `None` for a vacant slot.
    slots: Vec<Option<Cold>>,
    /// Two lines per slot: `2 * slot` for the client leg, `2 * slot + 1` for the gateway leg.
    lines: Vec<LegLine>,
    /// Entries without a compact form (AH, IPv6), whole.
    wide: Vec<Option<Entry>>,
    /// Vacant places in `wide`.
    wide_free: Vec<u32>,
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
            lines: Vec::with_capacity(entries.saturating_mul(2)),
            wide: Vec::new(),
            wide_free: Vec::new(),
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
    pub(crate) fn release_spi(&mut self, spi: Spi) -> bool {
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
                self.lines.push(LegLine::default());
                self.lines.push(LegLine::default());
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
        for leg in [Leg::CSide, Leg::SSide] {
            if let Some(line) = self.line_mut(slot_no, leg) {
                *line = LegLine::installed(now);
            }
        }
        if let Some(place) = self.slots.get_mut(slot_no as usize) {
            *place = Some(Cold::new(entry.expires_at, shape, None));
        }
        self.place(slot_no, &entry);
        let scheduled = self
            .deadline(slot_no)
            .map_or(Timestamp::NEVER, |(at, _)| at);
        if let Some(cold) = self.cold_mut(slot_no) {
            cold.scheduled = scheduled;
        }
        self.expiry.push(scheduled, Wake::Slot(slot_no));
        self.len = self.len.saturating_add(1);
        Ok(id)
    }

    /// The entry named `id`.
    pub fn get(&self, id: EntryId) -> Option<Entry> {
        self.slot_of(id).map(|(_, entry)| entry)
    }

    /// What the relay has seen of entry `id`.
    pub fn activity(&self, id: EntryId) -> Option<Activity> {
        self.slot_of(id)
            .and_then(|(slot_no, _)| self.activity_at(slot_no))
    }

    /// Every live entry, in slot order, with its activity.
    pub fn iter(&self) -> impl Iterator<Item = (EntryId, Entry, Activity)> + '_ {
        (0..self.slots.len()).filter_map(|slot_no| {
            let slot_no = u32::try_from(slot_no).ok()?;
            let entry = self.entry_at(slot_no)?;
            Some((entry.id()?, entry, self.activity_at(slot_no)?))
        })
    }

    /// Moves one leg of entry `id` to a new path: the client's new address or port after
    /// mobility or a NAT rebinding, learnt through an authenticated channel. SPIs stay.
    pub fn update_path(&mut self, id: EntryId, leg: Leg, path: LegPath) -> Result<(), TableError> {
        check_path(leg, &path)?;
        let (slot_no, mut entry) = self.slot_of(id).ok_or(TableError::NotFound(id))?;
        let shape = self.cold(slot_no).ok_or(TableError::NotFound(id))?.shape;
        if leg == Leg::SSide && shape.has_ah() && matches!(path.transport, LegTransport::Udp { .. })
        {
            return Err(EntryError::AhOverUdpToGateway.into());
        }
        entry.partition_mut(leg).path = path;
        self.place(slot_no, &entry);
        Ok(())
    }

    /// Makes entry `id` expire no later than `at`, keeping it until then: a bundle its client
    /// deleted still carries what the SGW sent before the DELETE reached it (the client keeps
    /// opening such packets for its drain period). An earlier deadline is kept. Returns
    /// whether the entry exists.
    pub fn expire_by(&mut self, id: EntryId, at: Timestamp) -> bool {
        let Some((slot_no, _)) = self.slot_of(id) else {
            return false;
        };
        let Some(cold) = self.cold_mut(slot_no) else {
            return false;
        };
        if at >= cold.expires_at {
            return true;
        }
        cold.expires_at = at;
        if let Some(wide) = cold.wide() {
            if let Some(Some(entry)) = self.wide.get_mut(wide as usize) {
                entry.expires_at = at;
            }
        }
        let scheduled = self
            .deadline(slot_no)
            .map_or(Timestamp::NEVER, |(due, _)| due);
        if let Some(cold) = self.cold_mut(slot_no) {
            cold.scheduled = scheduled;
        }
        self.expiry.push(scheduled, Wake::Slot(slot_no));
        true
    }

    /// Removes entry `id` (rekeyed and retired, or deleted by the control plane).
    pub(crate) fn remove(&mut self, id: EntryId) -> Option<Entry> {
        let (slot_no, _) = self.slot_of(id)?;
        let (entry, _) = self.take_slot(slot_no)?;
        self.compact_expiry_if_needed();
        Some(entry)
    }

    /// The earliest time at which [`Table::pop_expired`] may have something to do. Calling it
    /// then is never late; it may be early, when traffic has pushed an idle deadline out.
    pub(crate) fn next_expiry(&self) -> Option<Timestamp> {
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
                    if self.cold(slot_no).map(|cold| cold.scheduled) != Some(due.at) {
                        continue; // a leftover of an entry since removed, or rescheduled
                    }
                    let Some((deadline, cause)) = self.deadline(slot_no) else {
                        continue;
                    };
                    if deadline > now {
                        if let Some(cold) = self.cold_mut(slot_no) {
                            cold.scheduled = deadline;
                        }
                        self.expiry.push(deadline, Wake::Slot(slot_no));
                        continue;
                    }
                    let (entry, activity) = self.take_slot(slot_no)?;
                    let id = entry.id()?;
                    return Some(Expired {
                        id,
                        entry,
                        activity,
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
            slots: [
                capacity_bytes(&self.slots),
                capacity_bytes(&self.lines),
                capacity_bytes(&self.wide),
            ]
            .iter()
            .fold(0usize, |sum, part| sum.saturating_add(*part)),
            free_list: capacity_bytes(&self.free).saturating_add(capacity_bytes(&self.wide_free)),
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

    /// The role of `spi` if a live entry receives on it (the fast path's lookup; [`Table::find`]
    /// also tells reserved SPIs apart, which only the drop counters need).
    #[inline(always)]
    pub(crate) fn find_live(&self, spi: u32) -> Option<Role> {
        self.index.get(spi)
    }

    /// Starts loading the index bucket where the lookup of `spi` starts: a batch calls this
    /// for all its SPIs before looking any up, so that their memory reads overlap.
    #[inline(always)]
    pub(crate) fn prefetch_index(&self, spi: u32) {
        self.index.prefetch(spi);
    }

    /// Starts loading the line that a packet arriving on `leg` of slot `slot_no` reads.
    #[inline(always)]
    pub(crate) fn prefetch_line(&self, slot_no: u32, leg: Leg) {
        prefetch_index::prefetch_index(&self.lines, line_no(slot_no, leg));
    }

    /// What a packet arriving on `leg` of slot `slot_no` needs: from the leg's line alone for
    /// a compact entry, from the side slab otherwise.
    #[inline(always)]
    pub(crate) fn route(&self, slot_no: u32, leg: Leg) -> Option<Route> {
        let line = self.lines.get(line_no(slot_no, leg))?;
        if let Some(route) = line.route() {
            return Some(route);
        }
        let cold = self.cold(slot_no)?;
        let entry = self.wide.get(cold.wide()? as usize)?.as_ref()?;
        Some(Route::of(entry, cold.shape, leg))
    }

    /// Accounts for a packet of `bytes` forwarded at `now` that arrived on `leg` of slot
    /// `slot_no` (in that leg's line).
    #[inline(always)]
    pub(crate) fn record(&mut self, slot_no: u32, leg: Leg, bytes: usize, now: Timestamp) {
        if let Some(line) = self.line_mut(slot_no, leg) {
            line.record(bytes, now);
        }
    }

    /// The line a packet arriving on `leg` of slot `slot_no` reads.
    #[inline(always)]
    pub(crate) fn line(&self, slot_no: u32, leg: Leg) -> Option<&LegLine> {
        self.lines.get(line_no(slot_no, leg))
    }

    fn line_mut(&mut self, slot_no: u32, leg: Leg) -> Option<&mut LegLine> {
        self.lines.get_mut(line_no(slot_no, leg))
    }

    fn cold(&self, slot_no: u32) -> Option<&Cold> {
        self.slots.get(slot_no as usize).and_then(Option::as_ref)
    }

    fn cold_mut(&mut self, slot_no: u32) -> Option<&mut Cold> {
        self.slots
            .get_mut(slot_no as usize)
            .and_then(Option::as_mut)
    }

    /// The entry in the occupied slot `slot_no`.
    fn entry_at(&self, slot_no: u32) -> Option<Entry> {
        let cold = self.cold(slot_no)?;
        match cold.wide() {
            Some(wide) => self.wide.get(wide as usize).copied().flatten(),
            None => entry_of(
                self.line(slot_no, Leg::CSide)?,
                self.line(slot_no, Leg::SSide)?,
                cold.expires_at,
            ),
        }
    }

    /// The activity of the occupied slot `slot_no`, from its two lines.
    fn activity_at(&self, slot_no: u32) -> Option<Activity> {
        self.cold(slot_no)?;
        let (client, gateway) = (
            self.line(slot_no, Leg::CSide)?,
            self.line(slot_no, Leg::SSide)?,
        );
        Some(Activity {
            last_seen: client.last_seen.max(gateway.last_seen),
            to_gateway: client.traffic,
            to_client: gateway.traffic,
        })
    }

    /// The earliest time the entry in slot `slot_no` expires given its activity, and why.
    fn deadline(&self, slot_no: u32) -> Option<(Timestamp, ExpiryCause)> {
        let hard = self.cold(slot_no)?.expires_at;
        let idle = match self.config.idle_timeout {
            Some(timeout) => self.activity_at(slot_no)?.last_seen.saturating_add(timeout),
            None => Timestamp::NEVER,
        };
        Some(if hard <= idle {
            (hard, ExpiryCause::Lifetime)
        } else {
            (idle, ExpiryCause::Idle)
        })
    }

    /// Stores `entry` (valid, of the slot's shape) in the occupied slot `slot_no`: in its two
    /// lines when it has a compact form, else in the side slab. Activity is kept.
    fn place(&mut self, slot_no: u32, entry: &Entry) {
        let Some((shape, wide)) = self.cold(slot_no).map(|cold| (cold.shape, cold.wide())) else {
            return;
        };
        let mut compact = true;
        for leg in [Leg::CSide, Leg::SSide] {
            if let Some(line) = self.line_mut(slot_no, leg) {
                compact &= line.set_form(entry, shape, leg);
            }
        }
        let wide = match (compact, wide) {
            (true, old) => {
                if let Some(old) = old {
                    self.free_wide(old);
                }
                None
            }
            (false, Some(at)) => {
                if let Some(place) = self.wide.get_mut(at as usize) {
                    *place = Some(*entry);
                }
                Some(at)
            }
            (false, None) => Some(self.alloc_wide(*entry)),
        };
        if let Some(cold) = self.cold_mut(slot_no) {
            cold.set_wide(wide);
            cold.expires_at = entry.expires_at;
        }
    }

    fn alloc_wide(&mut self, entry: Entry) -> u32 {
        if let Some(at) = self.wide_free.pop() {
            if let Some(place) = self.wide.get_mut(at as usize) {
                *place = Some(entry);
                return at;
            }
        }
        // At most one wide place per slot, and slots are numbered below `MAX_SLOTS`.
        let at = u32::try_from(self.wide.len()).unwrap_or(u32::MAX);
        self.wide.push(Some(entry));
        at
    }

    fn free_wide(&mut self, at: u32) {
        if let Some(place) = self.wide.get_mut(at as usize) {
            *place = None;
            self.wide_free.push(at);
        }
    }

    /// The slot of entry `id` and the entry: its SPI must index the entry of which it is the
    /// name.
    fn slot_of(&self, id: EntryId) -> Option<(u32, Entry)> {
        let role = self.index.get(id.0.get())?;
        let entry = self.entry_at(role.slot)?;
        (entry.id() == Some(id)).then_some((role.slot, entry))
    }

    /// Empties slot `slot_no`, unindexing its SPIs.
    fn take_slot(&mut self, slot_no: u32) -> Option<(Entry, Activity)> {
        let entry = self.entry_at(slot_no)?;
        let activity = self.activity_at(slot_no)?;
        let cold = self.slots.get_mut(slot_no as usize)?.take()?;
        if let Some(wide) = cold.wide() {
            self.free_wide(wide);
        }
        for leg in [Leg::CSide, Leg::SSide] {
            if let Some(line) = self.line_mut(slot_no, leg) {
                *line = LegLine::default();
            }
        }
        for (_, _, spi) in entry.relay_spis() {
            self.index.remove(spi.get());
        }
        self.free.push(slot_no);
        self.len = self.len.saturating_sub(1);
        Some((entry, activity))
    }

    /// Drops expiry items of removed entries once they outnumber the live ones.
    fn compact_expiry_if_needed(&mut self) {
        let live = self.len.saturating_add(self.reservations.len());
        if !self.expiry.needs_compaction(live) {
            return;
        }
        let slots = self.slots.iter().enumerate().filter_map(|(slot_no, slot)| {
            let cold = slot.as_ref()?;
            let slot_no = u32::try_from(slot_no).ok()?;
            Some(Due {
                at: cold.scheduled,
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

/// Where the line of `leg` of slot `slot_no` is in [`Table::lines`].
#[inline(always)]
fn line_no(slot_no: u32, leg: Leg) -> usize {
    let leg = match leg {
        Leg::CSide => 0,
        Leg::SSide => 1,
    };
    (slot_no as usize).wrapping_mul(2).wrapping_add(leg)
}

/// Heap bytes of a vector's capacity.
fn capacity_bytes<T>(items: &Vec<T>) -> usize {
    items.capacity().saturating_mul(core::mem::size_of::<T>())
}
