#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(clippy::arithmetic_side_effects)]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;
use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::relay::entry::Partition;
use crate::relay::spi::{IpsecProtocol, SpiSet};

fn spi(value: u32) -> Spi {
    Spi::new(value).unwrap()
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn client_path() -> LegPath {
    LegPath {
        relay_addr: v4(198, 51, 100, 1),
        peer_addr: v4(198, 51, 100, 10),
        transport: LegTransport::Udp {
            relay_port: 4500,
            peer_port: 40123,
        },
    }
}

fn gateway_path() -> LegPath {
    LegPath {
        relay_addr: v4(203, 0, 113, 1),
        peer_addr: v4(203, 0, 113, 2),
        transport: LegTransport::Ip,
    }
}

/// An ESP entry whose relay SPIs are `c2` (client leg) and `s2` (gateway leg).
fn esp_entry(c2: u32, s2: u32) -> Entry {
    Entry {
        client: Partition {
            path: client_path(),
            relay_spis: SpiSet::esp(spi(c2)),
            peer_spis: SpiSet::esp(spi(0xc1c1_0001)),
        },
        gateway: Partition {
            path: gateway_path(),
            relay_spis: SpiSet::esp(spi(s2)),
            peer_spis: SpiSet::esp(spi(0x5353_0003)),
        },
        expires_at: Timestamp::NEVER,
    }
}

/// An AH+ESP entry with relay SPIs `c2` (AH, ESP) and `s2` (AH, ESP).
fn bundle_entry(c2: (u32, u32), s2: (u32, u32)) -> Entry {
    Entry {
        client: Partition {
            path: client_path(),
            relay_spis: SpiSet::ah_esp(spi(c2.0), spi(c2.1)),
            peer_spis: SpiSet::ah_esp(spi(0xc1c1_00a1), spi(0xc1c1_00e1)),
        },
        gateway: Partition {
            path: gateway_path(),
            relay_spis: SpiSet::ah_esp(spi(s2.0), spi(s2.1)),
            peer_spis: SpiSet::ah_esp(spi(0x5353_00a3), spi(0x5353_00e3)),
        },
        expires_at: Timestamp::NEVER,
    }
}

fn t(millis: u64) -> Timestamp {
    Timestamp::from_millis(millis)
}

/// Every structural invariant of the table.
pub(crate) fn check_invariants(table: &Table) {
    let live: Vec<(u32, Cold)> = table
        .slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i as u32, s)))
        .collect();
    assert_eq!(table.len, live.len(), "len counts occupied slots");
    assert_eq!(
        table.lines.len(),
        2 * table.slots.len(),
        "two lines per slot"
    );
    let mut expected_keys = 0;
    let mut wide_used = HashSet::new();
    for (slot_no, cold) in &live {
        let entry = table
            .entry_at(*slot_no)
            .expect("an occupied slot holds an entry");
        assert_eq!(entry.validate(), Ok(cold.shape), "stored entries are valid");
        assert_eq!(entry.expires_at, cold.expires_at);
        let client = table.line(*slot_no, Leg::CSide).unwrap();
        let gateway = table.line(*slot_no, Leg::SSide).unwrap();
        match cold.wide() {
            None => assert!(
                client.is_compact() && gateway.is_compact(),
                "an entry not in the side slab is compact in both lines"
            ),
            Some(at) => {
                assert!(
                    !client.is_compact() && !gateway.is_compact(),
                    "a wide entry has no compact lines"
                );
                assert!(wide_used.insert(at), "one wide place per entry");
                // It really has no compact form.
                let mut probe = LegLine::default();
                assert!(!probe.set_form(&entry, cold.shape, Leg::CSide));
            }
        }
        for leg in [Leg::CSide, Leg::SSide] {
            assert_eq!(
                table.route(*slot_no, leg),
                Some(Route::of(&entry, cold.shape, leg)),
                "the packet path sees the entry as stored"
            );
        }
        for (leg, protocol, spi) in entry.relay_spis() {
            expected_keys += 1;
            assert_eq!(
                table.index.get(spi.get()),
                Some(Role {
                    slot: *slot_no,
                    leg,
                    protocol
                }),
                "every relay SPI indexes its entry"
            );
            assert!(
                !table.reservations.contains_key(&spi.get()),
                "live SPI not also reserved"
            );
        }
        if cold.scheduled != Timestamp::NEVER {
            assert!(
                table.expiry.contains(Due {
                    at: cold.scheduled,
                    what: Wake::Slot(*slot_no)
                }),
                "a live entry with a deadline has its expiry item"
            );
        }
        assert_eq!(table.get(entry.id().unwrap()), Some(entry));
    }
    assert_eq!(
        table.index.len(),
        expected_keys,
        "the index holds nothing else"
    );
    for (spi, _) in table.index.iter() {
        assert!(spi >= 256, "no reserved SPI is indexed");
    }
    let free: HashSet<u32> = table.free.iter().copied().collect();
    assert_eq!(free.len(), table.free.len(), "free list has no duplicates");
    for (i, slot) in table.slots.iter().enumerate() {
        assert_eq!(
            slot.is_none(),
            free.contains(&(i as u32)),
            "free list = vacant slots"
        );
        if slot.is_none() {
            for leg in [Leg::CSide, Leg::SSide] {
                assert_eq!(
                    table.line(i as u32, leg),
                    Some(&LegLine::default()),
                    "a vacant slot's lines are blank"
                );
            }
        }
    }
    let wide_free: HashSet<u32> = table.wide_free.iter().copied().collect();
    assert_eq!(wide_free.len(), table.wide_free.len());
    for (i, place) in table.wide.iter().enumerate() {
        let i = i as u32;
        assert_eq!(
            place.is_some(),
            wide_used.contains(&i),
            "wide places used by live slots"
        );
        assert_eq!(
            place.is_none(),
            wide_free.contains(&i),
            "wide free list = vacant places"
        );
    }
}

