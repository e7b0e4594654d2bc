//! The ISAKMP header, its payload chain with typed fields, and our tail.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn decode_ike(out: &mut Out, bytes: &[u8]) {
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

pub(super) fn exchange_name(e: ExchangeType) -> Option<&'static str> {
    match e {
        ExchangeType::IDENTITY_PROTECTION => Some("IDENTITY_PROTECTION, main mode"),
        other => other.name(),
    }
}

pub(super) fn flags(f: Flags) -> String {
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

pub(super) fn decode_tail(out: &mut Out, rest: &[u8], offset: usize) {
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

pub(super) fn tail_type_name(t: TailType) -> Option<&'static str> {
    match t {
        TailType::HANDSHAKE => Some("HANDSHAKE, Noise handshake message"),
        TailType::TRANSPORT => Some("TRANSPORT, Noise transport message"),
        other => other.name(),
    }
}

pub(super) fn decode_payload(out: &mut Out, payload: &Payload<'_>) {
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

pub(super) fn identity(id: Identity<'_>, data: &[u8], out: &Out) -> String {
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

pub(super) fn subnet4(addr: Ipv4Addr, mask: Ipv4Addr) -> String {
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() == 32 {
        format!("{addr}/{}", bits.leading_ones())
    } else {
        format!("{addr} mask {mask}")
    }
}

pub(super) fn subnet6(addr: Ipv6Addr, mask: Ipv6Addr) -> String {
    let bits = u128::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() == 128 {
        format!("{addr}/{}", bits.leading_ones())
    } else {
        format!("{addr} mask {mask}")
    }
}

/// Vendor IDs seen in strongSwan 5.9's main mode (docs/LAB.md).
pub(super) fn vendor_name(data: &[u8]) -> Option<&'static str> {
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

pub(super) fn decode_sa(out: &mut Out, sa: &SaPayload<'_>) {
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

pub(super) fn attribute_line(
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
