//! Shared helpers for the IKE known-answer tests: reading the strongSwan captures (pcap +
//! charon debug logs) under `tests/data/captures/`.
//!
//! The ISAKMP walking here is deliberately minimal (header, payload chain, SA/proposal SPI):
//! it exists so the crypto KATs do not depend on the wire parser being written elsewhere.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

/// Root of the committed captures.
pub fn capture_dir(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/captures"
    ))
    .join(name)
}

/// Root of the captures this module made for suites the shared set lacks
/// (`tests/ike_captures/`, see make-capture.sh there).
pub fn own_capture_dir(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ike_captures")).join(name)
}

/// One UDP datagram carrying ISAKMP (non-ESP marker already removed).
#[derive(Clone, Debug)]
pub struct IsakmpDatagram {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The ISAKMP message (header + body), trimmed to the header's length field.
    pub message: Vec<u8>,
}

/// Payload type numbers (RFC 2408 section 3.1, RFC 3947).
pub mod payload {
    pub const SA: u8 = 1;
    pub const PROPOSAL: u8 = 2;
    pub const KE: u8 = 4;
    pub const ID: u8 = 5;
    pub const CERT: u8 = 6;
    pub const HASH: u8 = 8;
    pub const SIG: u8 = 9;
    pub const NONCE: u8 = 10;
    pub const NOTIFY: u8 = 11;
    pub const VID: u8 = 13;
    pub const NAT_D: u8 = 20;
}

/// Exchange types (RFC 2408 section 3.1).
pub const MAIN_MODE: u8 = 2;
pub const QUICK_MODE: u8 = 32;

impl IsakmpDatagram {
    pub fn initiator_cookie(&self) -> [u8; 8] {
        self.message[0..8].try_into().unwrap()
    }
    pub fn responder_cookie(&self) -> [u8; 8] {
        self.message[8..16].try_into().unwrap()
    }
    pub fn first_payload(&self) -> u8 {
        self.message[16]
    }
    pub fn exchange_type(&self) -> u8 {
        self.message[18]
    }
    pub fn flags(&self) -> u8 {
        self.message[19]
    }
    pub fn is_encrypted(&self) -> bool {
        self.flags() & 1 == 1
    }
    pub fn message_id(&self) -> u32 {
        u32::from_be_bytes(self.message[20..24].try_into().unwrap())
    }
    /// Everything after the 28-byte header.
    pub fn body(&self) -> &[u8] {
        &self.message[28..]
    }
}

/// A payload found by walking the chain.
#[derive(Clone, Debug)]
pub struct Payload {
    pub kind: u8,
    /// The payload body (after the 4-byte generic header).
    pub body: Vec<u8>,
    /// Offset of the generic header in the walked buffer.
    pub offset: usize,
    /// Total length including the generic header.
    pub len: usize,
}

/// Walks a payload chain starting with `first` over `bytes`; stops at next-payload 0 and
/// ignores anything after it (CBC padding).
pub fn walk(first: u8, bytes: &[u8]) -> Vec<Payload> {
    let mut out = Vec::new();
    let mut kind = first;
    let mut off = 0usize;
    while kind != 0 {
        let next = bytes[off];
        let len = u16::from_be_bytes([bytes[off + 2], bytes[off + 3]]) as usize;
        assert!(len >= 4 && off + len <= bytes.len(), "bad payload length");
        out.push(Payload {
            kind,
            body: bytes[off + 4..off + len].to_vec(),
            offset: off,
            len,
        });
        off += len;
        kind = next;
    }
    out
}

/// End offset of the payload chain (where the padding starts).
pub fn chain_end(payloads: &[Payload]) -> usize {
    payloads.last().map(|p| p.offset + p.len).unwrap_or(0)
}

pub fn find(payloads: &[Payload], kind: u8) -> &Payload {
    payloads
        .iter()
        .find(|p| p.kind == kind)
        .unwrap_or_else(|| panic!("payload {kind} missing"))
}

pub fn find_all(payloads: &[Payload], kind: u8) -> Vec<&Payload> {
    payloads.iter().filter(|p| p.kind == kind).collect()
}

/// SPI of the first proposal in an IPsec SA payload body (DOI 4 + situation 4, then the
/// proposal: next 1, reserved 1, length 2, number 1, protocol 1, spi size 1, transforms 1,
/// SPI).
pub fn first_proposal_spi(sa_body: &[u8]) -> (u8, Vec<u8>) {
    let p = &sa_body[8..];
    let protocol = p[5];
    let spi_size = p[6] as usize;
    (protocol, p[8..8 + spi_size].to_vec())
}

