//! Relay datapath benches: the rewrite of 1400-byte ESP packets against 1,000,000 live
//! entries, the table's memory per entry, and a "terminating" relay (decrypt with one SA,
//! re-encrypt with another, as the prior art does) on the same packets.
//!
//! Run: `cargo bench -p ipsec-xlat-benches --bench relay`. Figures go to BENCHMARKS.md.
//!
//! Every iteration handles 32 packets (one `recvmmsg` batch), so time per packet is the
//! reported time / 32, and the throughput line counts packets.
//!
//! Clock: per-thread CPU time by default (`CLOCK_THREAD_CPUTIME_ID`), because the machines
//! this runs on are shared and wall time then mostly measures the other tenants;
//! `RELAY_BENCH_CLOCK=wall` measures wall time instead.
//!
//! SPI mixes: `uniform` picks each packet's entry uniformly (at 1,000,000 entries every lookup
//! likely misses every cache: the worst case); `zipf` picks the entry of rank k with
//! probability proportional to 1/k (Zipf, s = 1; ranks shuffled over the table so that hot
//! entries are scattered through memory): a few busy SAs and a long tail of quiet ones, the
//! "realistic random SPI mix"; `skewed` sends 90 % of packets to a hot set of 10,000 entries
//! and 10 % uniformly. `1k` is a table of 1,000 entries, all in cache: the cost of the work
//! itself; `100k` sits between (its index fits in the last-level cache, its slots do not).
//!
//! `RELAY_BENCH_HUGEPAGES=1` backs allocations of 4 MiB and more (the table) with transparent
//! huge pages through `madvise`, as a relay process can do for its table: with 4 KiB pages
//! nearly every lookup at 1,000,000 entries also misses the TLB.
//!
//! Paths: `udp_to_udp` and `udp_to_ipv4` send client packets (UDP) toward the SGW over UDP or
//! raw IPv4; `ipv4_to_udp` sends the SGW's packets, arriving over raw IPv4 as whole IPv4
//! packets, toward the client (UDP). `RELAY_BENCH_QUICK=1` benches only `udp_to_udp` (a third
//! of the run time).
//!
//! With glibc 2.35 or later, `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` puts every large
//! allocation in transparent huge pages without `RELAY_BENCH_HUGEPAGES` (what the README
//! recommends for a relay process).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, Criterion, Throughput};
use ipsec_xlat::relay::{
    Action, Arrival, BatchPacket, Datapath, DatapathConfig, Entry, LegPath, LegTransport,
    Partition, Spi, SpiSet, Table, TableConfig, Verdict, HEADROOM,
};
use ipsec_xlat::sa::{
    EspConfig, EspSuite, InboundSa, Mode, OutboundSa, SaConfig, SecretKey, TunnelHeader, UdpEncap,
};
use ipsec_xlat::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

// ---------------------------------------------------------------------------------------
// Counting allocator: the table's memory, and proof that the packet path allocates nothing.

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
/// Set from `RELAY_BENCH_HUGEPAGES` before anything large is allocated.
static HUGEPAGES: AtomicBool = AtomicBool::new(false);

/// Allocations from this size on are aligned to 2 MiB and advised to use transparent huge
/// pages when `RELAY_BENCH_HUGEPAGES=1` (what a relay process would do for its table; the core
/// cannot, having no system calls).
const HUGE_FROM: usize = 4 << 20;
const HUGE_ALIGN: usize = 2 << 20;

fn huge(layout: Layout) -> Option<Layout> {
    (HUGEPAGES.load(Ordering::Relaxed) && layout.size() >= HUGE_FROM)
        .then(|| Layout::from_size_align(layout.size(), HUGE_ALIGN.max(layout.align())).ok())
        .flatten()
}

// SAFETY: every call is forwarded to the system allocator with the same or a stricter
// alignment (the same rule on alloc and dealloc, decided by the size); madvise only advises.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        match huge(layout) {
            Some(big) => {
                let ptr = System.alloc(big);
                if !ptr.is_null() {
                    libc::madvise(ptr.cast(), big.size(), libc::MADV_HUGEPAGE);
                }
                ptr
            }
            None => System.alloc(layout),
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, huge(layout).unwrap_or(layout))
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        if huge(layout).is_some() || huge(new_layout).is_some() {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            return new;
        }
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------------
// Clock: thread CPU time or wall time, chosen at run time.

