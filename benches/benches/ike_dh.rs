//! Diffie-Hellman cost per group: what one side of a main mode (or a PFS quick mode) spends
//! on its key exchange, i.e. making a private value with its public value, and agreeing on the
//! shared secret with the peer's public value.
//!
//! Run: `cargo bench -p ipsec-xlat-benches --bench ike_dh`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ipsec_xlat::ike::dh::{DhGroup, DhPrivate};
use rand::rngs::OsRng;

fn key_exchange(c: &mut Criterion) {
    let mut group_bench = c.benchmark_group("dh");
    group_bench.sample_size(20);
    for group in DhGroup::SUPPORTED {
        let peer = DhPrivate::generate(group, &mut OsRng).expect("peer key");
        let peer_public = peer.public_value();
        group_bench.bench_with_input(
            BenchmarkId::new("generate+public", group.0),
            &group,
            |b, group| {
                b.iter(|| {
                    let ours = DhPrivate::generate(*group, &mut OsRng).expect("key");
                    black_box(ours.public_value())
                })
            },
        );
        let ours = DhPrivate::generate(group, &mut OsRng).expect("key");
        group_bench.bench_with_input(
            BenchmarkId::new("agree", group.0),
            &peer_public,
            |b, peer_public| b.iter(|| black_box(ours.agree(peer_public).expect("agree"))),
        );
    }
    group_bench.finish();
}

criterion_group!(benches, key_exchange);
criterion_main!(benches);
