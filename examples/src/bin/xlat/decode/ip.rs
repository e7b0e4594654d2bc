//! IPv4, IPv6 (extension headers), UDP, the RFC 3948 classification, ESP and AH.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn decode_ip(out: &mut Out, bytes: &[u8], nesting: usize) {
    match bytes.first().map(|b| b >> 4) {
        Some(4) => decode_ipv4(out, bytes, nesting),
        Some(6) => decode_ipv6(out, bytes, nesting),
        Some(v) => out.error(format!("not an IP packet (version nibble {v})")),
        None => out.error("empty packet"),
    }
}

pub(super) fn decode_ipv4(out: &mut Out, bytes: &[u8], nesting: usize) {
    out.open("ipv4");
    let ip = match Ipv4Packet::new_checked(bytes) {
        Ok(ip) => ip,
        Err(e) => {
            out.error(e);
            out.close();
            return;
        }
    };
    out.field("version", ip.version());
    out.field(
        "header_length",
        format!("{} ({} words)", ip.header_len(), ip.ihl()),
    );
    out.field(
        "tos",
        format!("0x{:02x} (dscp {}, ecn {})", ip.tos(), ip.dscp(), ip.ecn()),
    );
    out.field("total_length", ip.total_len());
    out.field(
        "identification",
        format!("0x{:04x} ({})", ip.ident(), ip.ident()),
    );
    let mut flags = Vec::new();
    if ip.reserved_flag() {
        flags.push("reserved");
    }
    if ip.dont_frag() {
        flags.push("DF");
    }
    if ip.more_frags() {
        flags.push("MF");
    }
    out.field(
        "flags",
        if flags.is_empty() {
            "none".into()
        } else {
            flags.join(" ")
        },
    );
    out.field("fragment_offset", ip.frag_offset());
    out.field("ttl", ip.ttl());
    out.field(
        "protocol",
        named(ip.protocol().0, protocol_name(ip.protocol())),
    );
    out.field(
        "header_checksum",
        format!(
            "0x{:04x} ({})",
            ip.checksum(),
            if ip.verify_checksum() {
                "correct"
            } else {
                "WRONG"
            }
        ),
    );
    out.field("source", ip.src_addr());
    out.field("destination", ip.dst_addr());
    if !ip.options().is_empty() {
        out.field("options", out.bytes(ip.options()));
    }
    let total = usize::from(ip.total_len());
    if bytes.len() > total {
        out.field(
            "trailing",
            format!(
                "{} bytes after Total Length (link padding)",
                bytes.len() - total
            ),
        );
    }
    out.close();
    if ip.is_fragment() && ip.frag_offset() != 0 {
        out.line(&format!(
            "fragment: {} bytes continuing an earlier fragment",
            ip.payload().len()
        ));
        return;
    }
    let (src, dst) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
    decode_upper(out, ip.protocol(), ip.payload(), src, dst, nesting);
}

pub(super) fn decode_ipv6(out: &mut Out, bytes: &[u8], nesting: usize) {
    out.open("ipv6");
    let ip = match Ipv6Packet::new_checked(bytes) {
        Ok(ip) => ip,
        Err(e) => {
            out.error(e);
            out.close();
            return;
        }
    };
    out.field("version", ip.version());
    out.field("traffic_class", format!("0x{:02x}", ip.traffic_class()));
    out.field("flow_label", format!("0x{:05x}", ip.flow_label()));
    out.field("payload_length", ip.payload_len());
    out.field(
        "next_header",
        named(ip.next_header().0, protocol_name(ip.next_header())),
    );
    out.field("hop_limit", ip.hop_limit());
    out.field("source", ip.src_addr());
    out.field("destination", ip.dst_addr());
    if bytes.len() > ip.total_len() {
        out.field(
            "trailing",
            format!(
                "{} bytes after Payload Length (link padding)",
                bytes.len() - ip.total_len()
            ),
        );
    }
    let mut headers = Vec::new();
    let upper = walk_extension_headers(ip.packet(), |h| {
        headers.push((h.protocol, h.offset, h.next_header, h.bytes.len()));
    });
    for (protocol, offset, next, len) in headers {
        out.line(&format!(
            "extension_header: {} at offset {offset}, {len} bytes, next_header {}",
            named(protocol.0, protocol_name(protocol)),
            named(next.0, protocol_name(next))
        ));
    }
    out.close();
    let upper = match upper {
        Ok(u) => u,
        Err(e) => {
            out.error(e);
            return;
        }
    };
    if upper.fragment.is_some_and(|f| f.frag_offset != 0) {
        out.line("fragment: continues an earlier fragment");
        return;
    }
    let payload = ip.packet().get(upper.offset..).unwrap_or_default();
    let (src, dst) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
    decode_upper(out, upper.protocol, payload, src, dst, nesting);
}

pub(super) fn decode_upper(
    out: &mut Out,
    protocol: IpProtocol,
    payload: &[u8],
    src: IpAddr,
    dst: IpAddr,
    nesting: usize,
) {
    match protocol {
        IpProtocol::UDP => decode_udp(out, payload, src, dst),
        IpProtocol::ESP => decode_esp(out, payload),
        IpProtocol::AH => decode_ah(out, payload, nesting),
        other => decode_inner_or_raw(out, other, payload, nesting),
    }
}

