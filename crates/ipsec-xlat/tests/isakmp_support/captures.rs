//! Reads the IKE datagrams out of the committed strongSwan captures, for the ISAKMP and tail
//! tests. A deliberately small Ethernet/IPv4/IPv6/UDP reader: the tests must not depend on the
//! wire modules they are not testing.
#![allow(dead_code, clippy::indexing_slicing)]

use std::fs::File;
use std::path::{Path, PathBuf};

use pcap_file::pcap::PcapReader;

/// Where the captures live.
pub fn captures_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/captures"
    ))
    .to_path_buf()
}

/// Every capture file, sorted, as (path relative to the captures dir, absolute path).
pub fn pcap_files() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let dir = captures_dir();
    let mut scenarios: Vec<_> = std::fs::read_dir(&dir)
        .expect("captures dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    scenarios.sort();
    for scenario in scenarios {
        let mut files: Vec<_> = std::fs::read_dir(&scenario)
            .expect("scenario dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
            .collect();
        files.sort();
        for f in files {
            let rel = f
                .strip_prefix(&dir)
                .expect("relative")
                .to_string_lossy()
                .into_owned();
            out.push((rel, f));
        }
    }
    out
}

/// One IKE datagram from a capture.
#[derive(Debug, Clone)]
pub struct IkeDatagram {
    /// 1-based frame number, as tshark counts.
    pub frame: usize,
    pub src_port: u16,
    pub dst_port: u16,
    /// Whether the UDP payload began with the RFC 3948 non-ESP marker (port 4500).
    pub non_esp_marker: bool,
    /// The UDP payload with any non-ESP marker removed: the ISAKMP message.
    pub isakmp: Vec<u8>,
}

/// The UDP payload of an Ethernet frame, with ports.
fn udp_payload(frame: &[u8]) -> Option<(u16, u16, &[u8])> {
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let ip = &frame[14..];
    let (proto, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            (ip[9], &ip[ihl..total])
        }
        0x86dd => {
            let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            (ip[6], &ip[40..40 + plen])
        }
        _ => return None,
    };
    if proto != 17 {
        return None;
    }
    let sport = u16::from_be_bytes([l4[0], l4[1]]);
    let dport = u16::from_be_bytes([l4[2], l4[3]]);
    let ulen = usize::from(u16::from_be_bytes([l4[4], l4[5]]));
    Some((sport, dport, &l4[8..ulen]))
}

/// The IKE datagrams of a capture: UDP 500, and UDP 4500 payloads that start with the non-ESP
/// marker (ESP-in-UDP and keepalives are skipped).
pub fn ike_datagrams(path: &Path) -> Vec<IkeDatagram> {
    let mut reader = PcapReader::new(File::open(path).expect("open pcap")).expect("pcap header");
    let mut out = Vec::new();
    let mut frame = 0usize;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("pcap packet");
        frame += 1;
        let Some((sport, dport, payload)) = udp_payload(&packet.data) else {
            continue;
        };
        if sport == 500 || dport == 500 {
            out.push(IkeDatagram {
                frame,
                src_port: sport,
                dst_port: dport,
                non_esp_marker: false,
                isakmp: payload.to_vec(),
            });
        } else if (sport == 4500 || dport == 4500)
            && payload.len() > 4
            && payload[..4] == [0, 0, 0, 0]
        {
            out.push(IkeDatagram {
                frame,
                src_port: sport,
                dst_port: dport,
                non_esp_marker: true,
                isakmp: payload[4..].to_vec(),
            });
        }
    }
    out
}

/// Every IKE datagram of every capture, with the capture's relative path.
pub fn all_ike_datagrams() -> Vec<(String, IkeDatagram)> {
    pcap_files()
        .into_iter()
        .flat_map(|(rel, path)| {
            ike_datagrams(&path)
                .into_iter()
                .map(move |d| (rel.clone(), d))
        })
        .collect()
}