/// When an entry with `activity` is due, by the table's rule.
fn deadline_of(entry: &Entry, activity: &Activity, idle_timeout: Option<Duration>) -> Timestamp {
    let idle = idle_timeout.map_or(Timestamp::NEVER, |timeout| {
        activity.last_seen.saturating_add(timeout)
    });
    entry.expires_at.min(idle)
}

#[test]
fn insert_indexes_every_relay_spi_with_its_role() {
    let mut table = Table::new(TableConfig::default());
    let id = table
        .insert(bundle_entry((0x1000, 0x1001), (0x2000, 0x2001)), t(0))
        .unwrap();
    assert_eq!(id, EntryId(spi(0x1000)));
    let role = |s| match table.find(s) {
        Found::Live(role) => (role.leg, role.protocol),
        other => panic!("{other:?}"),
    };
    assert_eq!(role(0x1000), (Leg::CSide, IpsecProtocol::Ah));
    assert_eq!(role(0x1001), (Leg::CSide, IpsecProtocol::Esp));
    assert_eq!(role(0x2000), (Leg::SSide, IpsecProtocol::Ah));
    assert_eq!(role(0x2001), (Leg::SSide, IpsecProtocol::Esp));
    assert_eq!(
        table.find(0x5353_00a3),
        Found::Unknown,
        "peer SPIs are not relay SPIs"
    );
    assert_eq!(table.len(), 1);
    check_invariants(&table);
}

#[test]
fn insert_refuses_a_live_spi_and_leaves_the_table_unchanged() {
    let mut table = Table::new(TableConfig::default());
    table.insert(esp_entry(0x1000, 0x2000), t(0)).unwrap();
    // Same client SPI, or a gateway SPI equal to the other entry's client SPI: one SPI space.
    assert_eq!(
        table.insert(esp_entry(0x1000, 0x3000), t(0)),
        Err(TableError::SpiInUse(spi(0x1000)))
    );
    assert_eq!(
        table.insert(esp_entry(0x4000, 0x1000), t(0)),
        Err(TableError::SpiInUse(spi(0x1000)))
    );
    assert_eq!(table.len(), 1);
    assert_eq!(table.find(0x3000), Found::Unknown);
    assert_eq!(table.find(0x4000), Found::Unknown);
    check_invariants(&table);
}

