//! The fast path: ESP between IPv4 addresses, for an entry in compact form, arriving
//! UDP-encapsulated (toward either kind of leg) or over raw IPv4 toward a UDP leg. (Raw IPv4
//! to raw IPv4 carries outer header fields across, which is the general path's business.)
//!
//! This is nearly all of a busy relay's traffic, and at a million entries its cost is set by
//! instructions as much as by memory: the general path (`arrival::parse`, `decide`) handles
//! every transport, AH, bundles and IPv6, and builds a [`Parsed`](super::arrival::Parsed) of
//! addresses and options for it. Here a packet is peeked at (its SPI and socket addresses, no
//! more), looked up, and checked against its leg's [`LegLine`](super::table::LegLine) in a few
//! integer comparisons. Whatever it does not take, including every packet to be dropped, goes
//! to the general path, which decides it from scratch: the fast path is a shortcut to the same
//! outcome, never a different decision (a property test holds the two to that).

use core::net::{SocketAddr, SocketAddrV4};
use core::ops::Range;

use super::action::Framing;
use super::arrival::Arrival;
use super::index::Role;
use super::rewrite::{write_ipv4_header, Datapath, OuterIpv4};
use super::spi::{IpsecProtocol, FIRST_USABLE_SPI};
use super::table::CompactExit;
use crate::net::Leg;
use crate::time::Timestamp;
use crate::wire::esp::{self, EspPacket};
use crate::wire::{ipv4, IpProtocol};

/// What the fast path reads of a received packet before looking it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Peek {
    /// The ESP SPI.
    pub(super) spi: u32,
    /// Source and destination (port 0 over raw IP).
    src: SocketAddrV4,
    dst: SocketAddrV4,
    /// Whether it came UDP-encapsulated (else raw IPv4).
    udp: bool,
    /// Where the ESP packet starts in the received bytes (after a raw IPv4 header).
    esp_start: usize,
    /// Length of the ESP packet.
    len: usize,
}

/// Peeks at a received packet that is ESP between IPv4 addresses, either a UDP payload or a
/// whole IPv4 packet without options or fragmentation: at least an ESP header with an SPI of
/// 256 or more (not a keepalive, not IKE's non-ESP marker, not our AH marker). Anything else
/// is the general path's.
#[inline(always)]
pub(super) fn peek(arrival: &Arrival, received: &[u8]) -> Option<Peek> {
    let (src, dst, udp, esp) = match *arrival {
        Arrival::Udp {
            src: SocketAddr::V4(src),
            dst: SocketAddr::V4(dst),
        } => (src, dst, true, received),
        Arrival::Ip => {
            let plain = ipv4::peek_plain(received, IpProtocol::ESP)?;
            (
                SocketAddrV4::new(plain.src, 0),
                SocketAddrV4::new(plain.dst, 0),
                false,
                plain.payload,
            )
        }
        _ => return None,
    };
    let spi = esp::peek_spi(esp)?;
    (spi >= FIRST_USABLE_SPI).then_some(Peek {
        spi,
        src,
        dst,
        udp,
        esp_start: if udp { 0 } else { ipv4::MIN_HEADER_LEN },
        len: esp.len(),
    })
}

impl Peek {
    /// The ESP packet within the received bytes it was peeked from.
    pub(super) fn esp_part<'p>(&self, received: &'p [u8]) -> Option<&'p [u8]> {
        received.get(self.esp_start..self.esp_start.checked_add(self.len)?)
    }

    /// The same packet copied to the front of a buffer of its own: ESP first.
    pub(super) fn moved_to_front(self) -> Self {
        Self {
            esp_start: 0,
            ..self
        }
    }
}

impl Datapath {
    /// Forwards in place a packet at `buf[start..]` that the fast path takes, `peek` being
    /// what [`peek`] saw of it and `role` its SPI's: writes its ESP SPI (and, toward raw IPv4,
    /// an IPv4 header just before it) and accounts for it. Returns where the outgoing bytes
    /// are, the leg they leave by and how; `None` (nothing written, nothing counted) when the
    /// fast path does not take it, for the general path to decide. When it does take it, the
    /// outcome is the general path's, byte for byte.
    #[inline(always)]
    pub(super) fn fast_forward(
        &mut self,
        now: Timestamp,
        peek: &Peek,
        role: Role,
        buf: &mut [u8],
        start: usize,
    ) -> Option<(Range<usize>, Leg, Framing)> {
        let exit = self.fast_exit(peek, role)?;
        self.forward_by(now, peek, role, exit, buf, start)
    }

