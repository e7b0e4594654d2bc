//! Client/SGW SA processing of 1400-byte packets: seal and open with ESP AES-GCM-16 (target:
//! at least 1 GB/s per core) and ESP AES-CBC + HMAC-SHA-256-128, plus AH and the client's ICV
//! translation for comparison.
//!
//! Run: `cargo bench -p ipsec-xlat-benches --bench sa` (bench profile = release + debug info).
//! The `aes`/`polyval`/`sha2` crates pick AES-NI, CLMUL and SHA-NI at run time; no RUSTFLAGS
//! needed (see BENCHMARKS.md for figures with and without `-C target-cpu=native`).

use ipsec_xlat::Timestamp;
use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ipsec_xlat::sa::{
    AhConfig, ClientInboundSa, ClientOutboundSa, EspConfig, EspSuite, InboundSa, Integrity,
    Lifetime, Mode, OutboundSa, SaConfig, SecretKey, SideValues, Translation, TunnelHeader,
};

const INNER_LEN: usize = 1400;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// A 1400-byte IPv4/UDP inner packet.
fn inner() -> Vec<u8> {
    let mut p = vec![0x5a; INNER_LEN];
    let len = INNER_LEN as u16;
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

fn config(esp: Option<(EspSuite, usize)>, ah: Option<Integrity>) -> SaConfig {
    SaConfig {
        mode: Mode::Tunnel(
            TunnelHeader::between(ip("203.0.113.1"), ip("203.0.113.2")).expect("header"),
        ),
        esp: esp.map(|(suite, klen)| EspConfig {
            spi: 0x5000_0001,
            suite,
            encryption_key: SecretKey::new(&vec![0x11; klen]),
            integrity_key: suite.integrity.map_or_else(SecretKey::default, |i| {
                SecretKey::new(&vec![0x22; i.key_len()])
            }),
            esn: true,
        }),
        ah: ah.map(|integrity| AhConfig {
            spi: 0x5000_0002,
            integrity,
            key: SecretKey::new(&vec![0x33; integrity.key_len()]),
            esn: true,
        }),
        udp_encap: None,
        replay_window: 1024,
        lifetime: Lifetime::UNLIMITED,
    }
}

fn cases() -> Vec<(&'static str, SaConfig)> {
    vec![
        (
            "esp-aes128gcm16",
            config(Some((EspSuite::AES_GCM_16, 20)), None),
        ),
        (
            "esp-aes256gcm16",
            config(Some((EspSuite::AES_GCM_16, 36)), None),
        ),
        (
            "esp-aes128cbc-hmacsha256",
            config(Some((EspSuite::AES_CBC_HMAC_SHA256, 16)), None),
        ),
        (
            "esp-aes256cbc-hmacsha256",
            config(Some((EspSuite::AES_CBC_HMAC_SHA256, 32)), None),
        ),
        (
            "esp-aes128cbc-hmacsha1",
            config(Some((EspSuite::AES_CBC_HMAC_SHA1, 16)), None),
        ),
        (
            "ah-hmacsha256",
            config(None, Some(Integrity::HmacSha256_128)),
        ),
    ]
}

fn seal_open(c: &mut Criterion) {
    let packet = inner();
    let now = Timestamp::ZERO;
    let mut g = c.benchmark_group("sa-1400B");
    g.throughput(Throughput::Bytes(INNER_LEN as u64));
    for (name, cfg) in cases() {
        let mut tx = OutboundSa::new(&cfg, now).expect("sa");
        let iv = vec![0x77; tx.iv_len()];
        let mut out = vec![0u8; 2048];
        g.bench_function(format!("{name}/seal"), |b| {
            b.iter(|| {
                tx.seal(black_box(&packet), &iv, now, &mut out)
                    .expect("seal")
                    .len
            })
        });

        let mut tx = OutboundSa::new(&cfg, now).expect("sa");
        let mut rx = InboundSa::new(&cfg, now).expect("sa");
        g.bench_function(format!("{name}/open"), |b| {
            b.iter_batched_ref(
                // Untimed: a fresh packet with the next sequence number, so the replay window
                // accepts every one.
                || {
                    let mut buf = vec![0u8; 2048];
                    let s = tx.seal(&packet, &iv, now, &mut buf).expect("seal");
                    buf.truncate(s.len);
                    buf
                },
                |p| rx.open(p, now).expect("open").packet.len(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// The client's ICV translation on top of seal/open (ESP AES-GCM-16, same IP version).
fn client_translation(c: &mut Criterion) {
    let packet = inner();
    let now = Timestamp::ZERO;
    let up = config(Some((EspSuite::AES_GCM_16, 20)), None);
    let translation = Translation {
        s_side: SideValues {
            src: ip("203.0.113.1"),
            dst: ip("203.0.113.2"),
            esp_spi: Some(0x5000_0001),
            ah_spi: None,
            udp_encap: None,
        },
        c_side: SideValues {
            src: ip("198.51.100.10"),
            dst: ip("198.51.100.1"),
            esp_spi: Some(0xc000_0001),
            ah_spi: None,
            udp_encap: None,
        },
    };
    let mut g = c.benchmark_group("client-1400B");
    g.throughput(Throughput::Bytes(INNER_LEN as u64));
    let mut client =
        ClientOutboundSa::new(OutboundSa::new(&up, now).expect("sa"), translation).expect("pair");
    let mut out = vec![0u8; 2048];
    g.bench_function("esp-aes128gcm16/seal+pre-translate", |b| {
        b.iter(|| {
            client
                .seal(black_box(&packet), &[7; 8], now, &mut out)
                .expect("seal")
                .len
        })
    });
    // Inbound: what the relay delivers to the client is the c-side form.
    let mut sgw = OutboundSa::new(&up, now).expect("sa");
    let mut client_in =
        ClientInboundSa::new(InboundSa::new(&up, now).expect("sa"), translation).expect("pair");
    g.bench_function("esp-aes128gcm16/post-translate+open", |b| {
        b.iter_batched_ref(
            || {
                let mut buf = vec![0u8; 2048];
                let s = sgw.seal(&packet, &[7; 8], now, &mut buf).expect("seal");
                let len = translation.to_c_side(&mut buf, s.len).expect("to c-side");
                buf.truncate(len);
                buf
            },
            |p| client_in.open(p, now).expect("open").packet.len(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The RustCrypto AEAD alone on the same 1400 bytes (plus the 4 bytes of ESP trailer): the
/// floor under `esp-aes128gcm16/seal`, so the cost of our ESP layer can be read off even on a
/// loaded machine.
fn baseline(c: &mut Criterion) {
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    let mut g = c.benchmark_group("baseline-1400B");
    g.throughput(Throughput::Bytes(INNER_LEN as u64));
    let aead = aes_gcm::Aes128Gcm::new_from_slice(&[0x11; 16]).expect("key");
    let nonce = aes_gcm::Nonce::from([7u8; 12]);
    let mut buf = vec![0x5a; INNER_LEN + 4];
    g.bench_function("aes-gcm-crate-128/encrypt_in_place", |b| {
        b.iter(|| {
            aead.encrypt_in_place_detached(&nonce, &[1; 12], black_box(&mut buf))
                .expect("encrypt")
        })
    });
    g.finish();
}

criterion_group!(benches, baseline, seal_open, client_translation);
criterion_main!(benches);
