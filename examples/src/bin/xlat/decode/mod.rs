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

mod ike;
mod ip;
mod pcap;
#[cfg(test)]
mod tests;

use ike::decode_ike;
use ip::{decode_ah, decode_esp, decode_ip, decode_natt};
use pcap::decode_pcap;

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