    /// [`Datapath::fast_forward`] once the line has accepted the packet and said how it leaves
    /// (`exit`): for a caller that already asked the line.
    #[inline(always)]
    pub(super) fn forward_by(
        &mut self,
        now: Timestamp,
        peek: &Peek,
        role: Role,
        exit: CompactExit,
        buf: &mut [u8],
        start: usize,
    ) -> Option<(Range<usize>, Leg, Framing)> {
        let start = start.checked_add(peek.esp_start)?;
        let end = start.checked_add(peek.len)?;
        let (range, framing) = match exit.udp() {
            Some((src, dst)) => {
                buf.get(start..end)?;
                (start..end, Framing::Udp { src, dst })
            }
            // Raw IPv4 to raw IPv4 carries outer fields over: the general path's.
            None if !peek.udp => return None,
            None => {
                // Toward raw IPv4: the relay writes the header, as `finish` does for a packet
                // that came without one (nothing to carry over).
                let total_len = u16::try_from(peek.len.checked_add(ipv4::MIN_HEADER_LEN)?).ok()?;
                let begin = start.checked_sub(ipv4::MIN_HEADER_LEN)?;
                let (src, dst) = exit.ipv4();
                let head = buf.get_mut(begin..end)?.get_mut(..ipv4::MIN_HEADER_LEN)?;
                write_ipv4_header(
                    head,
                    &OuterIpv4 {
                        tos: 0,
                        total_len,
                        ident: 0,
                        dont_frag: true,
                        ttl: self.config().ttl,
                        protocol: IpProtocol::ESP,
                        src,
                        dst,
                    },
                );
                (begin..end, Framing::Ipv4 { src, dst })
            }
        };
        if let Some(esp) = buf.get_mut(start..end) {
            EspPacket::new_unchecked(esp).set_spi(exit.out_esp);
        }
        let to = role.leg.other();
        self.account(role.slot, role.leg, peek.len, now);
        Some((range, to, framing))
    }

    /// How a peeked packet whose SPI has `role` leaves, if the fast path takes it.
    #[inline(always)]
    fn fast_exit(&self, peek: &Peek, role: Role) -> Option<CompactExit> {
        if role.protocol != IpsecProtocol::Esp {
            return None;
        }
        self.table()
            .line(role.slot, role.leg)?
            .forward_esp(peek.spi, peek.src, peek.dst, peek.udp)
    }

    /// For a `packet` the fast path may take: what it saw, its SPI's role, how it leaves, and
    /// how many bytes of outer header it will leave with (0 toward UDP, 20 toward raw IPv4).
    /// [`Peek::esp_part`] is what to copy out of it.
    #[inline(always)]
    pub(super) fn fast_prefix(
        &self,
        arrival: &Arrival,
        packet: &[u8],
    ) -> Option<(Peek, Role, CompactExit, usize)> {
        let peek = peek(arrival, packet)?;
        let role = self.table().find_live(peek.spi)?;
        let exit = self.fast_exit(&peek, role)?;
        let prefix = match exit.udp() {
            Some(_) => 0,
            None if !peek.udp => return None,
            None => ipv4::MIN_HEADER_LEN,
        };
        Some((peek, role, exit, prefix))
    }

    /// [`Datapath::fast_forward`] for a packet at `buf[start..]`, from the peek on.
    #[inline(always)]
    pub(super) fn try_fast(
        &mut self,
        now: Timestamp,
        arrival: &Arrival,
        buf: &mut [u8],
        start: usize,
    ) -> Option<(Range<usize>, Leg, Framing)> {
        let peek = peek(arrival, buf.get(start..)?)?;
        let role = self.table().find_live(peek.spi)?;
        self.fast_forward(now, &peek, role, buf, start)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr};

    use proptest::prelude::*;

    use super::*;
    use crate::relay::entry::{Entry, LegPath, LegTransport, Partition};
    use crate::relay::rewrite::DatapathConfig;
    use crate::relay::spi::{Spi, SpiSet};
    use crate::relay::table::{Table, TableConfig};