struct Clock {
    cpu: bool,
}

static WALL: WallTime = WallTime;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for Clock {
    type Intermediate = (Instant, u64);
    type Value = u64;

    fn start(&self) -> Self::Intermediate {
        (Instant::now(), if self.cpu { thread_cpu_ns() } else { 0 })
    }
    fn end(&self, (wall, cpu): Self::Intermediate) -> u64 {
        if self.cpu {
            thread_cpu_ns() - cpu
        } else {
            wall.elapsed().as_nanos() as u64
        }
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

// ---------------------------------------------------------------------------------------
// Tables and packets

const PACKET: usize = 1400;
const BATCH: usize = 32;
const PICKS: usize = 1 << 20;
const HOT: usize = 10_000;

const RELAY_C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const RELAY_S: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const SGW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

/// What a packet needs to be accepted: the relay's client-leg SPI and the client's address
/// (client to SGW), or the relay's gateway-leg SPI (SGW to client).
#[derive(Clone, Copy)]
struct Flow {
    spi: u32,
    client: SocketAddr,
    gateway_spi: u32,
}

fn fresh_spi(rng: &mut StdRng, table: &Table) -> Spi {
    loop {
        if let Some(spi) = Spi::new(rng.next_u32()) {
            if !table.spi_taken(spi) {
                return spi;
            }
        }
    }
}

/// A table of `entries` ESP entries: clients behind NATs (UDP, varied addresses and ports) on
/// the client leg, one SGW on the gateway leg over `gateway`. SPIs at random, as the relay
/// allocates them.
fn build(entries: usize, gateway: LegTransport) -> (Table, Vec<Flow>) {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut table = Table::with_capacity(TableConfig::default(), entries);
    let mut flows = Vec::with_capacity(entries);
    for n in 0..entries {
        let client = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, (n % 250) as u8 + 2)),
            1024 + (n / 250) as u16,
        );
        let c2 = fresh_spi(&mut rng, &table);
        let s2 = loop {
            let s = fresh_spi(&mut rng, &table);
            if s != c2 {
                break s;
            }
        };
        let entry = Entry {
            client: Partition {
                path: LegPath {
                    relay_addr: IpAddr::V4(RELAY_C),
                    peer_addr: client.ip(),
                    transport: LegTransport::Udp {
                        relay_port: 4500,
                        peer_port: client.port(),
                    },
                },
                relay_spis: SpiSet::esp(c2),
                peer_spis: SpiSet::esp(Spi::new(rng.gen_range(256..u32::MAX)).unwrap()),
            },
            gateway: Partition {
                path: LegPath {
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
            gateway_spi: s2.get(),
        });
    }
    (table, flows)
}

/// How the bench chooses the entry of each packet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mix {
    Uniform,
    Zipf,
    Skewed,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::Uniform => "uniform",
            Mix::Zipf => "zipf",
            Mix::Skewed => "skewed",
        }
    }
}

/// The sequence of flows the bench sends packets of.
fn picks(flows: &[Flow], mix: Mix) -> Vec<Flow> {
    let mut rng = StdRng::seed_from_u64(0x91c5);
    let hot = HOT.min(flows.len());
    match mix {
        Mix::Uniform | Mix::Skewed => (0..PICKS)
            .map(|_| {
                let n = if mix == Mix::Skewed && rng.gen_bool(0.9) {
                    rng.gen_range(0..hot)
                } else {
                    rng.gen_range(0..flows.len())
                };
                flows[n]
            })
            .collect(),
        Mix::Zipf => {
            // Cumulative weights 1/k over the ranks, and a random rank -> entry mapping.
            let mut cdf = Vec::with_capacity(flows.len());
            let mut sum = 0.0f64;
            for k in 1..=flows.len() {
                sum += 1.0 / k as f64;
                cdf.push(sum);
            }
            let mut order: Vec<usize> = (0..flows.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.gen_range(0..=i));
            }
            (0..PICKS)
                .map(|_| {
                    let x = rng.gen::<f64>() * sum;
                    let rank = cdf.partition_point(|&c| c < x).min(flows.len() - 1);
                    flows[order[rank]]
                })
                .collect()
        }
    }
}

