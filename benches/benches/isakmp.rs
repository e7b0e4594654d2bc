//! ISAKMP benches: walking the payload chain of a ~450-byte main-mode message captured from
//! strongSwan (target < 300 ns for the walk), parsing every payload into its typed view, and
//! splitting a datagram into message and tail.
//!
//! Run: `cargo bench -p ipsec-xlat-benches --bench isakmp`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ipsec_xlat::wire::isakmp::{Cookie, ExchangeType, Message, MessageBuilder, Payload};
use ipsec_xlat::wire::tail::{self, TailType};

/// Main mode message 4 of tests/data/captures/rsa-nonat (client side, frame 6), 447 bytes:
/// KE (MODP 2048), NONCE, CERTREQ, NAT-D, NAT-D.
const MM4_RSA: &[&str] = &[
    "3adcb03d33d8f49a935e6d7573fa348f0410020000000000000001bf0a000104da125aff9ad7cd677927ba2e86ed0349",
    "a7803775e52fad8854d28b45b773a35b62d28e3ed189ca0e184ad9a253e7235900655d6ea342610606037bfe4ee9a5b8",
    "32b257e1a3881b673697404a31e6c421da599055c97ce928d3d4b5e1c0bc6bc0e0740bf6340de3b2b5d2ec4f38d2d8e0",
    "55d36ddc71ff198796c74a4bc839be955f691c16eceb93f731d66361f9da183243d721301d19b96f94c0b46d180295b3",
    "5da97a2904654c9f5aa7b39c0191c34759ab3d76aca605a8070a5dd98590a4474da447c1bba283be5a3d3a2ae0da7540",
    "0641c2c154e0e76f71f1393b7f754fa258f8cb3a7413b22a9d6765f7fb108c044525f223ced131e3c8545a08c0654f04",
    "07000024c9944d140781a4133a1b327d4de5a5f1a697bc2fdf8c525eed29a6a00f1bd6c11400003304302c310b300906",
    "0355040613025a5a310c300a060355040a13034c6162310f300d060355040313064c616220434114000024d9eef9d087",
    "f502f5844a9526ac2d2e0f0527f55d8787c4892177d488113590dc00000024566b8c9a7957e031030c4eed5e7a0c1702",
    "120b55125b18bc59f38521ccacaaf1",
];

/// Main mode message 1 of tests/data/captures/psk-nat (client side, frame 3), 180 bytes:
/// SA with one proposal, one transform and seven attributes, then five VIDs.
const MM1_PSK: &[&str] = &[
    "e91aec332e556a2f00000000000000000110020000000000000000b40d00003800000001000000010000002c01010001",
    "000000240101000080010007800e0080800200048004000e80030001800b0001800c3de00d00000c09002689dfd6b712",
    "0d000014afcad71368a1f1c96b8696fc775701000d0000184048b7d56ebce88525e7de7f00d6c2d3800000000d000014",
    "4a131c81070358455c5728f20e95452f0000001490cb80913ebb696e086381b5ec427b1f",
];

fn decode(lines: &[&str]) -> Vec<u8> {
    hex::decode(lines.concat()).expect("hex")
}

/// Walks the generic chain: header checks plus every payload header and length.
fn walk(datagram: &[u8]) -> usize {
    let (msg, _) = Message::parse(datagram).expect("message");
    let mut total = 0;
    for p in msg.payloads().expect("plaintext") {
        total += p.expect("payload").length();
    }
    total
}

/// Walks the chain and parses each payload into its typed view (SA fully validated).
fn walk_typed(datagram: &[u8]) -> usize {
    let (msg, _) = Message::parse(datagram).expect("message");
    let mut n = 0;
    for p in msg.payloads().expect("plaintext") {
        let typed = Payload::parse(&p.expect("payload")).expect("typed");
        n += usize::from(typed.payload_type().0);
    }
    n
}

fn benches(c: &mut Criterion) {
    let mm4 = decode(MM4_RSA);
    assert_eq!(mm4.len(), 447);
    let mm1 = decode(MM1_PSK);
    assert_eq!(mm1.len(), 180);
    // A ~500-byte main mode message 1 with many vendor IDs.
    let vids = {
        let (msg, _) = Message::parse(&mm1).expect("mm1");
        let mut m = MessageBuilder::new(Cookie([1; 8]), Cookie::ZERO, ExchangeType::MAIN_MODE, 0);
        for p in msg.payloads().expect("plaintext") {
            m.push_generic(&p.expect("payload")).expect("push");
        }
        for i in 0..16u8 {
            m.push_vendor_id(&[i; 16]).expect("vid");
        }
        m.build().expect("build")
    };
    assert_eq!(vids.len(), 500);
    let with_tail = tail::join(&mm4, TailType::TRANSPORT, &[0x42; 120]).expect("join");

    let mut g = c.benchmark_group("isakmp");
    g.bench_function("walk_chain/mm4_rsa_447B", |b| {
        b.iter(|| walk(black_box(&mm4)))
    });
    g.bench_function("walk_chain/mm1_21vids_500B", |b| {
        b.iter(|| walk(black_box(&vids)))
    });
    g.bench_function("walk_typed/mm4_rsa_447B", |b| {
        b.iter(|| walk_typed(black_box(&mm4)))
    });
    g.bench_function("walk_typed/mm1_sa_5vids_180B", |b| {
        b.iter(|| walk_typed(black_box(&mm1)))
    });
    g.bench_function("tail_split/mm4_rsa_447B+128B", |b| {
        b.iter(|| {
            let s = tail::split(black_box(&with_tail)).expect("split");
            s.tail.map(|t| t.body().len())
        })
    });
    g.finish();
}

criterion_group!(isakmp, benches);
criterion_main!(isakmp);
