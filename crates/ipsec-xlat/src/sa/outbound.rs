//! Outbound processing: seal an IP packet into ESP, AH or AH-over-ESP, in tunnel or transport
//! mode, into a buffer the caller owns. No allocation per packet.

use crate::time::Timestamp;

use crate::wire::ah::AhRepr;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::udp::{UdpPacket, UdpRepr, HEADER_LEN as UDP_HEADER_LEN};
use crate::wire::{IpProtocol, IpVersion};

use super::ah::AhTransform;
use super::config::SaConfig;
use super::counters::SaCounters;
use super::error::{ConfigError, SaError};
use super::esp::EspTransform;
use super::lifetime::{LifetimeEvent, LifetimeTracker};
use super::locate::{walk_ip_header, IpHeaderWalk};
use super::outer::{Mode, TunnelHeader, UdpEncap};
use super::sequence::SequenceCounter;

struct OutEsp {
    spi: u32,
    transform: EspTransform,
    seq: SequenceCounter,
}

struct OutAh {
    spi: u32,
    transform: AhTransform,
    seq: SequenceCounter,
}

/// The sending side of an SA (or ESP+AH bundle).
pub struct OutboundSa {
    mode: Mode,
    udp_encap: Option<UdpEncap>,
    esp: Option<OutEsp>,
    ah: Option<OutAh>,
    next_ident: u16,
    lifetime: LifetimeTracker,
    counters: SaCounters,
}

/// Result of a successful seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// Bytes written to the front of the output buffer: the complete IP packet.
    pub len: usize,
    /// Sequence number the ESP header carries (full 64 bits with ESN).
    pub esp_seq: Option<u64>,
    /// Sequence number the AH header carries.
    pub ah_seq: Option<u64>,
}

/// Where the pieces of the packet being built go.
struct Plan<'p> {
    version: IpVersion,
    /// Transport mode: the packet's own IP header (with options / extension headers) and the
    /// offset of its Protocol / Next Header byte.
    own_header: Option<(&'p [u8], usize)>,
    ip_header_len: usize,
    payload: &'p [u8],
    next_header: IpProtocol,
    udp_len: usize,
    ah_len: usize,
    total: usize,
}

impl OutboundSa {
    /// Builds the sending side from `config`, starting its lifetime at `now`.
    pub fn new(config: &SaConfig, now: Timestamp) -> Result<Self, ConfigError> {
        config.validate()?;
        let esp = match &config.esp {
            Some(e) => Some(OutEsp {
                spi: e.spi,
                transform: EspTransform::new(e.suite, &e.encryption_key, &e.integrity_key, e.esn)?,
                seq: SequenceCounter::new(e.esn),
            }),
            None => None,
        };
        let ah = match &config.ah {
            Some(a) => Some(OutAh {
                spi: a.spi,
                transform: AhTransform::new(a.integrity, &a.key, a.esn)?,
                seq: SequenceCounter::new(a.esn),
            }),
            None => None,
        };
        let next_ident = match config.mode {
            Mode::Tunnel(TunnelHeader::V4(h)) => h.ident,
            _ => 0,
        };
        Ok(Self {
            mode: config.mode,
            udp_encap: config.udp_encap,
            esp,
            ah,
            next_ident,
            lifetime: LifetimeTracker::new(config.lifetime, now),
            counters: SaCounters::default(),
        })
    }

    /// Bytes of IV (randomness) each [`seal`](Self::seal) needs: 16 for AES-CBC, 8 for
    /// AES-GCM, 0 for NULL and AH-only.
    pub fn iv_len(&self) -> usize {
        self.esp.as_ref().map_or(0, |e| e.transform.iv_len())
    }

    /// ESP SPI, if any.
    pub(crate) fn esp_spi(&self) -> Option<u32> {
        self.esp.as_ref().map(|e| e.spi)
    }

    /// AH SPI, if any.
    pub(crate) fn ah_spi(&self) -> Option<u32> {
        self.ah.as_ref().map(|a| a.spi)
    }

    /// The mode and (for tunnel mode) the outer header this SA emits.
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// Continues numbering at `next` for both ESP and AH (an SA resumed mid-stream, or a
    /// known-answer vector with a given sequence number).
    pub fn resume_sequence_at(&mut self, next: u64) {
        if let Some(e) = &mut self.esp {
            e.seq = SequenceCounter::starting_at(e.seq.esn(), next);
        }
        if let Some(a) = &mut self.ah {
            a.seq = SequenceCounter::starting_at(a.seq.esn(), next);
        }
    }

    /// Like [`resume_sequence_at`](Self::resume_sequence_at) for ESP and AH separately.
    pub fn resume_sequences_at(&mut self, esp_next: u64, ah_next: u64) {
        if let Some(e) = &mut self.esp {
            e.seq = SequenceCounter::starting_at(e.seq.esn(), esp_next);
        }
        if let Some(a) = &mut self.ah {
            a.seq = SequenceCounter::starting_at(a.seq.esn(), ah_next);
        }
    }

