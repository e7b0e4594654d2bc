//! Table memory per entry at a million entries, by the table's own account of its
//! allocations (capacities times element sizes, the index's bucket array). The
//! relay bench cross-checks this account against a counting allocator; they agree to the byte.
#![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]

use std::net::{IpAddr, Ipv4Addr};

use ipsec_xlat::relay::{Entry, LegPath, LegTransport, Partition, Spi, SpiSet, Table, TableConfig};
use ipsec_xlat::Timestamp;

const ENTRIES: u32 = 1_000_000;

fn entry(n: u32) -> Entry {
    let spi = |v: u32| Spi::new(v).unwrap();
    let client = IpAddr::V4(Ipv4Addr::new(198, 51, 100, (n % 250) as u8 + 2));
    Entry {
        client: Partition {
            path: LegPath {
                relay_addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
                peer_addr: client,
                transport: LegTransport::Udp {
                    relay_port: 4500,
                    peer_port: 1024 + (n / 250) as u16,
                },
            },
            relay_spis: SpiSet::esp(spi(0x1000_0000 + n)),
            peer_spis: SpiSet::esp(spi(0x3000_0000 + n)),
        },
        gateway: Partition {
            path: LegPath {
                relay_addr: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
                peer_addr: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)),
                transport: LegTransport::Udp {
                    relay_port: 4500,
                    peer_port: 4500,
                },
            },
            relay_spis: SpiSet::esp(spi(0x2000_0000 + n)),
            peer_spis: SpiSet::esp(spi(0x4000_0000 + n)),
        },
        expires_at: Timestamp::from_millis(3_960_000),
    }
}

#[test]
fn a_million_entries_take_at_most_256_bytes_each() {
    let mut table = Table::with_capacity(TableConfig::default(), ENTRIES as usize);
    for n in 0..ENTRIES {
        table.insert(entry(n), Timestamp::from_millis(0)).unwrap();
    }
    assert_eq!(table.len(), ENTRIES as usize);
    let usage = table.memory_usage();
    let per_entry = usage.total() as f64 / f64::from(ENTRIES);
    assert!(
        per_entry <= 256.0,
        "{per_entry:.1} bytes per entry: {usage:?}"
    );
    // The parts: two 64-byte lines (one per leg) and a 24-byte cold record per slot, the
    // index (two SPIs per ESP entry in 2^22 eight-byte buckets), one expiry item. IPv4 ESP
    // entries have a compact form: nothing in the side slab.
    assert_eq!(usage.slots, (2 * 64 + 24) * ENTRIES as usize);
    assert_eq!(usage.index, 8 << 22);
    assert_eq!(usage.expiry, 16 * ENTRIES as usize);
}
