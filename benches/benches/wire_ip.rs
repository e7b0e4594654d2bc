//! Per-packet cost of the IP-layer wire views: what the relay pays before its table lookup.
//!
//! Targets (issue 2): ESP/AH header view and classification under 10 ns.
//! Run: `cargo bench -p ipsec-xlat-benches --bench wire_ip`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion};
use ipsec_xlat::wire::ah::{self, AhPacket, AhRepr};
use ipsec_xlat::wire::encap::{classify, Encapsulated};
use ipsec_xlat::wire::esp::{EspPacket, EspRepr};
use ipsec_xlat::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use ipsec_xlat::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use ipsec_xlat::wire::udp::{UdpPacket, UdpRepr};
use ipsec_xlat::wire::{IpProtocol, IpVersion};

/// 8-byte ESP header plus a 16-byte IV, 96 bytes of ciphertext and a 16-byte ICV: the size
/// of the captured strongSwan pings.
const ESP_BODY_LEN: usize = 16 + 96 + 16;

fn esp_packet() -> Vec<u8> {
    let mut esp = vec![0x5au8; 8 + ESP_BODY_LEN];
    EspRepr {
        spi: 0xe01a_e4aa,
        seq: 1,
    }
    .emit(&mut esp)
    .unwrap();
    esp
}

fn ipv4(protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: Ipv4Addr::new(198, 51, 100, 10),
        dst_addr: Ipv4Addr::new(203, 0, 113, 1),
        protocol,
        payload_len: payload.len(),
        ttl: 64,
        tos: 0,
        ident: 0x92a1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: Ipv4Options::EMPTY,
    };
    let mut buf = vec![0u8; repr.total_len()];
    let hl = repr.emit(&mut buf).unwrap();
    buf[hl..].copy_from_slice(payload);
    buf
}

fn udp_datagram(payload: &[u8]) -> Vec<u8> {
    let repr = UdpRepr {
        src_port: 4500,
        dst_port: 4500,
        payload_len: payload.len(),
    };
    let mut buf = vec![0u8; repr.total_len()];
    repr.emit(&mut buf).unwrap();
    buf[8..].copy_from_slice(payload);
    buf
}

fn ah_packet(icv_len: usize) -> Vec<u8> {
    let repr = AhRepr {
        next_header: IpProtocol::IPV4,
        spi: 0xa001,
        seq: 1,
        icv_len,
        version: IpVersion::V4,
    };
    let hl = repr.header_len().unwrap();
    let mut buf = vec![0x33u8; hl + 60];
    repr.emit(&mut buf).unwrap();
    buf
}

fn benches(c: &mut Criterion) {
    let esp = esp_packet();
    let esp_in_udp = udp_datagram(&esp);
    let raw_esp_ip = ipv4(IpProtocol::ESP, &esp);
    let ah_hdr = ah_packet(16);
    let ah_ip = ipv4(IpProtocol::AH, &ah_hdr);

    let mut g = c.benchmark_group("wire_ip");

    g.bench_function("classify+parse ESP-in-UDP datagram", |b| {
        b.iter(|| {
            let udp = UdpPacket::new_checked(black_box(&esp_in_udp[..])).unwrap();
            match classify(udp.payload()) {
                Encapsulated::Esp(p) => (p.spi(), p.seq()),
                _ => (0, 0),
            }
        })
    });

    g.bench_function("classify UDP payload (ESP)", |b| {
        b.iter(|| match classify(black_box(&esp[..])) {
            Encapsulated::Esp(p) => p.spi(),
            _ => 0,
        })
    });

    g.bench_function("parse raw ESP packet (IPv4 + ESP views)", |b| {
        b.iter(|| {
            let ip = Ipv4Packet::new_checked(black_box(&raw_esp_ip[..])).unwrap();
            if ip.protocol() != IpProtocol::ESP {
                return (0, 0);
            }
            let p = EspPacket::new_checked(ip.payload()).unwrap();
            (p.spi(), p.seq())
        })
    });

    g.bench_function("ESP header view", |b| {
        b.iter(|| {
            let p = EspPacket::new_checked(black_box(&esp[..])).unwrap();
            (p.spi(), p.seq())
        })
    });

    g.bench_function("AH header view (HMAC-SHA256-128, IPv4)", |b| {
        b.iter(|| {
            let p = AhPacket::new_checked_with(black_box(&ah_hdr[..]), 16, IpVersion::V4).unwrap();
            (p.spi(), p.seq(), p.icv(16).len())
        })
    });

    g.bench_function("parse raw AH packet (IPv4 + AH views)", |b| {
        b.iter(|| {
            let ip = Ipv4Packet::new_checked(black_box(&ah_ip[..])).unwrap();
            let p = AhPacket::new_checked_with(ip.payload(), 16, IpVersion::V4).unwrap();
            (p.spi(), p.seq())
        })
    });

    g.bench_function("AH ICV input streamed (IPv4, 108 B)", |b| {
        b.iter(|| {
            let mut n = 0usize;
            ah::icv_input(black_box(&ah_ip[..]), 16, |chunk| n += chunk.len()).unwrap();
            n
        })
    });

    let v6 = {
        let mut payload = vec![60u8, 0, 1, 4, 0, 0, 0, 0]; // hop-by-hop, PadN
        payload.extend_from_slice(&[50, 0, 1, 4, 0, 0, 0, 0]); // destination options
        payload.extend_from_slice(&esp);
        let repr = Ipv6Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8::2".parse().unwrap(),
            next_header: IpProtocol::HOP_BY_HOP,
            payload_len: payload.len(),
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        };
        let mut buf = vec![0u8; repr.total_len()];
        repr.emit(&mut buf).unwrap();
        buf[40..].copy_from_slice(&payload);
        buf
    };
    g.bench_function("IPv6 walk 2 ext headers to ESP + ESP view", |b| {
        b.iter(|| {
            let ip = Ipv6Packet::new_checked(black_box(&v6[..])).unwrap();
            let up = ip.ipsec_header().unwrap();
            let p = EspPacket::new_checked(&v6[up.offset..ip.total_len()]).unwrap();
            p.spi()
        })
    });
    g.finish();
}

criterion_group!(wire_ip, benches);
criterion_main!(wire_ip);