    /// Sets the IPv4 Identification the next tunnel-mode packet carries.
    pub fn set_next_ident(&mut self, ident: u16) {
        self.next_ident = ident;
    }

    /// Counters of this direction.
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }

    /// Counts an error met outside [`seal`](Self::seal) (e.g. in ICV translation).
    pub(crate) fn count_error(&mut self, e: &SaError) {
        self.counters.count(e);
    }

    /// Next lifetime event (soft: rekey; hard: the SA is dead), if any.
    pub fn poll_event(&mut self) -> Option<LifetimeEvent> {
        self.lifetime.poll_event()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.lifetime.next_deadline()
    }

    /// Fires time-based lifetime events due at `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.lifetime.handle_timeout(now);
    }

    /// Whether a hard lifetime limit ended this SA.
    pub fn is_expired(&self) -> bool {
        self.lifetime.is_expired()
    }

    /// Length of the sealed packet for `packet`, so the caller can size the output buffer.
    pub fn sealed_len(&self, packet: &[u8]) -> Result<usize, SaError> {
        self.plan(packet).map(|p| p.total)
    }

    /// Seals `packet` (tunnel mode: the inner IP packet; transport mode: the IP packet to
    /// protect) into the front of `out`, using `iv` ([`iv_len`](Self::iv_len) bytes, unique
    /// per packet under one key: random for CBC, never repeated for GCM).
    ///
    /// ESP and AH are computed with this SA's SPIs and outer header as configured — for a
    /// relayed client those are the s-side values; `super::translate` then writes the c-side
    /// values.
    pub fn seal(
        &mut self,
        packet: &[u8],
        iv: &[u8],
        now: Timestamp,
        out: &mut [u8],
    ) -> Result<Sealed, SaError> {
        let result = self.seal_inner(packet, iv, now, out);
        match &result {
            Ok(_) => self.counters.count_ok(packet.len()),
            Err(e) => self.counters.count(e),
        }
        result
    }

    fn plan<'p>(&self, packet: &'p [u8]) -> Result<Plan<'p>, SaError> {
        let (version, own_header, ip_header_len, payload, next_header) = match &self.mode {
            Mode::Tunnel(h) => {
                let inner = match IpVersion::of_packet(packet) {
                    Some(IpVersion::V4) => IpProtocol::IPV4,
                    Some(IpVersion::V6) => IpProtocol::IPV6,
                    None => {
                        return Err(SaError::BadPayload {
                            reason: "tunnel-mode payload is not an IPv4 or IPv6 packet",
                        })
                    }
                };
                (h.version(), None, h.len(), packet, inner)
            }
            Mode::Transport => transport_split(packet)?,
        };
        let udp_len = if self.udp_encap.is_some() {
            UDP_HEADER_LEN
        } else {
            0
        };
        let ah_len = match &self.ah {
            Some(a) => a.transform.header_len(version)?,
            None => 0,
        };
        let protected_len = match &self.esp {
            Some(e) => e.transform.sealed_len(payload.len()),
            None => Some(payload.len()),
        };
        let total = protected_len
            .and_then(|p| p.checked_add(ip_header_len))
            .and_then(|p| p.checked_add(udp_len))
            .and_then(|p| p.checked_add(ah_len))
            .filter(|&t| t <= usize::from(u16::MAX))
            .ok_or(SaError::TooLarge {
                len: payload.len().saturating_add(ip_header_len),
            })?;
        Ok(Plan {
            version,
            own_header,
            ip_header_len,
            payload,
            next_header,
            udp_len,
            ah_len,
            total,
        })
    }

    fn seal_inner(
        &mut self,
        packet: &[u8],
        iv: &[u8],
        now: Timestamp,
        out: &mut [u8],
    ) -> Result<Sealed, SaError> {
        self.lifetime.check(now)?;
        let esp_seq = self.esp.as_ref().map(|e| e.seq.peek()).transpose()?;
        let ah_seq = self.ah.as_ref().map(|a| a.seq.peek()).transpose()?;
        if iv.len() != self.iv_len() {
            return Err(SaError::BadIvLength {
                found: iv.len(),
                expected: self.iv_len(),
            });
        }
        let plan = self.plan(packet)?;
        let available = out.len();
        let out = out.get_mut(..plan.total).ok_or(SaError::BufferTooSmall {
            needed: plan.total,
            available,
        })?;
        let udp_off = plan.ip_header_len;
        let ah_off = udp_off.wrapping_add(plan.udp_len);
        let inner_off = ah_off.wrapping_add(plan.ah_len);
        let protected_len = plan.total.wrapping_sub(inner_off);

        // 1. ESP (or, for AH alone, the payload as it is).
        let inner = out.get_mut(inner_off..).unwrap_or_default();
        match (&self.esp, esp_seq) {
            (Some(e), Some(seq)) => {
                e.transform
                    .seal(e.spi, seq, iv, plan.payload, plan.next_header.0, inner)?
            }
            _ => inner.copy_from_slice(plan.payload),
        }

        // 2. UDP encapsulation header.
        if let Some(encap) = self.udp_encap {
            UdpRepr {
                src_port: encap.src_port,
                dst_port: encap.dst_port,
                payload_len: protected_len,
            }
            .emit(out.get_mut(udp_off..).unwrap_or_default())?;
        }

        // 3. AH header with a zero ICV.
        if let (Some(a), Some(seq)) = (&self.ah, ah_seq) {
            AhRepr {
                next_header: if self.esp.is_some() {
                    IpProtocol::ESP
                } else {
                    plan.next_header
                },
                spi: a.spi,
                seq: (seq & 0xffff_ffff) as u32,
                icv_len: a.transform.icv_len(),
                version: plan.version,
            }
            .emit(out.get_mut(ah_off..).unwrap_or_default())?;
        }

        // 4. The IP header in front.
        let first = if self.ah.is_some() {
            IpProtocol::AH
        } else if self.udp_encap.is_some() {
            IpProtocol::UDP
        } else {
            IpProtocol::ESP
        };
        match (&self.mode, plan.own_header) {
            (Mode::Tunnel(h), _) => {
                h.emit(
                    first,
                    plan.total.wrapping_sub(plan.ip_header_len),
                    self.next_ident,
                    out,
                )?;
            }
            (Mode::Transport, Some((header, nh_field))) => {
                write_transport_header(out, header, nh_field, first, plan.version, plan.total)?;
            }
            (Mode::Transport, None) => {
                return Err(SaError::BadPayload {
                    reason: "transport mode without an IP header",
                })
            }
        }
        // RFC 3948 §2.1: IPv4 may carry a zero UDP checksum; IPv6 must not (RFC 8200 §8.1).
        if self.udp_encap.is_some() && plan.version == IpVersion::V6 {
            let ip = Ipv6Packet::new_unchecked(&*out);
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            UdpPacket::new_unchecked(out.get_mut(udp_off..).unwrap_or_default())
                .fill_checksum_ipv6(src, dst);
        }

        // 5. AH's ICV over the finished packet.
        if let (Some(a), Some(seq)) = (&self.ah, ah_seq) {
            a.transform.sign(out, seq)?;
        }

        // Commit: only now are the sequence numbers used up.
        if let Some(e) = &mut self.esp {
            e.seq.take()?;
        }
        if let Some(a) = &mut self.ah {
            a.seq.take()?;
        }
        if let Mode::Tunnel(TunnelHeader::V4(h)) = self.mode {
            if h.ident_increments {
                self.next_ident = self.next_ident.wrapping_add(1);
            }
        }
        self.lifetime.record(packet.len());
        Ok(Sealed {
            len: plan.total,
            esp_seq,
            ah_seq,
        })
    }
}

