//! End to end in memory, with the real relay: client seal -> relay rewrite -> SGW open, and
//! SGW seal -> relay rewrite -> client open, for every suite, ESP, AH and AH+ESP, IPv4 and IPv6
//! outer, raw IP and UDP on each leg where the protocol allows.
//!
//! The client and the SGW are `sa`'s: the client computes every ICV over the gateway-leg
//! values and writes the client-leg ones (`ClientOutboundSa`/`ClientInboundSa`); the SGW is a
//! plain `OutboundSa`/`InboundSa` that knows nothing of the relay. For AH with a client leg
//! of another IP version or over UDP, the gateway leg's IPv4 Identification crosses the
//! client leg in AH's Reserved field (the relay's module docs); the wire bytes of that
//! carriage are checked here independently of both implementations.
//!
//! The translation is sufficient (every packet opens) and necessary: a relay that leaves the
//! client-leg SPI, or gets an immutable outer field wrong, makes the SGW's ICV check fail,
//! while mutable fields may change freely.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod relay_support;

use ipsec_xlat::Timestamp;
use std::net::{IpAddr, SocketAddr};

use ipsec_xlat::relay::{
    Action, Arrival, BundleShape, Datapath, DatapathConfig, Framing, LegTransport, Outgoing, Table,
    TableConfig,
};
use ipsec_xlat::sa::{
    AhConfig, ClientInboundSa, ClientOutboundSa, EspConfig, EspSuite, InboundSa, Integrity,
    Lifetime, Mode, OutboundSa, SaConfig, SaError, SecretKey, SideValues, Translation,
    TunnelHeader, UdpEncap, DEFAULT_REPLAY_WINDOW, INBOUND_ROOM,
};
use ipsec_xlat::wire::encap::AH_IN_UDP_MARKER;
use ipsec_xlat::wire::ipv4::{Ipv4Options, Ipv4Repr};
use ipsec_xlat::wire::ipv6::Ipv6Repr;
use ipsec_xlat::wire::udp::{UdpPacket, UdpRepr};
use ipsec_xlat::wire::IpProtocol;
use relay_support::{client_path, entry, gateway_path, t, Kind, C1, C2, KINDS, S2, S3};

// ---------------------------------------------------------------------------------------
// Scenarios

#[derive(Debug, Clone, Copy)]
struct Scenario {
    esp: Option<(&'static str, EspSuite, usize)>,
    ah: Option<Integrity>,
    client: Kind,
    gateway: Kind,
}

impl Scenario {
    fn shape(&self) -> BundleShape {
        match (self.ah, self.esp) {
            (None, _) => BundleShape::Esp,
            (Some(_), None) => BundleShape::Ah,
            (Some(_), Some(_)) => BundleShape::AhEsp,
        }
    }

    fn name(&self) -> String {
        format!(
            "{}{}{} client {:?} gateway {:?}",
            self.ah.map_or(String::new(), |i| format!("ah {i:?}")),
            if self.ah.is_some() && self.esp.is_some() {
                " + "
            } else {
                ""
            },
            self.esp
                .map_or(String::new(), |(n, _, _)| format!("esp {n}")),
            self.client,
            self.gateway
        )
    }
}

fn esp_suites() -> Vec<(&'static str, EspSuite, usize)> {
    vec![
        ("aes128-gcm16", EspSuite::AES_GCM_16, 16 + 4),
        ("aes256-gcm16", EspSuite::AES_GCM_16, 32 + 4),
        ("aes128-cbc-sha256", EspSuite::AES_CBC_HMAC_SHA256, 16),
        ("aes256-cbc-sha1", EspSuite::AES_CBC_HMAC_SHA1, 32),
        ("null-sha256", EspSuite::NULL_HMAC_SHA256, 0),
        ("null-sha1", EspSuite::NULL_HMAC_SHA1, 0),
    ]
}

const AH_INTEGRITY: [Integrity; 2] = [Integrity::HmacSha256_128, Integrity::HmacSha1_96];

fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for suite in esp_suites() {
        for client in KINDS {
            for gateway in KINDS {
                out.push(Scenario {
                    esp: Some(suite),
                    ah: None,
                    client,
                    gateway,
                });
            }
        }
        for ah in AH_INTEGRITY {
            for (client, gateway) in ah_legs() {
                out.push(Scenario {
                    esp: Some(suite),
                    ah: Some(ah),
                    client,
                    gateway,
                });
            }
        }
    }
    for ah in AH_INTEGRITY {
        for (client, gateway) in ah_legs() {
            out.push(Scenario {
                esp: None,
                ah: Some(ah),
                client,
                gateway,
            });
        }
    }
    out
}

