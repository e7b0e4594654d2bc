//! Relay datapath benches: the rewrite of a 1400-byte ESP packet against a table of 1,000,000
//! live entries, the table's memory per entry, and (with the SA code) a "terminating" relay
//! that decrypts and re-encrypts the same packets, as the prior art does.
//!
//! Run: `cargo bench -p ipsec-xlat-benches --bench relay`. Figures go to BENCHMARKS.md.
//!
//! SPI mixes: `uniform` picks each packet's entry uniformly among all 1,000,000 (every lookup
//! likely a cache miss: the worst case); `skewed` sends 90 % of packets to a hot set of 10,000
//! entries and 10 % uniformly (live relays see few busy flows among many idle SAs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use ipsec_xlat::relay::{
    Action, Arrival, Entry, Partition, Path, Relay, RelayConfig, Spi, SpiSet, Table, TableConfig,
    Timestamp, Transport, HEADROOM,
};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// Counts heap bytes and allocations, to measure the table and to prove the packet path
/// allocates nothing.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ENTRIES: usize = 1_000_000;
const PACKET: usize = 1400;
const PICKS: usize = 1 << 20;
const HOT: usize = 10_000;

const RELAY_C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const RELAY_S: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const SGW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

/// What a client packet needs to be accepted: the relay's SPI and the client's address.
#[derive(Clone, Copy)]
struct Flow {
    spi: u32,
    client: SocketAddr,
}

fn spi(rng: &mut StdRng, table: &Table) -> Spi {
    loop {
        if let Some(spi) = Spi::new(rng.next_u32()) {
            if !table.spi_taken(spi) {
                return spi;
            }
        }
    }
}

/// A table of `ENTRIES` ESP entries: clients behind NATs (UDP, varied addresses and ports) on
/// the client leg, one SGW on the gateway leg over `gateway`.
fn build(gateway: Transport) -> (Table, Vec<Flow>) {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut table = Table::with_capacity(TableConfig::default(), ENTRIES);
    let mut flows = Vec::with_capacity(ENTRIES);
    for n in 0..ENTRIES {
        let client = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, (n % 250) as u8 + 2)),
            1024 + (n / 250) as u16,
        );
        let c2 = spi(&mut rng, &table);
        let s2 = loop {
            let s = spi(&mut rng, &table);
            if s != c2 {
                break s;
            }
        };
        let entry = Entry {
            client: Partition {
                path: Path {
                    relay_addr: IpAddr::V4(RELAY_C),
                    peer_addr: client.ip(),
                    transport: Transport::Udp {
                        relay_port: 4500,
                        peer_port: client.port(),
                    },
                },
                relay_spis: SpiSet::esp(c2),
                peer_spis: SpiSet::esp(Spi::new(rng.gen_range(256..u32::MAX)).unwrap()),
            },
            gateway: Partition {
                path: Path {
                    relay_addr: IpAddr::V4(RELAY_S),
                    peer_addr: IpAddr::V4(SGW),
                    transport: gateway,
                },
                relay_spis: SpiSet::esp(s2),
                peer_spis: SpiSet::esp(Spi::new(rng.gen_range(256..u32::MAX)).unwrap()),
            },
            expires_at: Timestamp::from_millis(3_960_000),
        };
        table.insert(entry, Timestamp::from_millis(0)).unwrap();
        flows.push(Flow {
            spi: c2.get(),
            client,
        });
    }
    (table, flows)
}

/// The sequence of flows the bench sends packets of.
fn picks(flows: &[Flow], skewed: bool) -> Vec<Flow> {
    let mut rng = StdRng::seed_from_u64(0x91c5);
    (0..PICKS)
        .map(|_| {
            let n = if skewed && rng.gen_bool(0.9) {
                rng.gen_range(0..HOT)
            } else {
                rng.gen_range(0..flows.len())
            };
            flows[n]
        })
        .collect()
}