#[test]
fn invalid_entries_are_refused_with_the_reason() {
    let mut table = Table::new(TableConfig::default());
    let mut no_spi = esp_entry(0x1000, 0x2000);
    no_spi.gateway.peer_spis = SpiSet {
        esp: None,
        ah: None,
    };
    assert_eq!(
        table.insert(no_spi, t(0)),
        Err(TableError::Invalid(EntryError::NoSpi {
            leg: Leg::SSide,
            party: "peer"
        }))
    );

    let mut shapes = esp_entry(0x1000, 0x2000);
    shapes.gateway.peer_spis = SpiSet::ah(spi(0x9999));
    assert_eq!(
        table.insert(shapes, t(0)),
        Err(EntryError::ShapeMismatch.into())
    );

    assert_eq!(
        table.insert(esp_entry(0x1000, 0x1000), t(0)),
        Err(EntryError::DuplicateRelaySpi(spi(0x1000)).into())
    );
    assert_eq!(
        table.insert(bundle_entry((0x1000, 0x1001), (0x2000, 0x1001)), t(0)),
        Err(EntryError::DuplicateRelaySpi(spi(0x1001)).into())
    );

    let mut mixed = esp_entry(0x1000, 0x2000);
    mixed.client.path.peer_addr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10));
    assert_eq!(
        table.insert(mixed, t(0)),
        Err(EntryError::AddressFamilyMismatch(Leg::CSide).into())
    );

    let mut ah_udp = bundle_entry((0x1000, 0x1001), (0x2000, 0x2001));
    ah_udp.gateway.path.transport = LegTransport::Udp {
        relay_port: 4500,
        peer_port: 4500,
    };
    assert_eq!(
        table.insert(ah_udp, t(0)),
        Err(EntryError::AhOverUdpToGateway.into())
    );

    assert!(table.is_empty());
    check_invariants(&table);
}

#[test]
fn remove_frees_every_spi_and_the_slot() {
    let mut table = Table::new(TableConfig::default());
    let a = table
        .insert(bundle_entry((0x1000, 0x1001), (0x2000, 0x2001)), t(0))
        .unwrap();
    let b = table.insert(esp_entry(0x3000, 0x4000), t(0)).unwrap();
    assert_eq!(
        table.remove(EntryId(spi(0x1001))),
        None,
        "an inner SPI does not name the entry"
    );
    let removed = table.remove(a).unwrap();
    assert_eq!(removed.client.relay_spis.ah, Some(spi(0x1000)));
    assert_eq!(table.remove(a), None);
    for s in [0x1000, 0x1001, 0x2000, 0x2001] {
        assert_eq!(table.find(s), Found::Unknown);
    }
    assert!(table.get(b).is_some());
    check_invariants(&table);
    // The slot is reused and the old SPIs are free again.
    table
        .insert(bundle_entry((0x2001, 0x2000), (0x1001, 0x1000)), t(0))
        .unwrap();
    assert_eq!(table.slots.len(), 2);
    check_invariants(&table);
}

#[test]
fn update_path_moves_one_leg_and_keeps_spis() {
    let mut table = Table::new(TableConfig::default());
    let id = table.insert(esp_entry(0x1000, 0x2000), t(0)).unwrap();
    let moved = LegPath {
        relay_addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1)),
        peer_addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 10)),
        transport: LegTransport::Ip,
    };
    table.update_path(id, Leg::CSide, moved).unwrap();
    let entry = table.get(id).unwrap();
    assert_eq!(entry.client.path, moved);
    assert_eq!(entry.gateway.path, gateway_path());
    assert_eq!(entry.client.relay_spis, SpiSet::esp(spi(0x1000)));
    assert!(matches!(table.find(0x1000), Found::Live(_)));

    let bad = LegPath {
        peer_addr: v4(198, 51, 100, 10),
        ..moved
    };
    assert_eq!(
        table.update_path(id, Leg::CSide, bad),
        Err(EntryError::AddressFamilyMismatch(Leg::CSide).into())
    );
    let missing = EntryId(spi(0x7777));
    assert_eq!(
        table.update_path(missing, Leg::CSide, moved),
        Err(TableError::NotFound(missing))
    );
    let ah = table
        .insert(bundle_entry((0x5000, 0x5001), (0x6000, 0x6001)), t(0))
        .unwrap();
    let udp = LegPath {
        transport: LegTransport::Udp {
            relay_port: 4500,
            peer_port: 4500,
        },
        ..gateway_path()
    };
    assert_eq!(
        table.update_path(ah, Leg::SSide, udp),
        Err(EntryError::AhOverUdpToGateway.into())
    );
    check_invariants(&table);
}

/// A random source that replays a fixed list, then repeats its last value.
struct Replay(Vec<u32>, usize);

impl rand_core::RngCore for Replay {
    fn next_u32(&mut self) -> u32 {
        let value = self.0[self.1.min(self.0.len() - 1)];
        self.1 += 1;
        value
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        dest.fill(0);
        Ok(())
    }
}

