//! Raw IP sockets and the TUN device against the real kernel. These need root (or
//! CAP_NET_RAW / CAP_NET_ADMIN); without it each test prints why it is skipped and passes.
//! Everything runs on loopback addresses and a TUN device this test creates and removes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

use ipsec_xlat_io::sys::{OsSocket, SocketOptions, TunConfig, TunPort};
use ipsec_xlat_io::{IpProtocol, Leg, OutDatagram, PacketPort, RecvBatch, RxMeta};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn skip(test: &str, why: &str) {
    eprintln!("SKIP {test}: {why}");
}

/// A raw socket, or `None` (after printing why) when not permitted.
fn raw(test: &str, local: &str, protocol: IpProtocol, hdrincl: bool) -> Option<OsSocket> {
    match OsSocket::raw(
        Leg::SSide,
        ip(local),
        protocol,
        hdrincl,
        SocketOptions::default(),
    ) {
        Ok(socket) => Some(socket),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            skip(test, "raw sockets need root or CAP_NET_RAW");
            None
        }
        Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {
            skip(test, &format!("{local} is not configured on this host"));
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

/// Receive until a packet containing `marker` arrives (other traffic of the protocol may be
/// on the host), bounded to about two seconds.
fn recv_marked(port: &mut dyn PacketPort, marker: &[u8]) -> (RxMeta, Vec<u8>) {
    let mut batch = RecvBatch::new(8, 65_536);
    for _ in 0..1000 {
        match port.recv_batch(&mut batch) {
            Ok(n) => {
                for i in 0..n {
                    let (meta, bytes) = batch.get(i).unwrap();
                    if bytes.windows(marker.len()).any(|w| w == marker) {
                        return (*meta, bytes.to_vec());
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no packet with the marker arrived");
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn raw_esp_ipv4_arrives_with_the_kernels_header() {
    let test = "raw_esp_ipv4_arrives_with_the_kernels_header";
    let Some(mut a) = raw(test, "127.0.0.2", IpProtocol::ESP, false) else {
        return;
    };
    let Some(mut b) = raw(test, "127.0.0.3", IpProtocol::ESP, false) else {
        return;
    };
    let esp = b"\x00\x00\x10\x01\x00\x00\x00\x01esp-marker-v4 payload";
    let sent = a
        .send_batch(&[OutDatagram {
            bytes: esp,
            remote: ip("127.0.0.3"),
            remote_port: 0,
        }])
        .unwrap();
    assert_eq!(sent, 1);
    let (meta, packet) = recv_marked(&mut b, b"esp-marker-v4");
    assert_eq!(packet[0] >> 4, 4);
    let header_len = usize::from(packet[0] & 0x0f) * 4;
    assert_eq!(packet[9], 50, "protocol ESP");
    assert_eq!(&packet[12..16], &[127, 0, 0, 2]);
    assert_eq!(&packet[16..20], &[127, 0, 0, 3]);
    assert_eq!(&packet[header_len..], esp);
    assert_eq!(meta.remote, Some(ip("127.0.0.2")));
    assert_eq!(
        meta.local,
        Some(ip("127.0.0.3")),
        "IP_PKTINFO on a raw socket"
    );
}

#[test]
fn header_included_ah_keeps_every_field_the_relay_wrote() {
    let test = "header_included_ah_keeps_every_field_the_relay_wrote";
    let Some(mut relay) = raw(test, "127.0.0.4", IpProtocol::AH, true) else {
        return;
    };
    let Some(mut sgw) = raw(test, "127.0.0.5", IpProtocol::AH, false) else {
        return;
    };
    // AH: next header 50, payload length 4 (24 bytes), SPI, sequence, 12-byte ICV, marker.
    let mut ah = vec![50, 4, 0, 0, 0, 0, 0x20, 0x01, 0, 0, 0, 9];
    ah.extend_from_slice(&[0xab; 12]);
    ah.extend_from_slice(b"ah-hdrincl-marker");
    let total = (20 + ah.len()) as u16;
    let mut packet = vec![0x45, 0x00];
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&[0xbe, 0xef, 0x40, 0x00, 64, 51, 0, 0]);
    packet.extend_from_slice(&[127, 0, 0, 4, 127, 0, 0, 5]);
    let checksum = ipv4_checksum(&packet);
    packet[10..12].copy_from_slice(&checksum.to_be_bytes());
    packet.extend_from_slice(&ah);
    relay
        .send_batch(&[OutDatagram {
            bytes: &packet,
            remote: ip("127.0.0.5"),
            remote_port: 0,
        }])
        .unwrap();
    let (meta, got) = recv_marked(&mut sgw, b"ah-hdrincl-marker");
    assert_eq!(
        got, packet,
        "Identification, flags, TTL, length all as written"
    );
    assert_eq!(meta.remote, Some(ip("127.0.0.4")));
}

#[test]
fn raw_esp_ipv6_arrives_without_a_header() {
    let test = "raw_esp_ipv6_arrives_without_a_header";
    let Some(mut a) = raw(test, "::1", IpProtocol::ESP, false) else {
        return;
    };
    let esp = b"\x00\x00\x10\x02\x00\x00\x00\x01esp-marker-v6";
    a.send_batch(&[OutDatagram {
        bytes: esp,
        remote: ip("::1"),
        remote_port: 0,
    }])
    .unwrap();
    let (meta, got) = recv_marked(&mut a, b"esp-marker-v6");
    assert_eq!(got, esp, "IPv6 raw sockets deliver the payload only");
    assert_eq!(meta.remote, Some(ip("::1")));
    assert_eq!(
        meta.local,
        Some(ip("::1")),
        "IPV6_PKTINFO gives the destination"
    );
}

/// A UDP packet from a host behind the tunnel, built by hand for writing into the TUN.
fn udp_ipv4(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let total = (20 + 8 + payload.len()) as u16;
    let mut packet = vec![0x45, 0];
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let checksum = ipv4_checksum(&packet);
    packet[10..12].copy_from_slice(&checksum.to_be_bytes());
    packet.extend_from_slice(&src_port.to_be_bytes());
    packet.extend_from_slice(&dst_port.to_be_bytes());
    packet.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0]); // no UDP checksum (allowed over IPv4)
    packet.extend_from_slice(payload);
    packet
}

#[test]
fn tun_device_carries_packets_both_ways() {
    let test = "tun_device_carries_packets_both_ways";
    let config = TunConfig {
        name: "xlattest0".into(),
        address: Some("10.99.0.1/24".parse().unwrap()),
        mtu: 1400,
        routes: vec!["10.98.0.0/24".parse().unwrap()],
    };
    let mut tun = match TunPort::open(&config) {
        Ok(tun) => tun,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::NotFound
            ) =>
        {
            return skip(
                test,
                &format!("cannot create a TUN device ({e}); needs root and /dev/net/tun"),
            );
        }
        Err(e) => panic!("{test}: {e}"),
    };
    assert_eq!(tun.name(), "xlattest0");

    // Out: the kernel routes 10.98.0.0/24 into the TUN.
    let host = UdpSocket::bind(("10.99.0.1", 0)).unwrap();
    host.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    host.send_to(b"tun-out-marker", ("10.98.0.5", 9999))
        .unwrap();
    let (meta, packet) = recv_marked(&mut tun, b"tun-out-marker");
    assert_eq!(meta.remote, None);
    assert_eq!(packet[0] >> 4, 4);
    assert_eq!(packet[9], 17);
    assert_eq!(&packet[16..20], &[10, 98, 0, 5]);

    // In: a packet written to the TUN reaches the host's socket.
    let port = host.local_addr().unwrap().port();
    let inbound = udp_ipv4(
        Ipv4Addr::new(10, 98, 0, 5),
        Ipv4Addr::new(10, 99, 0, 1),
        9999,
        port,
        b"tun-in-marker",
    );
    assert_eq!(
        tun.send_batch(&[OutDatagram {
            bytes: &inbound,
            remote: ip("0.0.0.0"),
            remote_port: 0
        }])
        .unwrap(),
        1
    );
    let mut buf = [0u8; 64];
    let (n, from) = host.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"tun-in-marker");
    assert_eq!(from, "10.98.0.5:9999".parse().unwrap());
    drop(tun);
    let still_there = std::process::Command::new("ip")
        .args(["link", "show", "xlattest0"])
        .output()
        .unwrap();
    assert!(
        !still_there.status.success(),
        "the device is removed when dropped"
    );
}