    const CLIENT_SPI: u32 = 0x0c0c_0002;
    const GATEWAY_SPI: u32 = 0x5555_0002;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, last))
    }

    fn entry(client_port: u16, gateway_udp: bool) -> Entry {
        let spi = |v: u32| Spi::new(v).unwrap();
        Entry {
            client: Partition {
                path: LegPath {
                    relay_addr: v4(1),
                    peer_addr: v4(7),
                    transport: LegTransport::Udp {
                        relay_port: 4500,
                        peer_port: client_port,
                    },
                },
                relay_spis: SpiSet::esp(spi(CLIENT_SPI)),
                peer_spis: SpiSet::esp(spi(0x0c0c_0001)),
            },
            gateway: Partition {
                path: LegPath {
                    relay_addr: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
                    peer_addr: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)),
                    transport: if gateway_udp {
                        LegTransport::Udp {
                            relay_port: 4500,
                            peer_port: 4500,
                        }
                    } else {
                        LegTransport::Ip
                    },
                },
                relay_spis: SpiSet::esp(spi(GATEWAY_SPI)),
                peer_spis: SpiSet::esp(spi(0x5555_0003)),
            },
            expires_at: Timestamp::NEVER,
        }
    }

    fn relay(entry: &Entry) -> Datapath {
        let mut table = Table::new(TableConfig::default());
        table.insert(*entry, Timestamp::from_millis(0)).unwrap();
        Datapath::new(table, DatapathConfig::default())
    }

    /// What one path made of a packet: the bytes sent, the leg and framing, and the relay's
    /// counters and the entry's activity afterwards.
    type Outcome = Option<(Vec<u8>, Leg, Framing)>;

    fn by_fast(relay: &mut Datapath, arrival: &Arrival, buf: &mut [u8], start: usize) -> Outcome {
        let (range, leg, framing) =
            relay.try_fast(Timestamp::from_millis(5), arrival, buf, start)?;
        Some((buf.get(range)?.to_vec(), leg, framing))
    }

    fn by_general(
        relay: &mut Datapath,
        arrival: &Arrival,
        buf: &mut [u8],
        start: usize,
    ) -> Outcome {
        let plan = relay.general_plan(arrival, buf.get(start..)?).ok()?;
        let range = plan.region_in_place(start)?;
        let (leg, framing) = relay
            .finish(Timestamp::from_millis(5), plan, buf.get_mut(range.clone())?)
            .ok()?;
        Some((buf.get(range)?.to_vec(), leg, framing))
    }

    #[derive(Debug, Clone, Copy)]
    enum Change {
        None,
        SrcAddr,
        SrcPort,
        DstAddr,
        DstPort,
        Spi(u32),
        Length(usize),
        /// IPv4 flags and fragment offset (raw IPv4 only, as the rest below).
        Fragment(u16),
        /// One byte of the IPv4 header (version/IHL, protocol...).
        HeaderByte(usize, u8),
        /// Total Length off by this much.
        TotalLen(i32),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            4 => Just(Change::None),
            1 => Just(Change::SrcAddr),
            1 => Just(Change::SrcPort),
            1 => Just(Change::DstAddr),
            1 => Just(Change::DstPort),
            1 => any::<u32>().prop_map(Change::Spi),
            1 => (0usize..8).prop_map(Change::Length),
            1 => prop_oneof![Just(0x2000u16), Just(0x0001), Just(0x4000), Just(0x8000)]
                .prop_map(Change::Fragment),
            1 => (prop_oneof![Just(0usize), Just(9)], any::<u8>())
                .prop_map(|(at, v)| Change::HeaderByte(at, v)),
            1 => (-30i32..30).prop_map(Change::TotalLen),
        ]
    }

    #[test]
    fn rewrite_into_a_second_buffer_starts_the_packet_at_its_front() {
        for gateway_udp in [true, false] {
            let mut relay = relay(&entry(1024, gateway_udp));
            let mut packet = vec![7u8; 100];
            packet[..4].copy_from_slice(&CLIENT_SPI.to_be_bytes());
            let arrival = Arrival::Udp {
                src: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 1024)),
                dst: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 4500)),
            };
            let mut out = vec![0u8; 200];
            let out_start = out.as_ptr();
            let crate::relay::Action::Forward(sent) =
                relay.rewrite(Timestamp::from_millis(1), arrival, &packet, &mut out)
            else {
                panic!("dropped");
            };
            assert_eq!(sent.bytes.as_ptr(), out_start, "gateway UDP {gateway_udp}");
            let prefix = if gateway_udp { 0 } else { 20 };
            assert_eq!(sent.bytes.len(), prefix + packet.len());
            assert_eq!(
                &sent.bytes[prefix..prefix + 4],
                &0x5555_0003u32.to_be_bytes()
            );
            assert_eq!(&sent.bytes[prefix + 4..], &packet[4..], "payload untouched");
            assert_eq!(relay.counters().dropped_total(), 0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Whenever the fast path takes a packet, the general path makes the same bytes, leg,
        /// framing, counters and activity of it; when it does not, it has written and counted
        /// nothing. And it does take the well-formed packets of a compact entry.
        #[test]
        fn the_fast_path_is_a_shortcut_to_the_general_paths_outcome(
            client_port in 1024u16..1100,
            gateway_udp in any::<bool>(),
            from_gateway in any::<bool>(),
            change in change(),
            headroom in prop_oneof![Just(0usize), Just(8), Just(20)],
            len in 8usize..300,
            fill in any::<u8>(),
        ) {
            let entry = entry(client_port, gateway_udp);
            // A packet from the SGW over raw IP is not the fast path's (nor UDP).
            // From the SGW over raw IP the packet is a whole IPv4 packet.
            let raw = from_gateway && !gateway_udp;
            let (mut src, mut dst, mut spi) = if from_gateway {
                let port = if raw { 0 } else { 4500 };
                (
                    SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 2), port),
                    SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), port),
                    GATEWAY_SPI,
                )
            } else {
                (
                    SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), client_port),
                    SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 4500),
                    CLIENT_SPI,
                )
            };
            let mut len = len;
            let mut header = [
                0x45, 0x10, 0, 0, 0x12, 0x34, 0x40, 0, 61, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ];
            let mut total_len_delta = 0i32;
            match change {
                Change::None => {}
                Change::SrcAddr => src.set_ip(Ipv4Addr::new(198, 51, 100, 99)),
                Change::SrcPort => src.set_port(src.port() ^ 1),
                Change::DstAddr => dst.set_ip(Ipv4Addr::new(198, 51, 100, 98)),
                Change::DstPort => dst.set_port(4501),
                Change::Spi(other) => spi = other,
                Change::Length(short) => len = short,
                Change::Fragment(flags) => header[6..8].copy_from_slice(&flags.to_be_bytes()),
                Change::HeaderByte(at, value) => header[at] = value,
                Change::TotalLen(delta) => total_len_delta = delta,
            }
            let mut esp = vec![fill; len];
            if let Some(field) = esp.get_mut(..4) {
                field.copy_from_slice(&spi.to_be_bytes());
            }
            let mut packet = vec![fill; headroom];
            let arrival = if raw {
                let total_len = (20 + len as i32 + total_len_delta).clamp(0, 65535) as u16;
                header[2..4].copy_from_slice(&total_len.to_be_bytes());
                header[12..16].copy_from_slice(&src.ip().octets());
                header[16..20].copy_from_slice(&dst.ip().octets());
                packet.extend_from_slice(&header);
                Arrival::Ip
            } else {
                Arrival::Udp { src: SocketAddr::V4(src), dst: SocketAddr::V4(dst) }
            };
            packet.extend_from_slice(&esp);

            let (mut fast_relay, mut general_relay) = (relay(&entry), relay(&entry));
            let mut fast_buf = packet.clone();
            let fast = by_fast(&mut fast_relay, &arrival, &mut fast_buf, headroom);
            match &fast {
                Some(outcome) => {
                    let general = by_general(&mut general_relay, &arrival, &mut packet, headroom);
                    prop_assert_eq!(Some(outcome), general.as_ref());
                    prop_assert_eq!(fast_relay.counters(), general_relay.counters());
                    let id = entry.id().unwrap();
                    prop_assert_eq!(
                        fast_relay.table().activity(id),
                        general_relay.table().activity(id)
                    );
                }
                None => {
                    prop_assert_eq!(&fast_buf, &packet, "nothing written");
                    prop_assert_eq!(fast_relay.counters(), general_relay.counters());
                }
            }
            let toward_raw_ipv4 = !from_gateway && !gateway_udp;
            let well_formed = match change {
                Change::None | Change::SrcPort | Change::DstPort => raw || matches!(change, Change::None),
                _ => false,
            };
            if well_formed && (headroom == 20 || !toward_raw_ipv4) {
                prop_assert!(fast.is_some(), "the fast path takes a well-formed packet");
            }
        }
    }
}