#[test]
fn allocated_spis_skip_reserved_values_live_spis_and_other_reservations() {
    let mut table = Table::new(TableConfig::default());
    table.insert(esp_entry(0x1000, 0x2000), t(0)).unwrap();
    let mut rng = Replay(vec![0, 1, 255, 0x1000, 0x2000, 0x3000, 0x3000, 256], 0);
    assert_eq!(table.allocate_spi(&mut rng, t(0)), Ok(spi(0x3000)));
    assert_eq!(table.allocate_spi(&mut rng, t(0)), Ok(spi(256)));
    assert!(table.is_reserved(spi(0x3000)));
    assert_eq!(table.find(0x3000), Found::Reserved);
    // An RNG stuck on a taken value is reported, not looped on forever.
    let mut stuck = Replay(vec![0x1000], 0);
    assert_eq!(
        table.allocate_spi(&mut stuck, t(0)),
        Err(TableError::NoFreeSpi(MAX_DRAWS))
    );
    // Installing consumes the reservation; releasing an installed SPI is a no-op.
    table.insert(esp_entry(0x3000, 256), t(0)).unwrap();
    assert!(!table.is_reserved(spi(0x3000)));
    assert!(!table.release_spi(spi(0x3000)));
    assert_eq!(table.reserved_spis(), 0);
    check_invariants(&table);
}

#[test]
fn reservations_lapse_after_the_hold_and_can_be_released() {
    let config = TableConfig {
        reservation_hold: Duration::from_secs(10),
        ..Default::default()
    };
    let mut table = Table::new(config);
    let mut rng = StdRng::seed_from_u64(7);
    let kept = table.allocate_spi(&mut rng, t(0)).unwrap();
    let released = table.allocate_spi(&mut rng, t(0)).unwrap();
    assert!(table.release_spi(released));
    assert!(!table.spi_taken(released));
    assert_eq!(table.next_expiry(), Some(t(10_000)));
    assert_eq!(table.pop_expired(t(9_999)), None);
    assert!(table.is_reserved(kept));
    assert_eq!(
        table.pop_expired(t(10_000)),
        None,
        "lapsed reservations are not entries"
    );
    assert!(!table.spi_taken(kept));
    assert_eq!(table.next_expiry(), None);
}

#[test]
fn hard_lifetime_expires_even_a_busy_entry() {
    let mut table = Table::new(TableConfig::default());
    let mut entry = esp_entry(0x1000, 0x2000);
    entry.expires_at = t(60_000);
    let id = table.insert(entry, t(0)).unwrap();
    assert_eq!(table.next_expiry(), Some(t(60_000)));
    let Found::Live(role) = table.find(0x1000) else {
        panic!()
    };
    table.record(role.slot, Leg::CSide, 100, t(59_999));
    assert_eq!(table.pop_expired(t(59_999)), None);
    let expired = table.pop_expired(t(60_000)).unwrap();
    assert_eq!((expired.id, expired.cause), (id, ExpiryCause::Lifetime));
    assert_eq!(
        expired.activity.to_gateway,
        Traffic {
            packets: 1,
            bytes: 100
        }
    );
    assert!(table.is_empty());
    assert_eq!(table.find(0x2000), Found::Unknown);
    check_invariants(&table);
}

#[test]
fn expire_by_brings_a_deadline_forward_and_never_back() {
    for wide in [false, true] {
        let mut table = Table::new(TableConfig::default());
        let mut entry = if wide {
            // AH+ESP: a bundle lives in the side slab, not the compact lines.
            bundle_entry((0x1000, 0x1001), (0x2000, 0x2001))
        } else {
            esp_entry(0x1000, 0x2000)
        };
        entry.expires_at = t(3_600_000);
        let id = table.insert(entry, t(0)).unwrap();
        assert!(table.expire_by(id, t(5_000)));
        assert!(table.expire_by(id, t(9_000)), "a later deadline is ignored");
        assert_eq!(table.get(id).unwrap().expires_at, t(5_000));
        assert!(
            matches!(table.find(0x2000), Found::Live(_)),
            "still forwarding"
        );
        assert_eq!(table.pop_expired(t(4_999)), None);
        let expired = table.pop_expired(t(5_000)).unwrap();
        assert_eq!((expired.id, expired.cause), (id, ExpiryCause::Lifetime));
        assert!(table.is_empty());
        assert!(!table.expire_by(id, t(6_000)), "gone");
        check_invariants(&table);
    }
}