/// Transport mode: splits `packet` into its IP header (IPv4 options / IPv6 extension headers
/// included) and the payload ESP/AH will protect.
#[allow(clippy::type_complexity)]
fn transport_split(
    packet: &[u8],
) -> Result<(IpVersion, Option<(&[u8], usize)>, usize, &[u8], IpProtocol), SaError> {
    let version = IpVersion::of_packet(packet).ok_or(SaError::BadPayload {
        reason: "transport-mode packet is not IPv4 or IPv6",
    })?;
    let IpHeaderWalk {
        header_len,
        next_header_field: nh_field,
        packet_len,
        protocol,
    } = walk_ip_header(packet, version)?;
    let header = packet.get(..header_len).unwrap_or_default();
    let payload = packet.get(header_len..packet_len).unwrap_or_default();
    Ok((
        version,
        Some((header, nh_field)),
        header_len,
        payload,
        protocol,
    ))
}

/// Copies the packet's own header in front of AH/ESP, pointing its Protocol / Next Header at
/// `first` and fixing the lengths (and the IPv4 checksum).
fn write_transport_header(
    out: &mut [u8],
    header: &[u8],
    nh_field: usize,
    first: IpProtocol,
    version: IpVersion,
    total: usize,
) -> Result<(), SaError> {
    let hl = header.len();
    out.get_mut(..hl)
        .ok_or(SaError::BufferTooSmall {
            needed: hl,
            available: total,
        })?
        .copy_from_slice(header);
    if let Some(b) = out.get_mut(nh_field) {
        *b = first.0;
    }
    let too_large = SaError::TooLarge { len: total };
    match version {
        IpVersion::V4 => {
            let mut ip = Ipv4Packet::new_unchecked(out);
            ip.set_total_len(u16::try_from(total).map_err(|_| too_large)?);
            ip.fill_checksum();
        }
        IpVersion::V6 => {
            let payload = total.saturating_sub(crate::wire::ipv6::HEADER_LEN);
            Ipv6Packet::new_unchecked(out)
                .set_payload_len(u16::try_from(payload).map_err(|_| too_large)?);
        }
    }
    Ok(())
}
