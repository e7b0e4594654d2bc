//! `xlat decode`: every header field of a packet or IKE datagram, one `name: value` line per
//! field, nested by layer: outer IPv4/IPv6 (extension headers), UDP, the RFC 3948
//! classification on port 4500 (non-ESP marker, keepalive, ESP), ESP, AH (and what AH
//! protects, inner packets included), the ISAKMP header, its payload chain with each payload's
//! typed fields (SA proposals, transforms and attributes by name, IDs, notifications,
//! deletes, vendor IDs...), and our tail after the message's own length.
//!
//! The output is meant for people and for diffs: stable field names, numbers in decimal with
//! their registered names, SPIs and cookies in hex. Parsing is the core's (`ipsec_xlat::wire`),
//! so a packet that fails here fails the same way in the relay and the client; the error says
//! what and at which offset. Encrypted bodies are shown as lengths (keys are not ours to hold).

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ipsec_xlat::wire::ah::AhPacket;
use ipsec_xlat::wire::encap::{classify, Encapsulated};
use ipsec_xlat::wire::esp::EspPacket;
use ipsec_xlat::wire::ipv4::Ipv4Packet;
use ipsec_xlat::wire::ipv6::{walk_extension_headers, Ipv6Packet};
use ipsec_xlat::wire::isakmp::{
    AhTransformId, AttrValueRef, AuthMethod, EncapsulationMode, EspTransformId, ExchangeType,
    Flags, GroupDescription, Identity, IkeAttributeType, IkeEncryption, IkeHash,
    IpsecAttributeType, IpsecAuthAlgorithm, IsakmpTransformId, LifeType, Message, Payload,
    ProtocolId, SaPayload, SIT_IDENTITY_ONLY,
};
use ipsec_xlat::wire::tail::{Tail, TailType};
use ipsec_xlat::wire::udp::UdpPacket;
use ipsec_xlat::wire::IpProtocol;

/// How to read the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum As {
    /// IP packet when the first nibble is 4 or 6, else an IKE datagram (a UDP payload from
    /// port 500, or from 4500 when it starts with the non-ESP marker).
    Auto,
    /// An IPv4 or IPv6 packet.
    Ip,
    /// A UDP payload from port 500: an ISAKMP message and maybe our tail.
    Ike,
    /// A UDP payload from port 4500: non-ESP marker + IKE, keepalive, or ESP.
    Natt,
    /// An ESP packet (SPI first).
    Esp,
    /// An AH header and what follows.
    Ah,
}

/// `xlat decode` options.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Packets in hex (spaces, colons and a 0x prefix are ignored); `-` reads one packet from
    /// standard input. Not with --pcap.
    #[arg(
        value_name = "HEX|-",
        required_unless_present = "pcap",
        conflicts_with = "pcap"
    )]
    packets: Vec<String>,
    /// Decode every packet of a pcap file instead (Ethernet, Linux cooked, raw IP, loopback).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// With --pcap: only packet N (1-based, as tshark numbers them).
    #[arg(long, value_name = "N", requires = "pcap")]
    packet: Option<usize>,
    /// How to read the bytes.
    #[arg(long = "as", value_enum, default_value_t = As::Auto)]
    kind: As,
    /// Print long values (keys, nonces, certificates) whole instead of their first 64 bytes.
    #[arg(long)]
    full: bool,
}