/// `BATCH` buffers, each a 1400-byte ESP packet (a UDP payload) at `[HEADROOM..]`.
fn buffers() -> Vec<Vec<u8>> {
    (0..BATCH)
        .map(|_| {
            let mut buf = vec![0u8; HEADROOM + PACKET];
            for (i, b) in buf[HEADROOM + 8..].iter_mut().enumerate() {
                *b = i as u8;
            }
            buf
        })
        .collect()
}

fn arrival(flow: &Flow) -> Arrival {
    Arrival::Udp {
        src: flow.client,
        dst: SocketAddr::new(IpAddr::V4(RELAY_C), 4500),
    }
}

/// Which way the packets go, and how they arrive.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// From the client (UDP) toward the SGW.
    FromClient,
    /// From the SGW over raw IPv4 (the whole IPv4 packet) toward the client (UDP).
    FromGatewayIp,
}

impl Direction {
    /// Where the SPI is in a received buffer.
    fn spi_at(self) -> usize {
        match self {
            Direction::FromClient => HEADROOM,
            Direction::FromGatewayIp => HEADROOM + 20,
        }
    }

    fn arrival(self, flow: &Flow) -> Arrival {
        match self {
            Direction::FromClient => arrival(flow),
            Direction::FromGatewayIp => Arrival::Ip,
        }
    }

    fn spi(self, flow: &Flow) -> u32 {
        match self {
            Direction::FromClient => flow.spi,
            Direction::FromGatewayIp => flow.gateway_spi,
        }
    }

    /// `BATCH` received buffers for this direction.
    fn buffers(self) -> Vec<Vec<u8>> {
        let mut bufs = buffers();
        if self == Direction::FromGatewayIp {
            // An IPv4 header SGW -> relay, protocol 50, in front of the ESP packet.
            let total = (PACKET as u16).to_be_bytes();
            let (s, d) = (SGW.octets(), RELAY_S.octets());
            let header = [
                0x45, 0, total[0], total[1], 0, 1, 0x40, 0, 64, 50, 0, 0, s[0], s[1], s[2], s[3],
                d[0], d[1], d[2], d[3],
            ];
            for buf in bufs.iter_mut() {
                buf.truncate(HEADROOM + PACKET);
                buf[HEADROOM..HEADROOM + 20].copy_from_slice(&header);
            }
        }
        bufs
    }
}