/// Leg combinations for AH: never UDP toward the SGW; any client leg.
fn ah_legs() -> Vec<(Kind, Kind)> {
    let mut out = Vec::new();
    for gateway in [Kind::Ipv4, Kind::Ipv6] {
        for client in KINDS {
            out.push((client, gateway));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// SAs

fn key(len: usize, seed: u8) -> SecretKey {
    let bytes: Vec<u8> = (0..len)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
        .collect();
    SecretKey::new(&bytes)
}

/// One direction's SA as the SGW knows it: SPIs `(ah, esp)`, tunnel `src -> dst`.
fn sa_config(
    s: &Scenario,
    (ah_spi, esp_spi): (u32, u32),
    src: IpAddr,
    dst: IpAddr,
    seed: u8,
) -> SaConfig {
    let esp = s.esp.map(|(_, suite, enc_len)| EspConfig {
        spi: esp_spi,
        suite,
        encryption_key: key(enc_len, seed),
        integrity_key: suite
            .integrity
            .map_or_else(SecretKey::default, |i| key(i.key_len(), seed + 1)),
        esn: false,
    });
    let ah = s.ah.map(|integrity| AhConfig {
        spi: ah_spi,
        integrity,
        key: key(integrity.key_len(), seed + 2),
        esn: false,
    });
    let udp_encap = match s.gateway {
        Kind::UdpV4 | Kind::UdpV6 => Some(UdpEncap::NAT_T),
        _ => None,
    };
    SaConfig {
        mode: Mode::Tunnel(TunnelHeader::between(src, dst).unwrap()),
        esp,
        ah,
        udp_encap,
        replay_window: DEFAULT_REPLAY_WINDOW,
        lifetime: Lifetime::UNLIMITED,
    }
}

fn spis_of(s: &Scenario, (ah, esp): (u32, u32)) -> (Option<u32>, Option<u32>) {
    (s.ah.map(|_| ah), s.esp.map(|_| esp))
}

fn side(
    s: &Scenario,
    src: IpAddr,
    dst: IpAddr,
    spis: (u32, u32),
    udp: Option<UdpEncap>,
) -> SideValues {
    let (ah_spi, esp_spi) = spis_of(s, spis);
    SideValues {
        src,
        dst,
        esp_spi,
        ah_spi,
        udp_encap: udp,
    }
}

/// The UDP encapsulation of a leg, seen by the sender `from_peer` (peer to relay) or not.
fn udp_of(path: &ipsec_xlat::relay::LegPath, from_peer: bool) -> Option<UdpEncap> {
    match path.transport {
        LegTransport::Ip => None,
        LegTransport::Udp {
            relay_port,
            peer_port,
        } if from_peer => Some(UdpEncap {
            src_port: peer_port,
            dst_port: relay_port,
        }),
        LegTransport::Udp {
            relay_port,
            peer_port,
        } => Some(UdpEncap {
            src_port: relay_port,
            dst_port: peer_port,
        }),
    }
}

/// Client, relay and SGW for one scenario.
struct World {
    s: Scenario,
    relay: Datapath,
    client_out: ClientOutboundSa,
    client_in: ClientInboundSa,
    sgw_in: InboundSa,
    sgw_out: OutboundSa,
    now: Timestamp,
    iv: u8,
}

impl World {
    fn new(s: Scenario) -> Self {
        let now = Timestamp::ZERO;
        let (cp, gp) = (client_path(s.client), gateway_path(s.gateway));
        let mut table = Table::new(TableConfig::default());
        table.insert(entry(s.shape(), cp, gp), t(0)).unwrap();
        let relay = Datapath::new(table, DatapathConfig::default());

        // Client -> SGW: sealed for s-SPI-3 over relay_s -> sgw.
        let up = sa_config(&s, S3, gp.relay_addr, gp.peer_addr, 10);
        let up_translation = Translation {
            s_side: side(&s, gp.relay_addr, gp.peer_addr, S3, up.udp_encap),
            c_side: side(&s, cp.peer_addr, cp.relay_addr, C2, udp_of(&cp, true)),
        };
        // SGW -> client: sealed for s-SPI-2 over sgw -> relay_s.
        let down = sa_config(&s, S2, gp.peer_addr, gp.relay_addr, 20);
        let down_translation = Translation {
            s_side: side(&s, gp.peer_addr, gp.relay_addr, S2, down.udp_encap),
            c_side: side(&s, cp.relay_addr, cp.peer_addr, C1, udp_of(&cp, false)),
        };
        let client_out =
            ClientOutboundSa::new(OutboundSa::new(&up, now).unwrap(), up_translation).unwrap();
        let client_in =
            ClientInboundSa::new(InboundSa::new(&down, now).unwrap(), down_translation).unwrap();
        Self {
            s,
            relay,
            client_out,
            client_in,
            sgw_in: InboundSa::new(&up, now).unwrap(),
            sgw_out: OutboundSa::new(&down, now).unwrap(),
            now,
            iv: 0,
        }
    }

    fn next_iv(&mut self) -> Vec<u8> {
        self.iv = self.iv.wrapping_add(1);
        vec![self.iv; 16]
    }

    /// The client seals `inner`: the whole client-leg packet it puts on the wire.
    fn client_sends(&mut self, inner: &[u8]) -> Vec<u8> {
        let iv = self.next_iv();
        let mut out = vec![0u8; inner.len() + 200];
        let sa = &mut self.client_out;
        let n = sa
            .seal(inner, &iv[..sa.sa().iv_len()], self.now, &mut out)
            .unwrap()
            .len;
        out.truncate(n);
        out
    }

    /// The SGW seals `inner`: the whole gateway-leg packet.
    fn sgw_sends(&mut self, inner: &[u8]) -> Vec<u8> {
        let iv = self.next_iv();
        let mut out = vec![0u8; inner.len() + 200];
        let n = self
            .sgw_out
            .seal(inner, &iv[..self.sgw_out.iv_len()], self.now, &mut out)
            .unwrap()
            .len;
        out.truncate(n);
        out
    }

    /// The relay forwards a whole packet that arrived on a leg of kind `kind`; returns the
    /// whole packet as the kernel would put it on the other leg.
    fn relay(&mut self, kind: Kind, packet: &[u8]) -> Vec<u8> {
        let (arrival, bytes) = arrival_of(kind, packet);
        let mut out = vec![0u8; bytes.len() + 64];
        match self.relay.rewrite(t(1), arrival, &bytes, &mut out) {
            Action::Forward(transmit) => as_sent(&transmit),
            Action::Drop(reason) => panic!("{}: relay dropped: {reason}", self.s.name()),
        }
    }

    /// The client opens a whole client-leg packet.
    /// The buffer has `INBOUND_ROOM` spare bytes after the packet, as `ClientInboundSa::open`
    /// asks.
    fn client_receives(&mut self, mut packet: Vec<u8>) -> Result<Vec<u8>, SaError> {
        packet.resize(packet.len() + INBOUND_ROOM, 0xee);
        self.client_in
            .open(&mut packet, self.now)
            .map(|o| o.packet.to_vec())
    }
}

// ---------------------------------------------------------------------------------------
// Packets between whole IP packets and the relay's arrivals and transmits

fn ip_header_len(packet: &[u8]) -> usize {
    if packet[0] >> 4 == 4 {
        usize::from(packet[0] & 0x0f) * 4
    } else {
        40
    }
}

fn addresses(packet: &[u8]) -> (IpAddr, IpAddr) {
    if packet[0] >> 4 == 4 {
        let a = |at: usize| IpAddr::from(<[u8; 4]>::try_from(&packet[at..at + 4]).unwrap());
        (a(12), a(16))
    } else {
        let a = |at: usize| IpAddr::from(<[u8; 16]>::try_from(&packet[at..at + 16]).unwrap());
        (a(8), a(24))
    }
}

/// How a whole packet reaches the relay over a leg of kind `kind`.
fn arrival_of(kind: Kind, packet: &[u8]) -> (Arrival, Vec<u8>) {
    match kind {
        Kind::Ipv4 | Kind::Ipv6 => (Arrival::Ip, packet.to_vec()),
        Kind::UdpV4 | Kind::UdpV6 => {
            let ip = ip_header_len(packet);
            let udp = UdpPacket::new_checked(&packet[ip..]).unwrap();
            let (src, dst) = addresses(packet);
            let arrival = Arrival::Udp {
                src: SocketAddr::new(src, udp.src_port()),
                dst: SocketAddr::new(dst, udp.dst_port()),
            };
            (arrival, udp.payload().to_vec())
        }
    }
}

/// The whole packet the kernel puts on the wire for `transmit`.
fn as_sent(transmit: &Outgoing<'_>) -> Vec<u8> {
    match transmit.framing {
        Framing::Ipv4 { .. } => transmit.bytes.to_vec(),
        Framing::Ipv6 {
            src,
            dst,
            next_header,
        } => with_ip_header(
            IpAddr::V6(src),
            IpAddr::V6(dst),
            next_header,
            transmit.bytes,
        ),
        Framing::Udp { src, dst } => {
            let mut datagram = vec![0u8; 8 + transmit.bytes.len()];
            UdpRepr {
                src_port: src.port(),
                dst_port: dst.port(),
                payload_len: transmit.bytes.len(),
            }
            .emit(&mut datagram)
            .unwrap();
            datagram[8..].copy_from_slice(transmit.bytes);
            if let (IpAddr::V6(s), IpAddr::V6(d)) = (src.ip(), dst.ip()) {
                UdpPacket::new_unchecked(&mut datagram[..]).fill_checksum_ipv6(s, d);
            }
            with_ip_header(src.ip(), dst.ip(), IpProtocol::UDP, &datagram)
        }
    }
}

fn with_ip_header(src: IpAddr, dst: IpAddr, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    let header = match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut h = vec![0u8; 20];
            Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                protocol,
                payload_len: payload.len(),
                ttl: 64,
                tos: 0,
                ident: 0x5555,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                options: Ipv4Options::EMPTY,
            }
            .emit(&mut h)
            .unwrap();
            h
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut h = vec![0u8; 40];
            Ipv6Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: protocol,
                payload_len: payload.len(),
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut h)
            .unwrap();
            h
        }
        _ => panic!("mixed addresses"),
    };
    [header, payload.to_vec()].concat()
}