/// Runs `xlat decode`: 0 if everything decoded, 1 if some layer did not parse (its error is
/// printed where it happened), 2 for input that is not hex or a pcap that cannot be read.
pub fn run(args: &DecodeArgs) -> ExitCode {
    let mut out = Out::new(args.full);
    if let Some(path) = &args.pcap {
        if let Err(e) = decode_pcap(&mut out, path, args.packet, args.kind) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    } else {
        let mut inputs = Vec::new();
        for arg in &args.packets {
            let text = if arg == "-" {
                let mut s = String::new();
                if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                    eprintln!("error: cannot read standard input: {e}");
                    return ExitCode::from(2);
                }
                s
            } else {
                arg.clone()
            };
            match parse_hex(&text) {
                Ok(bytes) => inputs.push(bytes),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        let many = inputs.len() > 1;
        for (i, bytes) in inputs.iter().enumerate() {
            if many {
                out.line(&format!("packet {} ({} bytes):", i + 1, bytes.len()));
                out.depth += 1;
            }
            decode(&mut out, bytes, args.kind);
            if many {
                out.depth -= 1;
            }
        }
    }
    // A closed pipe (`xlat decode ... | head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.text.as_bytes());
    if out.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Decodes one packet read as `kind` into a string.
#[cfg(test)]
fn decode_to_string(bytes: &[u8], kind: As, full: bool) -> (String, usize) {
    let mut out = Out::new(full);
    decode(&mut out, bytes, kind);
    (out.text, out.errors)
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text
        .split_whitespace()
        .map(|w| w.strip_prefix("0x").unwrap_or(w))
        .collect::<String>()
        .chars()
        .filter(|c| *c != ':')
        .collect();
    if digits.is_empty() {
        return Err("no hex digits given".into());
    }
    hex::decode(&digits).map_err(|e| format!("not hex: {e}"))
}

/// The indented output and an error count.
struct Out {
    text: String,
    depth: usize,
    errors: usize,
    full: bool,
}

impl Out {
    fn new(full: bool) -> Self {
        Self {
            text: String::new(),
            depth: 0,
            errors: 0,
            full,
        }
    }

    fn line(&mut self, s: &str) {
        for _ in 0..self.depth {
            self.text.push_str("  ");
        }
        self.text.push_str(s);
        self.text.push('\n');
    }

    fn field(&mut self, key: &str, value: impl std::fmt::Display) {
        self.line(&format!("{key}: {value}"));
    }

    fn open(&mut self, header: &str) {
        self.line(&format!("{header}:"));
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn error(&mut self, what: impl std::fmt::Display) {
        self.line(&format!("error: {what}"));
        self.errors += 1;
    }

    fn bytes(&self, data: &[u8]) -> String {
        const SHORT: usize = 64;
        if data.is_empty() {
            return "(empty)".into();
        }
        if self.full || data.len() <= SHORT {
            format!("{} ({} bytes)", hex::encode(data), data.len())
        } else {
            format!(
                "{}... ({} bytes; --full shows all)",
                hex::encode(&data[..SHORT]),
                data.len()
            )
        }
    }
}

/// `value (NAME)` when the number has a registered name.
fn named(value: impl std::fmt::Display, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{value} ({n})"),
        None => format!("{value}"),
    }
}

fn protocol_name(p: IpProtocol) -> Option<&'static str> {
    Some(match p.0 {
        0 => "HOPOPT",
        1 => "ICMP",
        4 => "IPv4",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6",
        43 => "IPv6-Route",
        44 => "IPv6-Frag",
        50 => "ESP",
        51 => "AH",
        58 => "ICMPv6",
        59 => "IPv6-NoNxt",
        60 => "IPv6-Opts",
        _ => return None,
    })
}

fn decode(out: &mut Out, bytes: &[u8], kind: As) {
    let kind = match kind {
        As::Auto => match bytes.first().map(|b| b >> 4) {
            Some(4 | 6) => As::Ip,
            _ if bytes.starts_with(&[0, 0, 0, 0]) => As::Natt,
            _ => As::Ike,
        },
        k => k,
    };
    match kind {
        As::Ip | As::Auto => decode_ip(out, bytes, 0),
        As::Ike => decode_ike(out, bytes),
        As::Natt => decode_natt(out, bytes),
        As::Esp => decode_esp(out, bytes),
        As::Ah => decode_ah(out, bytes, 0),
    }
}

/// Inner packets (AH tunnel mode) nest at most this deep.
const MAX_NESTING: usize = 4;

fn decode_ip(out: &mut Out, bytes: &[u8], nesting: usize) {
    match bytes.first().map(|b| b >> 4) {
        Some(4) => decode_ipv4(out, bytes, nesting),
        Some(6) => decode_ipv6(out, bytes, nesting),
        Some(v) => out.error(format!("not an IP packet (version nibble {v})")),
        None => out.error("empty packet"),
    }
}

fn decode_ipv4(out: &mut Out, bytes: &[u8], nesting: usize) {
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

fn decode_ipv6(out: &mut Out, bytes: &[u8], nesting: usize) {
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

fn decode_upper(
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

fn decode_udp(out: &mut Out, bytes: &[u8], src: IpAddr, dst: IpAddr) {
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

fn udp_verdict(ok: bool) -> String {
    if ok {
        "correct"
    } else {
        "does not verify; normal in a capture on the sending host, with checksum offload"
    }
    .to_string()
}

fn decode_natt(out: &mut Out, payload: &[u8]) {
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

fn decode_esp(out: &mut Out, bytes: &[u8]) {
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

fn decode_ah(out: &mut Out, bytes: &[u8], nesting: usize) {
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

fn decode_ike(out: &mut Out, bytes: &[u8]) {
    out.open("isakmp");
    let (message, rest) = match Message::parse(bytes) {
        Ok(m) => m,
        Err(e) => {
            out.error(e);
            out.close();
            return;
        }
    };
    let h = message.header();
    out.field("initiator_cookie", hex::encode(h.initiator_cookie().0));
    out.field("responder_cookie", hex::encode(h.responder_cookie().0));
    out.field(
        "next_payload",
        named(h.next_payload().0, h.next_payload().name()),
    );
    out.field(
        "version",
        format!("{}.{}", h.major_version(), h.minor_version()),
    );
    out.field(
        "exchange_type",
        named(h.exchange_type().0, exchange_name(h.exchange_type())),
    );
    out.field("flags", flags(h.flags()));
    out.field("message_id", format!("0x{:08x}", h.message_id()));
    out.field("length", h.length());
    if message.is_encrypted() {
        out.field(
            "encrypted",
            format!(
                "{} bytes of payloads starting with {} (IKE keys needed to read them)",
                message.body().len(),
                named(h.next_payload().0, h.next_payload().name())
            ),
        );
    } else {
        match message.payloads() {
            Ok(chain) => {
                for (i, generic) in chain.enumerate() {
                    match generic {
                        Ok(g) => {
                            out.open(&format!(
                                "payload {}: {}, length {}, offset {}{}",
                                i + 1,
                                named(g.payload_type().0, g.payload_type().name()),
                                g.length(),
                                g.offset(),
                                if g.critical() { ", critical" } else { "" }
                            ));
                            match Payload::parse(&g) {
                                Ok(p) => decode_payload(out, &p),
                                Err(e) => out.error(e),
                            }
                            out.close();
                        }
                        Err(e) => {
                            out.error(e);
                            break;
                        }
                    }
                }
            }
            Err(e) => out.error(e),
        }
    }
    out.close();
    if !rest.is_empty() {
        decode_tail(out, rest, message.as_bytes().len());
    }
}

fn exchange_name(e: ExchangeType) -> Option<&'static str> {
    match e {
        ExchangeType::IDENTITY_PROTECTION => Some("IDENTITY_PROTECTION, main mode"),
        other => other.name(),
    }
}

fn flags(f: Flags) -> String {
    let mut names = Vec::new();
    if f.encryption() {
        names.push("encryption");
    }
    if f.commit() {
        names.push("commit");
    }
    if f.authentication_only() {
        names.push("authentication-only");
    }
    if f.0 & !0x07 != 0 {
        names.push("unknown bits");
    }
    if names.is_empty() {
        format!("0x{:02x}", f.0)
    } else {
        format!("0x{:02x} ({})", f.0, names.join(", "))
    }
}

fn decode_tail(out: &mut Out, rest: &[u8], offset: usize) {
    out.open("tail");
    match Tail::parse(rest, offset) {
        Ok(tail) => {
            out.field("offset", format!("{offset} (after the ISAKMP length)"));
            out.field(
                "type",
                named(tail.tail_type().0, tail_type_name(tail.tail_type())),
            );
            out.field(
                "body",
                format!(
                    "{} bytes (Noise-protected: only the client and the relay read it)",
                    tail.body().len()
                ),
            );
        }
        Err(e) => {
            out.field("bytes", out.bytes(rest));
            out.error(e);
        }
    }
    out.close();
}

fn tail_type_name(t: TailType) -> Option<&'static str> {
    match t {
        TailType::HANDSHAKE => Some("HANDSHAKE, Noise handshake message"),
        TailType::TRANSPORT => Some("TRANSPORT, Noise transport message"),
        other => other.name(),
    }
}

fn decode_payload(out: &mut Out, payload: &Payload<'_>) {
    match payload {
        Payload::Sa(sa) => decode_sa(out, sa),
        Payload::KeyExchange(ke) => out.field("key_exchange_data", out.bytes(ke.data())),
        Payload::Identification(id) => {
            out.field("id_type", named(id.id_type().0, id.id_type().name()));
            out.field(
                "protocol",
                named(id.protocol(), protocol_name(IpProtocol(id.protocol()))),
            );
            out.field("port", id.port());
            out.field("identification", identity(id.identity(), id.data(), out));
        }
        Payload::Certificate(c) => {
            out.field("encoding", named(c.encoding().0, c.encoding().name()));
            out.field("certificate", out.bytes(c.data()));
        }
        Payload::CertificateRequest(c) => {
            out.field("cert_type", named(c.cert_type().0, c.cert_type().name()));
            out.field("authority", out.bytes(c.authority()));
        }
        Payload::Hash(p) => out.field("hash", out.bytes(p.data())),
        Payload::Signature(p) => out.field("signature", out.bytes(p.data())),
        Payload::Nonce(p) => out.field("nonce", out.bytes(p.data())),
        Payload::Notification(n) => {
            out.field("doi", named(n.doi().0, n.doi().name()));
            out.field("protocol", named(n.protocol().0, n.protocol().name()));
            out.field("spi", out.bytes(n.spi()));
            out.field(
                "notify_type",
                named(n.notify_type().0, n.notify_type().name()),
            );
            out.field("data", out.bytes(n.data()));
        }
        Payload::Delete(d) => {
            out.field("doi", named(d.doi().0, d.doi().name()));
            out.field("protocol", named(d.protocol().0, d.protocol().name()));
            out.field("spi_size", d.spi_size());
            out.field("spi_count", d.count());
            for spi in d.spis() {
                out.field("spi", hex::encode(spi));
            }
        }
        Payload::VendorId(v) => {
            let data = v.data();
            match vendor_name(data) {
                Some(name) => out.field("vendor_id", format!("{} = {name}", out.bytes(data))),
                None => out.field("vendor_id", out.bytes(data)),
            }
        }
        Payload::NatDiscovery(_, d) => out.field("hash", out.bytes(d.data())),
        Payload::NatOriginalAddress(_, oa) => out.field("address", oa.address()),
        Payload::Fragment(f) => {
            out.field("fragment_id", f.fragment_id());
            out.field("number", f.number());
            out.field(
                "flags",
                format!(
                    "0x{:02x}{}",
                    f.flags(),
                    if f.is_last() { " (last)" } else { "" }
                ),
            );
            out.field("data", out.bytes(f.data()));
        }
        Payload::Unknown(g) => out.field("body", out.bytes(g.body())),
    }
}

fn identity(id: Identity<'_>, data: &[u8], out: &Out) -> String {
    let text = |b: &[u8]| format!("\"{}\"", String::from_utf8_lossy(b).escape_debug());
    match id {
        Identity::Ipv4Addr(a) => a.to_string(),
        Identity::Ipv6Addr(a) => a.to_string(),
        Identity::Ipv4Subnet { addr, mask } => subnet4(addr, mask),
        Identity::Ipv6Subnet { addr, mask } => subnet6(addr, mask),
        Identity::Ipv4Range { start, end } => format!("{start} - {end}"),
        Identity::Ipv6Range { start, end } => format!("{start} - {end}"),
        Identity::Fqdn(b) | Identity::UserFqdn(b) => text(b),
        Identity::DerAsn1Dn(b) => format!("DER distinguished name {}", out.bytes(b)),
        #[allow(unreachable_patterns)]
        _ => out.bytes(data),
    }
}

fn subnet4(addr: Ipv4Addr, mask: Ipv4Addr) -> String {
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() == 32 {
        format!("{addr}/{}", bits.leading_ones())
    } else {
        format!("{addr} mask {mask}")
    }
}

fn subnet6(addr: Ipv6Addr, mask: Ipv6Addr) -> String {
    let bits = u128::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() == 128 {
        format!("{addr}/{}", bits.leading_ones())
    } else {
        format!("{addr} mask {mask}")
    }
}

/// Vendor IDs seen in strongSwan 5.9's main mode (docs/LAB.md).
fn vendor_name(data: &[u8]) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        ("09002689dfd6b712", "XAUTH"),
        ("afcad71368a1f1c96b8696fc77570100", "RFC 3706 DPD"),
        (
            "4048b7d56ebce88525e7de7f00d6c2d380000000",
            "Cisco fragmentation",
        ),
        ("4a131c81070358455c5728f20e95452f", "RFC 3947 NAT-T"),
        (
            "90cb80913ebb696e086381b5ec427b1f",
            "draft-ietf-ipsec-nat-t-ike-02\\n",
        ),
    ];
    let hex = hex::encode(data);
    KNOWN
        .iter()
        .find(|(known, _)| *known == hex)
        .map(|(_, name)| *name)
}

fn decode_sa(out: &mut Out, sa: &SaPayload<'_>) {
    out.field("doi", named(sa.doi().0, sa.doi().name()));
    out.field(
        "situation",
        format!(
            "0x{:08x}{}",
            sa.situation(),
            if sa.situation() == SIT_IDENTITY_ONLY {
                " (SIT_IDENTITY_ONLY)"
            } else {
                ""
            }
        ),
    );
    for proposal in sa.proposals() {
        let protocol = proposal.protocol();
        out.open(&format!(
            "proposal {}: protocol {}, spi {}, {} transform(s)",
            proposal.number(),
            named(protocol.0, protocol.name()),
            if proposal.spi().is_empty() {
                "none".to_string()
            } else {
                hex::encode(proposal.spi())
            },
            proposal.transform_count()
        ));
        for transform in proposal.transforms() {
            let id = transform.transform_id();
            let id_name = match protocol {
                ProtocolId::ISAKMP => IsakmpTransformId(id).name(),
                ProtocolId::IPSEC_ESP => EspTransformId(id).name(),
                ProtocolId::IPSEC_AH => AhTransformId(id).name(),
                _ => None,
            };
            out.open(&format!(
                "transform {}: {}",
                transform.number(),
                named(id, id_name)
            ));
            for a in transform.attributes() {
                let line = attribute_line(protocol, a.attr_type(), a.value(), out);
                out.line(&line);
            }
            out.close();
        }
        out.close();
    }
}

fn attribute_line(
    protocol: ProtocolId,
    attr_type: u16,
    value: AttrValueRef<'_>,
    out: &Out,
) -> String {
    let number = match value {
        AttrValueRef::Basic(v) => Some(u64::from(v)),
        AttrValueRef::Variable(b) if b.len() <= 8 => {
            Some(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
        }
        AttrValueRef::Variable(_) => None,
    };
    let (type_name, value_name) = if protocol == ProtocolId::ISAKMP {
        let t = IkeAttributeType(attr_type);
        let v16 = number.and_then(|n| u16::try_from(n).ok());
        let vname = v16.and_then(|v| match t {
            IkeAttributeType::ENCRYPTION_ALGORITHM => IkeEncryption(v).name(),
            IkeAttributeType::HASH_ALGORITHM | IkeAttributeType::PRF => IkeHash(v).name(),
            IkeAttributeType::AUTHENTICATION_METHOD => AuthMethod(v).name(),
            IkeAttributeType::GROUP_DESCRIPTION => GroupDescription(v).name(),
            IkeAttributeType::LIFE_TYPE => LifeType(v).name(),
            _ => None,
        });
        (t.name(), vname)
    } else {
        let t = IpsecAttributeType(attr_type);
        let v16 = number.and_then(|n| u16::try_from(n).ok());
        let vname = v16.and_then(|v| match t {
            IpsecAttributeType::SA_LIFE_TYPE => LifeType(v).name(),
            IpsecAttributeType::GROUP_DESCRIPTION => GroupDescription(v).name(),
            IpsecAttributeType::ENCAPSULATION_MODE => EncapsulationMode(v).name(),
            IpsecAttributeType::AUTHENTICATION_ALGORITHM => IpsecAuthAlgorithm(v).name(),
            _ => None,
        });
        (t.name(), vname)
    };
    let shown = match (number, value) {
        (Some(n), _) => named(n, value_name),
        (None, AttrValueRef::Variable(b)) => out.bytes(b),
        (None, AttrValueRef::Basic(v)) => v.to_string(),
    };
    let form = match value {
        AttrValueRef::Basic(_) => "",
        AttrValueRef::Variable(_) => " [variable]",
    };
    format!("{}: {shown}{form}", named(attr_type, type_name))
}

/// Link-layer framing of a pcap, to find the IP packet in each frame.
fn ip_in_frame(link: pcap_file::DataLink, frame: &[u8]) -> Result<&[u8], String> {
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

fn decode_pcap(
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use ipsec_xlat::wire::isakmp::{
        Cookie, DeleteRepr, Doi, IdRepr, MessageBuilder, NotifyRepr, NotifyType,
    };
    use ipsec_xlat::wire::tail::join;

    fn informational() -> Vec<u8> {
        let mut b = MessageBuilder::new(
            Cookie([1, 2, 3, 4, 5, 6, 7, 8]),
            Cookie([9, 10, 11, 12, 13, 14, 15, 16]),
            ExchangeType::INFORMATIONAL,
            0x0102_0304,
        );
        b.push_notification(&NotifyRepr {
            doi: Doi::IPSEC,
            protocol: ProtocolId::IPSEC_ESP,
            notify_type: NotifyType::NO_PROPOSAL_CHOSEN,
            spi: vec![0xc0, 0xff, 0xee, 0x01],
            data: Vec::new(),
        })
        .unwrap();
        b.push_delete(&DeleteRepr {
            doi: Doi::IPSEC,
            protocol: ProtocolId::IPSEC_ESP,
            spi_size: 4,
            spis: vec![vec![0xde, 0xad, 0xbe, 0xef], vec![0, 0, 1, 0]],
        })
        .unwrap();
        b.push_identification(&IdRepr::ipv4_subnet(
            "10.9.0.0".parse().unwrap(),
            "255.255.255.0".parse().unwrap(),
        ))
        .unwrap();
        b.push_vendor_id(&hex::decode("4a131c81070358455c5728f20e95452f").unwrap())
            .unwrap();
        b.build().unwrap()
    }

    #[test]
    fn typed_payload_fields_and_the_tail() {
        let message = informational();
        let datagram = join(&message, TailType::TRANSPORT, &[0x55; 40]).unwrap();
        let (text, errors) = decode_to_string(&datagram, As::Auto, false);
        assert_eq!(errors, 0, "{text}");
        for expected in [
            "initiator_cookie: 0102030405060708",
            "responder_cookie: 090a0b0c0d0e0f10",
            "exchange_type: 5 (INFORMATIONAL)",
            "message_id: 0x01020304",
            &format!("length: {}", message.len()),
            "payload 1: 11 (NOTIFICATION)",
            "notify_type: 14 (NO_PROPOSAL_CHOSEN)",
            "spi: c0ffee01 (4 bytes)",
            "payload 2: 12 (DELETE)",
            "spi_count: 2",
            "spi: deadbeef",
            "spi: 00000100",
            "identification: 10.9.0.0/24",
            "= RFC 3947 NAT-T",
            "tail:",
            &format!("offset: {} (after the ISAKMP length)", message.len()),
            "type: 2 (TRANSPORT, Noise transport message)",
            "body: 40 bytes",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        // The same message after the non-ESP marker reads the same, plus the marker.
        let mut natt = vec![0, 0, 0, 0];
        natt.extend_from_slice(&datagram);
        let (natt_text, errors) = decode_to_string(&natt, As::Auto, false);
        assert_eq!(errors, 0);
        assert!(
            natt_text.starts_with("nat-t: non-ESP marker"),
            "{natt_text}"
        );
        assert!(natt_text.ends_with(&text), "{natt_text}");
    }

    #[test]
    fn bytes_after_the_message_that_are_no_tail_are_an_error() {
        let mut datagram = informational();
        datagram.extend_from_slice(b"junk after the message");
        let (text, errors) = decode_to_string(&datagram, As::Ike, false);
        assert_eq!(errors, 1, "{text}");
        assert!(text.contains("tail:") && text.contains("error:"), "{text}");
    }

    #[test]
    fn every_truncation_and_corruption_decodes_without_panic() {
        let message = informational();
        let mut packet = Vec::new();
        // IPv4 + UDP 4500 + marker + message.
        let udp_len = 8 + 4 + message.len();
        packet.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0]);
        packet.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 1]);
        let total = (20 + udp_len) as u16;
        packet[2..4].copy_from_slice(&total.to_be_bytes());
        let sum = ipsec_xlat::wire::checksum::checksum(&packet[..20]);
        packet[10..12].copy_from_slice(&sum.to_be_bytes());
        packet.extend_from_slice(&4500u16.to_be_bytes());
        packet.extend_from_slice(&4500u16.to_be_bytes());
        packet.extend_from_slice(&(udp_len as u16).to_be_bytes());
        packet.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        packet.extend_from_slice(&message);
        let (text, errors) = decode_to_string(&packet, As::Auto, false);
        assert_eq!(errors, 0, "{text}");
        assert!(text.contains("checksum: 0x0000 (none)"), "{text}");
        for len in 0..packet.len() {
            let (text, errors) = decode_to_string(&packet[..len], As::Auto, false);
            assert!(
                errors > 0,
                "prefix of {len} bytes decoded without complaint:\n{text}"
            );
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut p = packet.clone();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state % p.len() as u64) as usize;
                p[i] ^= (state >> 32) as u8 | 1;
            }
            for kind in [As::Auto, As::Ike, As::Natt, As::Esp, As::Ah] {
                let _ = decode_to_string(&p, kind, false);
            }
        }
    }

    #[test]
    fn hex_input_forms() {
        assert_eq!(parse_hex("0x45 00:01\n02").unwrap(), vec![0x45, 0, 1, 2]);
        assert!(parse_hex("").is_err());
        assert!(parse_hex("4g").is_err());
        assert!(parse_hex("450").is_err());
    }
}