/// Reads every ISAKMP datagram (ports 500 and 4500, non-ESP marker removed) from an
/// Ethernet/IPv4 pcap, in capture order.
pub fn read_isakmp(pcap_path: &std::path::Path) -> Vec<IsakmpDatagram> {
    let file = std::fs::File::open(pcap_path).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        let frame = &pkt.data[..];
        if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = ((ip[0] & 0x0f) as usize) * 4;
        if ip[9] != 17 {
            continue;
        }
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        let ip = &ip[..total];
        let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let udp = &ip[ihl..];
        let sport = u16::from_be_bytes([udp[0], udp[1]]);
        let dport = u16::from_be_bytes([udp[2], udp[3]]);
        let mut data = &udp[8..];
        if sport == 4500 || dport == 4500 {
            if data.len() < 4 || data[..4] != [0, 0, 0, 0] {
                continue; // ESP-in-UDP
            }
            data = &data[4..];
        } else if sport != 500 && dport != 500 {
            continue;
        }
        let len = u32::from_be_bytes(data[24..28].try_into().unwrap()) as usize;
        out.push(IsakmpDatagram {
            src: SocketAddr::V4(SocketAddrV4::new(src_ip, sport)),
            dst: SocketAddr::V4(SocketAddrV4::new(dst_ip, dport)),
            message: data[..len].to_vec(),
        });
    }
    out
}

/// Every value charon printed as `NAME => N bytes @ ADDR` followed by its hex dump lines,
/// in log order. `name` must match the text between the log prefix (`<conn|1> ` with
/// `ike_name = yes`, else `[IKE] `) and ` =>` exactly.
pub fn log_values(log: &str, name: &str) -> Vec<Vec<u8>> {
    let needles = [format!("> {name} => "), format!("] {name} => ")];
    let lines: Vec<&str> = log.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((pos, len)) = needles
            .iter()
            .find_map(|n| line.find(n.as_str()).map(|p| (p, n.len())))
        else {
            continue;
        };
        let rest = &line[pos + len..];
        let n: usize = rest.split_whitespace().next().unwrap().parse().unwrap();
        let mut bytes = Vec::with_capacity(n);
        for dump in &lines[i + 1..] {
            if bytes.len() >= n {
                break;
            }
            // "... <ike|1>   16: AA BB ...  ascii": hex area is 16*3 chars after ": ". Charon's
            // other threads may log between the rows of a dump: only the row whose offset is
            // the next one expected counts.
            let after_tag = dump
                .split_once("> ")
                .or_else(|| dump.split_once("] "))
                .map(|(_, r)| r)
                .unwrap_or(dump);
            let Some((offset, hex_area)) = after_tag.split_once(": ") else {
                continue;
            };
            if offset.trim().parse::<usize>().ok() != Some(bytes.len()) {
                continue;
            }
            let hex_area: String = hex_area.chars().take(48).collect();
            for tok in hex_area.split_whitespace() {
                bytes.push(u8::from_str_radix(tok, 16).unwrap());
            }
        }
        assert_eq!(bytes.len(), n, "short hex dump for {name}");
        out.push(bytes);
    }
    out
}

/// First value named `name` in the log.
pub fn log_value(log: &str, name: &str) -> Vec<u8> {
    log_values(log, name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{name} not in log"))
}

/// The PSK from a capture's swanctl.conf (`secret = "..."`).
pub fn psk_from_swanctl(conf: &str) -> Vec<u8> {
    let start = conf.find("secret = \"").expect("psk secret") + "secret = \"".len();
    let end = conf[start..].find('"').unwrap() + start;
    conf.as_bytes()[start..end].to_vec()
}

/// ESP keys Wireshark was given: (spi, encryption key, integrity key) per line of `esp_sa`.
pub fn wireshark_esp_keys(esp_sa: &str) -> Vec<(u32, Vec<u8>, Vec<u8>)> {
    esp_sa
        .lines()
        .filter(|l| l.starts_with('"'))
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(|s| s.trim_matches('"')).collect();
            let spi = u32::from_str_radix(f[3].trim_start_matches("0x"), 16).unwrap();
            let enc = hex::decode(f[5].trim_start_matches("0x")).unwrap();
            let integ = hex::decode(f[7].trim_start_matches("0x")).unwrap();
            (spi, enc, integ)
        })
        .collect()
}