#[test]
fn idle_timeout_is_pushed_out_by_traffic() {
    let config = TableConfig {
        idle_timeout: Some(Duration::from_secs(30)),
        ..Default::default()
    };
    let mut table = Table::new(config);
    let id = table.insert(esp_entry(0x1000, 0x2000), t(1_000)).unwrap();
    assert_eq!(table.next_expiry(), Some(t(31_000)));
    let Found::Live(role) = table.find(0x2000) else {
        panic!()
    };
    table.record(role.slot, Leg::SSide, 60, t(20_000));
    // The scheduled check finds traffic and moves the deadline to 20 s + 30 s.
    assert_eq!(table.pop_expired(t(31_000)), None);
    assert_eq!(table.next_expiry(), Some(t(50_000)));
    check_invariants(&table);
    assert_eq!(table.pop_expired(t(49_999)), None);
    let expired = table.pop_expired(t(50_000)).unwrap();
    assert_eq!((expired.id, expired.cause), (id, ExpiryCause::Idle));
    assert_eq!(expired.activity.to_client.packets, 1);
    assert_eq!(table.pop_expired(t(1_000_000)), None);
}

#[test]
fn removed_entries_leave_no_stale_expiry_behind() {
    let mut table = Table::new(TableConfig::default());
    let mut entry = esp_entry(0x1000, 0x2000);
    entry.expires_at = t(5_000);
    let id = table.insert(entry, t(0)).unwrap();
    table.remove(id).unwrap();
    // A new entry in the same slot with a later deadline is not expired by the old item.
    let mut later = esp_entry(0x3000, 0x4000);
    later.expires_at = t(9_000);
    let id2 = table.insert(later, t(0)).unwrap();
    assert_eq!(table.pop_expired(t(5_000)), None);
    assert!(table.get(id2).is_some());
    assert_eq!(table.pop_expired(t(9_000)).map(|e| e.id), Some(id2));
    check_invariants(&table);
}

#[test]
fn expiry_heap_is_compacted_under_churn() {
    let mut table = Table::new(TableConfig::default());
    for i in 0..10_000u32 {
        let mut entry = esp_entry(0x10_0000 + i, 0x20_0000 + i);
        entry.expires_at = t(1_000_000);
        let id = table.insert(entry, t(0)).unwrap();
        table.remove(id).unwrap();
    }
    assert!(
        table.expiry.len() <= 1024 + 1,
        "heap holds {} items",
        table.expiry.len()
    );
    check_invariants(&table);
}

#[test]
fn memory_per_slot_fits_the_budget() {
    // The slab is the bulk of an entry's memory; see BENCHMARKS.md for the measured total.
    // One cache line per leg, and a small cold record.
    assert_eq!(core::mem::size_of::<LegLine>(), 64);
    let cold = core::mem::size_of::<Option<Cold>>();
    assert_eq!(cold, 24, "cold record is {cold} bytes");
}

#[test]
fn store_round_trip_restores_entries_after_a_restart() {
    let mut old = Table::new(TableConfig::default());
    let a = old.insert(esp_entry(0x1000, 0x2000), t(0)).unwrap();
    let b = old
        .insert(bundle_entry((0x3000, 0x3001), (0x4000, 0x4001)), t(0))
        .unwrap();
    let mut new = Table::new(TableConfig::default());
    assert_eq!(new.restore_from(&old, t(5)), Ok(2));
    assert_eq!(new.get(a), old.get(a));
    assert_eq!(new.get(b), old.get(b));
    assert_eq!(new.activity(a).unwrap().last_seen, t(5));
    // Restoring twice collides on SPIs and says so.
    assert!(matches!(
        new.restore_from(&old, t(6)),
        Err(crate::relay::RestoreError::Table(TableError::SpiInUse(_)))
    ));
    check_invariants(&new);
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        c2: u32,
        s2: u32,
        bundle: bool,
        lifetime: Option<u16>,
    },
    Remove(u32),
    Move(u32, bool),
    Allocate,
    Release(u32),
    Touch(u32),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    // SPIs from a small range so that collisions and reuse happen often.
    let spi = 256u32..300;
    prop_oneof![
        4 => (spi.clone(), spi.clone(), any::<bool>(), proptest::option::of(1u16..5_000))
            .prop_map(|(c2, s2, bundle, lifetime)| Op::Insert { c2, s2, bundle, lifetime }),
        2 => spi.clone().prop_map(Op::Remove),
        1 => (spi.clone(), any::<bool>()).prop_map(|(s, v6)| Op::Move(s, v6)),
        1 => Just(Op::Allocate),
        1 => spi.clone().prop_map(Op::Release),
        2 => spi.prop_map(Op::Touch),
        2 => (0u16..3_000).prop_map(Op::Advance),
    ]
}

