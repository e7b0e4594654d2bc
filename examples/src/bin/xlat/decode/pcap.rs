//! Packets from pcap files (Ethernet, Linux cooked, raw IP, loopback).

#[allow(clippy::wildcard_imports)]
use super::*;

/// Link-layer framing of a pcap, to find the IP packet in each frame.
pub(super) fn ip_in_frame(link: pcap_file::DataLink, frame: &[u8]) -> Result<&[u8], String> {
    use pcap_file::DataLink;
    let ethertype_payload = |mut at: usize, mut ethertype: u16| -> Result<&[u8], String> {
        // 802.1Q / 802.1ad tags.
        while ethertype == 0x8100 || ethertype == 0x88a8 {
            let t = frame.get(at + 2..at + 4).ok_or("truncated VLAN tag")?;
            ethertype = u16::from_be_bytes([t[0], t[1]]);
            at += 4;
        }
        match ethertype {
            0x0800 | 0x86dd => frame.get(at..).ok_or_else(|| "truncated frame".into()),
            other => Err(format!("not IP (ethertype 0x{other:04x})")),
        }
    };
    let be16 = |range: std::ops::Range<usize>| -> Result<u16, String> {
        frame
            .get(range)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated link header".into())
    };
    match link {
        DataLink::ETHERNET => ethertype_payload(14, be16(12..14)?),
        DataLink::LINUX_SLL => ethertype_payload(16, be16(14..16)?),
        DataLink::LINUX_SLL2 => ethertype_payload(20, be16(0..2)?),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Ok(frame),
        DataLink::NULL | DataLink::LOOP => frame.get(4..).ok_or_else(|| "truncated frame".into()),
        other => Err(format!("link type {other:?} not supported")),
    }
}

pub(super) fn decode_pcap(
    out: &mut Out,
    path: &std::path::Path,
    only: Option<usize>,
    kind: As,
) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = pcap_file::pcap::PcapReader::new(file)
        .map_err(|e| format!("{}: not a pcap file: {e}", path.display()))?;
    let link = reader.header().datalink;
    let mut number = 0usize;
    while let Some(packet) = reader.next_packet() {
        number += 1;
        let packet = packet.map_err(|e| format!("{}: packet {number}: {e}", path.display()))?;
        if only.is_some_and(|n| n != number) {
            continue;
        }
        out.line(&format!(
            "packet {number} ({} bytes captured, time {}.{:06}):",
            packet.data.len(),
            packet.timestamp.as_secs(),
            packet.timestamp.subsec_micros()
        ));
        out.depth += 1;
        match ip_in_frame(link, &packet.data) {
            Ok(ip) => {
                let kind = if kind == As::Auto { As::Ip } else { kind };
                decode(out, ip, kind);
            }
            Err(why) => out.line(&format!("skipped: {why}")),
        }
        out.depth -= 1;
    }
    if only.is_some_and(|n| n > number) {
        return Err(format!("{} has {number} packets", path.display()));
    }
    Ok(())
}