/// Benches one table: single-packet and batched rewrites, for each SPI mix.
fn bench_table(c: &mut Criterion<Clock>, label: &str, entries: usize, mixes: &[Mix]) {
    let quick = std::env::var_os("RELAY_BENCH_QUICK").is_some();
    for (gateway, path, direction) in [
        (
            LegTransport::Udp {
                relay_port: 4500,
                peer_port: 4500,
            },
            "udp_to_udp",
            Direction::FromClient,
        ),
        (LegTransport::Ip, "udp_to_ipv4", Direction::FromClient),
        (LegTransport::Ip, "ipv4_to_udp", Direction::FromGatewayIp),
    ] {
        if quick && gateway == LegTransport::Ip {
            continue;
        }
        let (table, flows) = build(entries, gateway);
        let mut relay = Datapath::new(table, DatapathConfig::default());
        let mut group = c.benchmark_group(format!("relay_rewrite_1400B/{label}/{path}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        let at = direction.spi_at();
        for &mix in mixes {
            let picks = picks(&flows, mix);
            let mix = mix.name();
            let mut bufs = direction.buffers();
            let mut i = 0usize;
            group.bench_function(format!("single/{mix}"), |b| {
                b.iter(|| {
                    for buf in bufs.iter_mut() {
                        let flow = &picks[i & (PICKS - 1)];
                        i = i.wrapping_add(1);
                        buf[at..at + 4].copy_from_slice(&direction.spi(flow).to_be_bytes());
                        let action = relay.rewrite_in_place(
                            Timestamp::from_millis(1),
                            direction.arrival(flow),
                            buf,
                            HEADROOM,
                        );
                        debug_assert!(matches!(action, Action::Forward(_)));
                        black_box(action);
                    }
                })
            });
            // The batch array lives across iterations, as an I/O shell's would; each iteration
            // refills it with the next packets.
            let mut batch: Vec<BatchPacket<'_>> = bufs
                .iter_mut()
                .map(|buf| BatchPacket::new(direction.arrival(&picks[0]), buf, HEADROOM))
                .collect();
            group.bench_function(format!("batch32/{mix}"), |b| {
                b.iter(|| {
                    for packet in batch.iter_mut() {
                        let flow = &picks[i & (PICKS - 1)];
                        i = i.wrapping_add(1);
                        packet.buf[at..at + 4].copy_from_slice(&direction.spi(flow).to_be_bytes());
                        packet.arrival = direction.arrival(flow);
                        packet.verdict = Verdict::Pending;
                    }
                    relay.rewrite_batch(Timestamp::from_millis(1), &mut batch);
                    debug_assert!(matches!(batch[0].verdict, Verdict::Forward { .. }));
                    black_box(&batch);
                })
            });
        }
        group.finish();
        // Every benched packet was forwarded, none dropped (a drop is cheaper: it would flatter
        // the figures).
        assert_eq!(relay.counters().dropped_total(), 0, "{label}/{path}");
        assert_no_allocation(&mut relay, &flows);
    }
}

/// The packet path allocates nothing: count allocations over many rewrites, single and
/// batched (the batch itself on the stack).
fn assert_no_allocation(relay: &mut Datapath, flows: &[Flow]) {
    let picks = picks(flows, Mix::Uniform);
    let mut bufs = buffers();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for chunk in picks[..100_000].chunks(BATCH) {
        for (flow, buf) in chunk.iter().zip(bufs.iter_mut()) {
            buf[HEADROOM..HEADROOM + 4].copy_from_slice(&flow.spi.to_be_bytes());
            black_box(relay.rewrite_in_place(
                Timestamp::from_millis(2),
                arrival(flow),
                buf,
                HEADROOM,
            ));
        }
    }
    let between = ALLOCATIONS.load(Ordering::Relaxed);
    for chunk in picks[100_000..200_000].chunks(BATCH) {
        let mut batch: [Option<BatchPacket<'_>>; BATCH] = Default::default();
        for ((slot, flow), buf) in batch.iter_mut().zip(chunk).zip(bufs.iter_mut()) {
            buf[HEADROOM..HEADROOM + 4].copy_from_slice(&flow.spi.to_be_bytes());
            *slot = Some(BatchPacket::new(arrival(flow), buf, HEADROOM));
        }
        let mut batch = batch.map(Option::unwrap);
        relay.rewrite_batch(Timestamp::from_millis(2), &mut batch);
        black_box(&batch);
    }
    let (single, batched) = (
        between - before,
        ALLOCATIONS.load(Ordering::Relaxed) - between,
    );
    println!(
        "allocations during 100000 single and 100000 batched rewrites: {single} and {batched}"
    );
    assert_eq!((single, batched), (0, 0));
}

// ---------------------------------------------------------------------------------------
// The terminating relay: open with the client's SA, seal again with the SGW's.

fn esp_config(suite: EspSuite, enc_len: usize, spi: u32, src: Ipv4Addr, dst: Ipv4Addr) -> SaConfig {
    let mut config = SaConfig::esp(
        Mode::Tunnel(TunnelHeader::between(IpAddr::V4(src), IpAddr::V4(dst)).unwrap()),
        EspConfig {
            spi,
            suite,
            encryption_key: SecretKey::new(&vec![0x42; enc_len]),
            integrity_key: suite.integrity.map_or_else(SecretKey::default, |i| {
                SecretKey::new(&vec![0x17; i.key_len()])
            }),
            esn: false,
        },
    );
    config.udp_encap = Some(UdpEncap::NAT_T);
    config
}

fn inner_packet() -> Vec<u8> {
    // An IPv4 packet 10.8.0.1 -> 10.9.0.5 sized so that the sealed ESP packet is ~1400 bytes.
    let len = PACKET - 60;
    let mut p = vec![0xa5u8; len];
    p[..20].copy_from_slice(&[
        0x45,
        0,
        (len >> 8) as u8,
        len as u8,
        0,
        1,
        0x40,
        0,
        64,
        17,
        0,
        0,
        10,
        8,
        0,
        1,
        10,
        9,
        0,
        5,
    ]);
    p
}

fn bench_terminating(c: &mut Criterion<Clock>) {
    let mut group = c.benchmark_group("relay_terminating_1400B");
    group.throughput(Throughput::Elements(BATCH as u64));
    let now = Timestamp::ZERO;
    for (name, suite, enc_len) in [
        ("aes128gcm16", EspSuite::AES_GCM_16, 20),
        ("aes128cbc_sha256", EspSuite::AES_CBC_HMAC_SHA256, 16),
    ] {
        // Client -> relay on the client leg; relay -> SGW on the gateway leg.
        let client_leg = esp_config(
            suite,
            enc_len,
            0xc2c2_0002,
            Ipv4Addr::new(198, 51, 100, 10),
            RELAY_C,
        );
        let gateway_leg = esp_config(suite, enc_len, 0x5353_0003, RELAY_S, SGW);
        let mut client = OutboundSa::new(&client_leg, now).unwrap();
        let mut relay_in = InboundSa::new(&client_leg, now).unwrap();
        let mut relay_out = OutboundSa::new(&gateway_leg, now).unwrap();
        let inner = inner_packet();
        let iv = [0x11u8; 16];
        let mut plain = vec![0u8; 2048];
        let mut out = vec![0u8; 2048];
        let mut sealed_len = 0;
        group.bench_function(format!("{name}/open_then_seal"), |b| {
            b.iter_batched_ref(
                || {
                    // Fresh packets (new sequence numbers) from the client; not timed.
                    (0..BATCH)
                        .map(|_| {
                            let mut p = vec![0u8; 2048];
                            let n = client
                                .seal(&inner, &iv[..client.iv_len()], now, &mut p)
                                .unwrap()
                                .len;
                            p.truncate(n);
                            p
                        })
                        .collect::<Vec<_>>()
                },
                |packets| {
                    for packet in packets.iter_mut() {
                        sealed_len = packet.len();
                        let opened = relay_in.open(packet, now).unwrap();
                        let n = opened.packet.len();
                        plain[..n].copy_from_slice(opened.packet);
                        let sealed = relay_out
                            .seal(&plain[..n], &iv[..relay_out.iv_len()], now, &mut out)
                            .unwrap();
                        black_box(sealed);
                    }
                },
                BatchSize::SmallInput,
            )
        });
        if sealed_len > 0 {
            println!("relay_terminating_1400B/{name}: sealed client-leg packet {sealed_len} bytes");
        }
    }
    group.finish();
}

/// Memory of a 1,000,000-entry table: by the table's own account (capacities) and by the
/// allocator (bytes live after building, minus the bench's own list of flows).
fn report_memory() {
    let before = ALLOCATED.load(Ordering::Relaxed);
    let (table, flows) = build(1_000_000, LegTransport::Ip);
    let flows_bytes = flows.capacity() * std::mem::size_of::<Flow>();
    let measured = ALLOCATED.load(Ordering::Relaxed) - before - flows_bytes;
    let usage = table.memory_usage();
    println!(
        "relay_table_memory: {} entries: allocator {} B = {:.1} B/entry; table's account {} B = {:.1} B/entry \
         (slots {}, index {}, expiry {}, free list {}, reservations {})",
        table.len(),
        measured,
        measured as f64 / table.len() as f64,
        usage.total(),
        usage.total() as f64 / table.len() as f64,
        usage.slots,
        usage.index,
        usage.expiry,
        usage.free_list,
        usage.reservations,
    );
}

fn main() {
    let cpu = std::env::var("RELAY_BENCH_CLOCK").map_or(true, |v| v != "wall");
    let hugepages = std::env::var("RELAY_BENCH_HUGEPAGES").is_ok_and(|v| v == "1");
    HUGEPAGES.store(hugepages, Ordering::Relaxed);
    println!(
        "huge pages: {}",
        if hugepages {
            "tables advised to use transparent huge pages (MADV_HUGEPAGE)"
        } else {
            "not requested (4 KiB pages unless THP is `always`)"
        }
    );
    println!(
        "clock: {}",
        if cpu { "thread CPU time" } else { "wall time" }
    );
    report_memory();
    let mut c = Criterion::default()
        .with_measurement(Clock { cpu })
        .measurement_time(Duration::from_secs(4))
        .sample_size(40)
        .configure_from_args();
    bench_table(&mut c, "1k", 1_000, &[Mix::Uniform]);
    bench_table(&mut c, "100k", 100_000, &[Mix::Uniform, Mix::Zipf]);
    bench_table(
        &mut c,
        "1M",
        1_000_000,
        &[Mix::Uniform, Mix::Zipf, Mix::Skewed],
    );
    bench_terminating(&mut c);
    c.final_summary();
}