proptest! {
    /// Any sequence of operations keeps the index consistent with the slab, matches a simple
    /// model of which entries are live, and never hands out a taken or reserved SPI.
    #[test]
    fn operations_keep_index_and_model_consistent(ops in proptest::collection::vec(op(), 1..200),
                                                  seed in any::<u64>(),
                                                  idle in proptest::option::of(1u64..5_000)) {
        let idle_timeout = idle.map(Duration::from_millis);
        let config = TableConfig { reservation_hold: Duration::from_millis(2_000), idle_timeout };
        let mut table = Table::new(config);
        let mut model: BTreeMap<EntryId, Entry> = BTreeMap::new();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Insert { c2, s2, bundle, lifetime } => {
                    let mut entry = if bundle {
                        bundle_entry((c2, c2 + 1000), (s2 + 2000, s2 + 3000))
                    } else {
                        esp_entry(c2, s2)
                    };
                    entry.expires_at = lifetime.map_or(Timestamp::NEVER, |l| t(now + u64::from(l)));
                    let taken = entry.relay_spis().any(|(_, _, s)| {
                        model.values().any(|e| e.relay_spis().any(|(_, _, o)| o == s))
                    });
                    let result = table.insert(entry, t(now));
                    match entry.validate() {
                        Err(e) => prop_assert_eq!(result, Err(TableError::Invalid(e))),
                        Ok(_) if taken => prop_assert!(matches!(result, Err(TableError::SpiInUse(_)))),
                        Ok(_) => {
                            prop_assert_eq!(result, Ok(entry.id().unwrap()));
                            model.insert(entry.id().unwrap(), entry);
                        }
                    }
                }
                Op::Remove(s) => {
                    let id = EntryId(spi(s));
                    prop_assert_eq!(table.remove(id), model.remove(&id));
                }
                Op::Move(s, v6) => {
                    let id = EntryId(spi(s));
                    let path = if v6 {
                        LegPath {
                            relay_addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                            peer_addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10)),
                            transport: LegTransport::Ip,
                        }
                    } else {
                        client_path()
                    };
                    let result = table.update_path(id, Leg::CSide, path);
                    match model.get_mut(&id) {
                        Some(entry) => {
                            prop_assert_eq!(result, Ok(()));
                            entry.client.path = path;
                        }
                        None => prop_assert_eq!(result, Err(TableError::NotFound(id))),
                    }
                }
                Op::Allocate => {
                    let got = table.allocate_spi(&mut rng, t(now)).unwrap();
                    prop_assert!(got.get() >= 256);
                    let live = model.values().any(|e| e.relay_spis().any(|(_, _, o)| o == got));
                    prop_assert!(!live, "allocated a live SPI");
                    prop_assert!(table.is_reserved(got));
                }
                Op::Release(s) => { table.release_spi(spi(s)); }
                Op::Touch(s) => {
                    if let Found::Live(role) = table.find(s) {
                        table.record(role.slot, role.leg, 1, t(now));
                    }
                }
                Op::Advance(ms) => {
                    now += u64::from(ms);
                    while let Some(expired) = table.pop_expired(t(now)) {
                        let deadline = deadline_of(&expired.entry, &expired.activity, idle_timeout);
                        prop_assert!(deadline <= t(now), "expired before its deadline");
                        prop_assert_eq!(model.remove(&expired.id), Some(expired.entry));
                    }
                    // Nothing left in the table is past its deadline.
                    for (_, entry, activity) in table.iter() {
                        prop_assert!(deadline_of(&entry, &activity, idle_timeout) > t(now), "an expired entry survived");
                    }
                }
            }
            check_invariants(&table);
            prop_assert_eq!(table.len(), model.len());
            for (id, entry) in &model {
                prop_assert_eq!(table.get(*id), Some(*entry));
            }
        }
    }
}