fn inner(len: usize, fill: u8) -> Vec<u8> {
    // An IPv4 UDP packet 10.8.0.1 -> 10.9.0.5 of `len` bytes (checksum left 0: opaque here).
    let mut p = vec![fill; len];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[4..10].copy_from_slice(&[0, 1, 0x40, 0, 64, 17]);
    p[12..16].copy_from_slice(&[10, 8, 0, 1]);
    p[16..20].copy_from_slice(&[10, 9, 0, 5]);
    set_ipv4_header_checksum(&mut p);
    p
}

/// Recomputes the header checksum of the option-less IPv4 header at the front of `p`
/// (RFC 791), here rather than through the crate so the tests do not trust what they test.
fn set_ipv4_header_checksum(p: &mut [u8]) {
    p[10..12].fill(0);
    let mut sum = 0u32;
    for pair in p[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn every_suite_and_leg_combination_gets_through_both_ways() {
    let mut count = 0;
    for s in scenarios() {
        let mut w = World::new(s);
        for (n, len) in [28usize, 100, 1400].into_iter().enumerate() {
            let up = inner(len, n as u8);
            let on_client_leg = w.client_sends(&up);
            let on_gateway_leg = w.relay(s.client, &on_client_leg);
            let opened = w
                .sgw_in
                .open(&mut on_gateway_leg.clone(), w.now)
                .map(|o| o.packet.to_vec());
            assert_eq!(
                opened.as_deref(),
                Ok(&up[..]),
                "{} up, {len} bytes",
                s.name()
            );

            let down = inner(len, 0x80 | n as u8);
            let from_sgw = w.sgw_sends(&down);
            let to_client = w.relay(s.gateway, &from_sgw);
            assert_eq!(
                w.client_receives(to_client).as_deref(),
                Ok(&down[..]),
                "{} down, {len} bytes",
                s.name()
            );
        }
        assert_eq!(w.relay.counters().dropped_total(), 0);
        count += 1;
    }
    // 6 ESP suites x 16 leg pairs, 6 x 2 AH x 8 for AH+ESP, 2 x 8 for AH.
    assert_eq!(count, 6 * 16 + 6 * 2 * 8 + 2 * 8);
}

/// The SGW's inbound SA for one scenario with its SPIs replaced by `spis`, keys unchanged:
/// what an SGW would check a packet with other SPIs against.
fn sgw_in_with(s: &Scenario, spis: (u32, u32)) -> InboundSa {
    let gp = gateway_path(s.gateway);
    InboundSa::new(
        &sa_config(s, spis, gp.relay_addr, gp.peer_addr, 10),
        Timestamp::ZERO,
    )
    .unwrap()
}

/// Opens `packet` at a fresh copy of the SGW's inbound SA (no replay state carried over).
fn sgw_opens(s: &Scenario, packet: &[u8]) -> Result<(), SaError> {
    let mut packet = packet.to_vec();
    sgw_in_with(s, S3)
        .open(&mut packet, Timestamp::ZERO)
        .map(|_| ())
}

/// Bits of the gateway-leg outer header (name, byte, bit) that AH covers (immutable) and
/// does not (mutable).
struct OuterFields {
    immutable: Vec<(&'static str, usize, u8)>,
    mutable: Vec<(&'static str, usize, u8)>,
}

fn outer_fields(v4: bool) -> OuterFields {
    if v4 {
        OuterFields {
            immutable: vec![
                ("source", 12, 1),
                ("destination", 19, 1),
                ("identification", 5, 1),
            ],
            mutable: vec![
                ("tos", 1, 0x10),
                ("don't fragment", 6, 0x40),
                ("ttl", 8, 0x10),
            ],
        }
    } else {
        OuterFields {
            immutable: vec![("source", 8, 1), ("destination", 39, 1)],
            mutable: vec![
                ("traffic class", 1, 0x10),
                ("flow label", 3, 0x10),
                ("hop limit", 7, 0x10),
            ],
        }
    }
}

fn flipped(packet: &[u8], at: usize, bit: u8) -> Vec<u8> {
    let mut p = packet.to_vec();
    p[at] ^= bit;
    if p[0] >> 4 == 4 {
        // Keep the header checksum right: only the ICV should judge.
        set_ipv4_header_checksum(&mut p);
    }
    p
}

#[test]
fn translation_is_necessary_a_wrong_spi_or_immutable_field_fails_the_sgw() {
    for s in scenarios() {
        let mut w = World::new(s);
        let on_client_leg = w.client_sends(&inner(200, 7));
        let good = w.relay(s.client, &on_client_leg);
        assert_eq!(sgw_opens(&s, &good), Ok(()), "{}", s.name());

        // A relay that left the client-leg SPI(s): the SGW's SA with those SPIs and the same
        // keys refuses the ICV, because the ICV (or GCM's AAD) covers the SPI.
        let mut untranslated = good.clone();
        let ipsec = ip_header_len(&good)
            + if matches!(s.gateway, Kind::UdpV4 | Kind::UdpV6) {
                8
            } else {
                0
            };
        match s.shape() {
            BundleShape::Esp => untranslated[ipsec..ipsec + 4].copy_from_slice(&C2.1.to_be_bytes()),
            _ => untranslated[ipsec + 4..ipsec + 8].copy_from_slice(&C2.0.to_be_bytes()),
        }
        let mut with_c_spis = sgw_in_with(&s, C2);
        assert_eq!(
            with_c_spis
                .open(&mut untranslated, Timestamp::ZERO)
                .map(|_| ()),
            Err(SaError::BadIcv),
            "{}: untranslated SPI",
            s.name()
        );

        let fields = outer_fields(good[0] >> 4 == 4);
        if s.ah.is_some() {
            // AH: every immutable outer field is covered; a relay that got one wrong fails.
            for (name, at, bit) in &fields.immutable {
                assert_eq!(
                    sgw_opens(&s, &flipped(&good, *at, *bit)),
                    Err(SaError::BadIcv),
                    "{}: {name}",
                    s.name()
                );
            }
            // A wrong Reserved (the client-leg Identification carrier left in place) fails too.
            assert_eq!(
                sgw_opens(&s, &flipped(&good, ipsec + 3, 0x01)),
                Err(SaError::BadIcv),
                "{}: reserved",
                s.name()
            );
        }
        // Mutable fields (and for ESP the whole outer header) may change in transit.
        for (name, at, bit) in &fields.mutable {
            assert_eq!(
                sgw_opens(&s, &flipped(&good, *at, *bit)),
                Ok(()),
                "{}: {name}",
                s.name()
            );
        }
        if s.ah.is_none() && !matches!(s.gateway, Kind::UdpV4 | Kind::UdpV6) {
            for (name, at, bit) in &fields.immutable {
                assert_eq!(
                    sgw_opens(&s, &flipped(&good, *at, *bit)),
                    Ok(()),
                    "{}: ESP {name}",
                    s.name()
                );
            }
        }
    }
}

#[test]
fn an_sgw_packet_with_a_wrong_spi_or_address_fails_the_client() {
    for s in scenarios() {
        let mut w = World::new(s);
        let from_sgw = w.sgw_sends(&inner(120, 9));
        let good = w.relay(s.gateway, &from_sgw);
        // Untranslated: the gateway-leg SPI on the client leg is not the client's SA.
        let ipsec = ip_header_len(&good)
            + if matches!(s.client, Kind::UdpV4 | Kind::UdpV6) {
                8
            } else {
                0
            };
        let mut wrong = good.clone();
        let spi_at = match s.shape() {
            BundleShape::Esp => ipsec,
            _ if matches!(s.client, Kind::UdpV4 | Kind::UdpV6) => ipsec + 4 + 4,
            _ => ipsec + 4,
        };
        wrong[spi_at] ^= 0x40;
        assert!(
            w.client_receives(wrong).is_err(),
            "{}: wrong SPI opened",
            s.name()
        );
        // And the real one still opens (the failure above did not advance the window).
        assert!(w.client_receives(good).is_ok(), "{}", s.name());
    }
}

#[test]
fn the_relay_never_holds_what_it_would_need_to_decrypt() {
    // The relay's entry type holds addresses, ports, SPIs and a deadline: nothing secret.
    let e = entry(
        BundleShape::AhEsp,
        client_path(Kind::Ipv4),
        gateway_path(Kind::Ipv4),
    );
    let shown = format!("{e:?}");
    for word in ["key", "Key", "secret", "Secret"] {
        assert!(!shown.contains(word), "{shown}");
    }
}

/// The AH header of a whole packet on a leg of kind `kind`: its offset, after the UDP header
/// and the marker on a UDP leg.
fn ah_at(kind: Kind, packet: &[u8]) -> usize {
    let ip = ip_header_len(packet);
    match kind {
        Kind::Ipv4 | Kind::Ipv6 => ip,
        Kind::UdpV4 | Kind::UdpV6 => {
            assert_eq!(
                packet[ip + 8..ip + 12],
                AH_IN_UDP_MARKER,
                "AH over UDP without its marker"
            );
            ip + 12
        }
    }
}

fn reserved_at(packet: &[u8], ah: usize) -> u16 {
    u16::from_be_bytes([packet[ah + 2], packet[ah + 3]])
}

fn ident_of(packet: &[u8]) -> u16 {
    u16::from_be_bytes([packet[4], packet[5]])
}

#[test]
fn ah_identification_crosses_the_client_leg_as_the_relay_contract_says() {
    for s in scenarios().into_iter().filter(|s| s.ah.is_some()) {
        let mut w = World::new(s);
        w.client_out.sa_mut().set_next_ident(0x1234);
        w.sgw_out.set_next_ident(0xabcd);
        let gateway_v4 = matches!(s.gateway, Kind::Ipv4);
        let carried_in_reserved = gateway_v4 && s.client != Kind::Ipv4;

        // Up: the client's Identification rides in Reserved unless its leg is raw IPv4, and
        // the gateway leg gets it in its IPv4 header with Reserved 0.
        let on_client_leg = w.client_sends(&inner(100, 1));
        let ah = ah_at(s.client, &on_client_leg);
        let expected_reserved = if carried_in_reserved { 0x1234 } else { 0 };
        assert_eq!(
            reserved_at(&on_client_leg, ah),
            expected_reserved,
            "{} up",
            s.name()
        );
        if s.client == Kind::Ipv4 && gateway_v4 {
            assert_eq!(ident_of(&on_client_leg), 0x1234, "{} up", s.name());
        }
        let on_gateway_leg = w.relay(s.client, &on_client_leg);
        assert_eq!(
            reserved_at(&on_gateway_leg, ip_header_len(&on_gateway_leg)),
            0
        );
        if gateway_v4 {
            assert_eq!(ident_of(&on_gateway_leg), 0x1234, "{} up", s.name());
        }
        assert_eq!(sgw_opens(&s, &on_gateway_leg), Ok(()), "{}", s.name());

        // Down: the SGW's Identification reaches the client the same way.
        let from_sgw = w.sgw_sends(&inner(100, 2));
        let to_client = w.relay(s.gateway, &from_sgw);
        let ah = ah_at(s.client, &to_client);
        let expected_reserved = if carried_in_reserved { 0xabcd } else { 0 };
        assert_eq!(
            reserved_at(&to_client, ah),
            expected_reserved,
            "{} down",
            s.name()
        );
        if s.client == Kind::Ipv4 && gateway_v4 {
            assert_eq!(ident_of(&to_client), 0xabcd, "{} down", s.name());
        }
        assert!(w.client_receives(to_client).is_ok(), "{} down", s.name());
    }
}

#[test]
fn a_wrong_carried_identification_fails_the_client() {
    // The carried Identification is covered: a relay that lost it (Reserved zeroed, or the
    // client-leg header's Identification changed) makes the client's ICV check fail.
    for s in scenarios()
        .into_iter()
        .filter(|s| s.ah.is_some() && s.gateway == Kind::Ipv4)
    {
        let mut w = World::new(s);
        w.sgw_out.set_next_ident(0xabcd);
        let from_sgw = w.sgw_sends(&inner(100, 3));
        let good = w.relay(s.gateway, &from_sgw);
        let wrong = if s.client == Kind::Ipv4 {
            flipped(&good, 5, 0x01)
        } else {
            let mut p = good.clone();
            let ah = ah_at(s.client, &p);
            p[ah + 3] ^= 0x01;
            if matches!(s.client, Kind::UdpV6) {
                // Keep the UDP checksum right: only the ICV should judge.
                let ip = ip_header_len(&p);
                let (IpAddr::V6(src), IpAddr::V6(dst)) = addresses(&p) else {
                    unreachable!()
                };
                UdpPacket::new_unchecked(&mut p[ip..]).fill_checksum_ipv6(src, dst);
            }
            p
        };
        assert_eq!(
            w.client_receives(wrong),
            Err(SaError::BadIcv),
            "{}",
            s.name()
        );
        assert!(w.client_receives(good).is_ok(), "{}", s.name());
    }
}