/// What follows a header when it is neither UDP, ESP nor AH: an inner IP packet (tunnel mode,
/// up to [`MAX_NESTING`] deep) decoded in turn, or else the payload shown raw with its
/// protocol's name. Shared by the IP header and AH, which both end in this same fallback.
fn decode_inner_or_raw(out: &mut Out, protocol: IpProtocol, payload: &[u8], nesting: usize) {
    match protocol {
        IpProtocol::IPV4 | IpProtocol::IPV6 if nesting < MAX_NESTING => {
            out.line("inner packet (tunnel mode):");
            out.depth += 1;
            decode_ip(out, payload, nesting + 1);
            out.depth -= 1;
        }
        other => out.field(
            "payload",
            format!(
                "{} ({})",
                out.bytes(payload),
                named(other.0, protocol_name(other))
            ),
        ),
    }
}

pub(super) fn decode_udp(out: &mut Out, bytes: &[u8], src: IpAddr, dst: IpAddr) {
    out.open("udp");
    let udp = match UdpPacket::new_checked(bytes) {
        Ok(u) => u,
        Err(e) => {
            out.error(e);
            out.close();
            return;
        }
    };
    out.field("source_port", udp.src_port());
    out.field("destination_port", udp.dst_port());
    out.field("length", udp.len());
    let verdict = match (udp.checksum(), src, dst) {
        (0, IpAddr::V4(_), _) => "none".to_string(),
        (_, IpAddr::V4(s), IpAddr::V4(d)) => udp_verdict(udp.verify_checksum_ipv4(s, d)),
        (_, IpAddr::V6(s), IpAddr::V6(d)) => udp_verdict(udp.verify_checksum_ipv6(s, d)),
        _ => "not checked".to_string(),
    };
    out.field("checksum", format!("0x{:04x} ({verdict})", udp.checksum()));
    out.close();
    let payload = udp.payload();
    let ports = [udp.src_port(), udp.dst_port()];
    if ports.contains(&4500) {
        decode_natt(out, payload);
    } else if ports.contains(&500) {
        decode_ike(out, payload);
    } else {
        out.field("udp_payload", out.bytes(payload));
    }
}

pub(super) fn udp_verdict(ok: bool) -> String {
    if ok {
        "correct"
    } else {
        "does not verify; normal in a capture on the sending host, with checksum offload"
    }
    .to_string()
}

pub(super) fn decode_natt(out: &mut Out, payload: &[u8]) {
    match classify(payload) {
        Encapsulated::Ike(message) => {
            out.line("nat-t: non-ESP marker 00000000, IKE follows (RFC 3948 2.2)");
            decode_ike(out, message);
        }
        Encapsulated::Keepalive => out.line("nat-t: NAT-keepalive 0xff (RFC 3948 2.3)"),
        Encapsulated::Esp(_) => {
            out.line("nat-t: ESP in UDP (RFC 3948 2.1)");
            decode_esp(out, payload);
        }
        Encapsulated::Garbage(e) => {
            out.line("nat-t: neither IKE, keepalive nor ESP");
            out.error(e);
        }
    }
}

pub(super) fn decode_esp(out: &mut Out, bytes: &[u8]) {
    out.open("esp");
    match EspPacket::new_checked(bytes) {
        Ok(esp) => {
            out.field("spi", format!("0x{:08x}", esp.spi()));
            out.field("sequence", esp.seq());
            out.field(
                "protected",
                format!(
                    "{} bytes (IV, encrypted payload, padding, trailer, ICV; keys needed to open)",
                    esp.payload().len()
                ),
            );
        }
        Err(e) => out.error(e),
    }
    out.close();
}

pub(super) fn decode_ah(out: &mut Out, bytes: &[u8], nesting: usize) {
    out.open("ah");
    let ah = match AhPacket::new_checked(bytes) {
        Ok(a) => a,
        Err(e) => {
            out.error(e);
            out.close();
            return;
        }
    };
    out.field(
        "next_header",
        named(ah.next_header().0, protocol_name(ah.next_header())),
    );
    out.field(
        "payload_length",
        format!("{} ({} bytes of header)", ah.payload_len(), ah.header_len()),
    );
    out.field(
        "reserved",
        format!(
            "0x{:04x}{}",
            ah.reserved(),
            if ah.reserved() != 0 {
                " (nonzero: on the client leg, the gateway leg's IPv4 Identification)"
            } else {
                ""
            }
        ),
    );
    out.field("spi", format!("0x{:08x}", ah.spi()));
    out.field("sequence", ah.seq());
    out.field("icv", out.bytes(ah.auth_data()));
    out.close();
    let next = ah.next_header();
    let payload = ah.payload();
    match next {
        IpProtocol::ESP => decode_esp(out, payload),
        other => decode_inner_or_raw(out, other, payload, nesting),
    }
}