/// A 1400-byte ESP packet (UDP payload) at `buf[HEADROOM..]`.
fn packet_buffer() -> Vec<u8> {
    let mut buf = vec![0u8; HEADROOM + PACKET];
    for (i, b) in buf[HEADROOM + 8..].iter_mut().enumerate() {
        *b = i as u8;
    }
    buf
}

fn arrival(flow: &Flow) -> Arrival {
    Arrival::Udp {
        src: flow.client,
        dst: SocketAddr::new(IpAddr::V4(RELAY_C), 4500),
    }
}

fn bench_rewrite(c: &mut Criterion) {
    for (gateway, name) in [
        (
            Transport::Udp {
                relay_port: 4500,
                peer_port: 4500,
            },
            "udp_to_udp",
        ),
        (Transport::Ip, "udp_to_ipv4"),
    ] {
        let (table, flows) = build(gateway);
        let mut relay = Relay::new(table, RelayConfig::default());
        let mut group = c.benchmark_group(format!("relay_rewrite_1M/{name}"));
        group.throughput(Throughput::Elements(1));
        for skewed in [false, true] {
            let picks = picks(&flows, skewed);
            let mix = if skewed { "skewed" } else { "uniform" };
            let mut buf = packet_buffer();
            let mut i = 0usize;
            group.bench_function(format!("in_place/{mix}"), |b| {
                b.iter(|| {
                    let flow = &picks[i & (PICKS - 1)];
                    i = i.wrapping_add(1);
                    buf[HEADROOM..HEADROOM + 4].copy_from_slice(&flow.spi.to_be_bytes());
                    let action = relay.rewrite_in_place(
                        Timestamp::from_millis(1),
                        arrival(flow),
                        &mut buf,
                        HEADROOM,
                    );
                    assert!(matches!(action, Action::Forward(_)));
                    black_box(action);
                })
            });
            let mut input = packet_buffer().split_off(HEADROOM);
            let mut out = vec![0u8; HEADROOM + PACKET];
            group.bench_function(format!("copy/{mix}"), |b| {
                b.iter(|| {
                    let flow = &picks[i & (PICKS - 1)];
                    i = i.wrapping_add(1);
                    input[..4].copy_from_slice(&flow.spi.to_be_bytes());
                    let action =
                        relay.rewrite(Timestamp::from_millis(1), arrival(flow), &input, &mut out);
                    assert!(matches!(action, Action::Forward(_)));
                    black_box(action);
                })
            });
        }
        group.finish();
        // The packet path allocates nothing: count allocations over many rewrites.
        let picks = picks(&flows, false);
        let mut buf = packet_buffer();
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for flow in picks.iter().take(100_000) {
            buf[HEADROOM..HEADROOM + 4].copy_from_slice(&flow.spi.to_be_bytes());
            black_box(relay.rewrite_in_place(
                Timestamp::from_millis(2),
                arrival(flow),
                &mut buf,
                HEADROOM,
            ));
        }
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        println!("relay_rewrite_1M/{name}: allocations during 100000 rewrites: {allocations}");
        assert_eq!(allocations, 0);
    }
}

/// Memory of a 1,000,000-entry table: by the table's own account (capacities) and by the
/// allocator (bytes live after building minus before).
fn report_memory() {
    let before = ALLOCATED.load(Ordering::Relaxed);
    let (table, flows) = build(Transport::Ip);
    let flows_bytes = flows.capacity() * std::mem::size_of::<Flow>();
    let measured = ALLOCATED.load(Ordering::Relaxed) - before - flows_bytes;
    let usage = table.memory_usage();
    println!(
        "relay_table_memory: {} entries, allocator {} B ({:.1} B/entry), table's account {} B ({:.1} B/entry): \
         slots {} index {} expiry {} free {} reservations {}",
        table.len(),
        measured,
        measured as f64 / ENTRIES as f64,
        usage.total(),
        usage.total() as f64 / ENTRIES as f64,
        usage.slots,
        usage.index,
        usage.expiry,
        usage.free_list,
        usage.reservations,
    );
    drop((table, flows));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench_rewrite
}

fn main() {
    report_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
