//! Inbound processing: verify and open a received ESP, AH or AH-over-ESP packet in place.
//!
//! Order per packet, for each of AH then ESP (RFC 4302 §3.4, RFC 4303 §3.4):
//! 1. locate the header, check the SPI belongs to this SA;
//! 2. infer the full sequence number (ESN) and check the replay window — cheap, so replays
//!    cost no crypto;
//! 3. verify the ICV (ESP: then decrypt; AES-GCM does both in one step);
//! 4. only now mark the sequence number as received, so a forgery cannot move the window;
//! 5. ESP: check the padding and Next Header of the decrypted trailer.

use crate::time::Timestamp;
use core::ops::Range;

use crate::wire::ah::AhPacket;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::{IpProtocol, IpVersion};

use super::ah::AhTransform;
use super::config::SaConfig;
use super::counters::SaCounters;
use super::error::{ConfigError, SaError};
use super::esp::{parse_trailer, EspTransform};
use super::lifetime::{LifetimeEvent, LifetimeTracker};
use super::locate::{locate, read_u32, Located};
use super::outer::Mode;
use super::replay::ReplayWindow;

struct InEsp {
    spi: u32,
    transform: EspTransform,
    window: ReplayWindow,
    esn: bool,
}

struct InAh {
    spi: u32,
    transform: AhTransform,
    window: ReplayWindow,
    esn: bool,
}

/// The receiving side of an SA (or ESP+AH bundle).
pub struct InboundSa {
    tunnel: bool,
    esp: Option<InEsp>,
    ah: Option<InAh>,
    lifetime: LifetimeTracker,
    counters: SaCounters,
}

/// A packet that verified.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// Tunnel mode: the inner IP packet. Transport mode: the IP packet with ESP/AH removed
    /// (its header moved up to the payload in the same buffer). For a dummy packet (Next
    /// Header 59): the discarded payload.
    pub packet: &'a [u8],
    /// Next Header of the innermost IPsec header (4 or 41 in tunnel mode).
    pub next_header: IpProtocol,
    /// ESP sequence number (full 64 bits with ESN).
    pub esp_seq: Option<u64>,
    /// AH sequence number.
    pub ah_seq: Option<u64>,
}

impl Opened<'_> {
    /// A traffic-flow-confidentiality dummy packet (RFC 4303 §2.6): to be dropped silently.
    pub fn is_dummy(&self) -> bool {
        self.next_header == IpProtocol::NO_NEXT_HEADER
    }
}

impl InboundSa {
    /// Builds the receiving side from `config`, starting its lifetime at `now`. Allocates the
    /// replay bitmaps here, once.
    pub fn new(config: &SaConfig, now: Timestamp) -> Result<Self, ConfigError> {
        config.validate()?;
        let esp = match &config.esp {
            Some(e) => Some(InEsp {
                spi: e.spi,
                transform: EspTransform::new(e.suite, &e.encryption_key, &e.integrity_key, e.esn)?,
                window: ReplayWindow::new(config.replay_window)?,
                esn: e.esn,
            }),
            None => None,
        };
        let ah = match &config.ah {
            Some(a) => Some(InAh {
                spi: a.spi,
                transform: AhTransform::new(a.integrity, &a.key, a.esn)?,
                window: ReplayWindow::new(config.replay_window)?,
                esn: a.esn,
            }),
            None => None,
        };
        Ok(Self {
            tunnel: matches!(config.mode, Mode::Tunnel(_)),
            esp,
            ah,
            lifetime: LifetimeTracker::new(config.lifetime, now),
            counters: SaCounters::default(),
        })
    }

    /// ESP SPI, if any.
    pub(crate) fn esp_spi(&self) -> Option<u32> {
        self.esp.as_ref().map(|e| e.spi)
    }

    /// AH SPI, if any.
    pub(crate) fn ah_spi(&self) -> Option<u32> {
        self.ah.as_ref().map(|a| a.spi)
    }

    /// The SPI a packet for this SA carries first: AH's in a bundle, else ESP's.
    pub(crate) fn lookup_spi(&self) -> u32 {
        self.ah
            .as_ref()
            .map(|a| a.spi)
            .or(self.esp.as_ref().map(|e| e.spi))
            .unwrap_or(0)
    }

    /// Resumes both replay windows as if `highest` had been received (SAs taken over
    /// mid-stream; known-answer vectors whose ESN high bits must be inferred).
    pub fn resume_replay_at(&mut self, highest: u64) {
        if let Some(e) = &mut self.esp {
            e.window.resume_at(highest);
        }
        if let Some(a) = &mut self.ah {
            a.window.resume_at(highest);
        }
    }

    /// Counters of this direction.
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }

    /// Counts an error met outside [`open`](Self::open) (e.g. in ICV translation).
    pub(crate) fn count_error(&mut self, e: &SaError) {
        self.counters.count(e);
    }

    /// Next lifetime event, if any.
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

    /// Verifies and opens `packet` (a whole IP packet) in place. On error the packet's bytes
    /// may only have changed if its ICV verified.
    pub fn open<'a>(
        &mut self,
        packet: &'a mut [u8],
        now: Timestamp,
    ) -> Result<Opened<'a>, SaError> {
        let located = locate(packet);
        let result = match located {
            Ok(loc) => self.open_located(packet, loc, now),
            Err(e) => Err(e),
        };
        match &result {
            Ok(o) if o.is_dummy() => self.counters.dummy = self.counters.dummy.saturating_add(1),
            Ok(o) => self.counters.count_ok(o.packet.len()),
            Err(e) => self.counters.count(e),
        }
        result
    }

    fn open_located<'a>(
        &mut self,
        packet: &'a mut [u8],
        loc: Located,
        now: Timestamp,
    ) -> Result<Opened<'a>, SaError> {
        self.lifetime.check(now)?;
        let packet_len = loc.packet_len;
        let available = packet.len();
        let packet = match packet.get_mut(..packet_len) {
            Some(p) => p,
            None => {
                return Err(SaError::Truncated {
                    what: "IP packet",
                    offset: 0,
                    needed: packet_len,
                    available,
                })
            }
        };
        let mut ah_seq = None;
        let mut esp_seq = None;
        // Range of the payload after all IPsec processing, and its Next Header.
        let (mut payload, mut next_header): (Range<usize>, IpProtocol);

        match (&mut self.ah, loc.ah) {
            (Some(ah), Some((ah_off, _))) => {
                let icv_len = ah.transform.icv_len();
                let view = AhPacket::new_checked_with(
                    packet.get(ah_off..).unwrap_or_default(),
                    icv_len,
                    loc.version,
                )?;
                if view.spi() != ah.spi {
                    return Err(SaError::SpiMismatch {
                        found: view.spi(),
                        expected: ah.spi,
                    });
                }
                let seq = full_seq(&ah.window, ah.esn, view.seq());
                ah.window.check(seq)?;
                let ah_len = view.header_len();
                let nh = view.next_header();
                ah.transform.verify(packet, seq)?;
                ah.window.accept(seq)?;
                ah_seq = Some(seq);
                let start = ah_off.saturating_add(ah_len);
                payload = start..packet_len;
                next_header = nh;
            }
            (Some(_), None) => {
                return Err(SaError::WrongProtocol {
                    found: first_protocol(&loc),
                    expected: IpProtocol::AH.0,
                })
            }
            (None, Some(_)) => {
                return Err(SaError::WrongProtocol {
                    found: IpProtocol::AH.0,
                    expected: IpProtocol::ESP.0,
                })
            }
            (None, None) => {
                payload = 0..0;
                next_header = IpProtocol::ESP;
            }
        }

        if let Some(esp) = &mut self.esp {
            let esp_off = match loc.esp {
                Some(off) if next_header == IpProtocol::ESP => off,
                _ => {
                    return Err(SaError::UnexpectedNextHeader {
                        found: next_header.0,
                    })
                }
            };
            let spi = read_u32(packet, esp_off);
            if spi != esp.spi {
                return Err(SaError::SpiMismatch {
                    found: spi,
                    expected: esp.spi,
                });
            }
            let seq_low = read_u32(packet, esp_off.saturating_add(4));
            let seq = full_seq(&esp.window, esp.esn, seq_low);
            esp.window.check(seq)?;
            let esp_bytes = packet.get_mut(esp_off..).unwrap_or_default();
            let plaintext = esp.transform.authenticate_and_decrypt(seq, esp_bytes)?;
            esp.window.accept(seq)?;
            esp_seq = Some(seq);
            let plaintext =
                plaintext.start.saturating_add(esp_off)..plaintext.end.saturating_add(esp_off);
            let (len, nh) = parse_trailer(packet.get(plaintext.clone()).unwrap_or_default())?;
            payload = plaintext.start..plaintext.start.saturating_add(len);
            next_header = IpProtocol(nh);
        }

        if next_header == IpProtocol::NO_NEXT_HEADER {
            self.lifetime.record(payload.len());
            let packet: &'a [u8] = packet;
            return Ok(Opened {
                packet: packet.get(payload).unwrap_or_default(),
                next_header,
                esp_seq,
                ah_seq,
            });
        }
        let range = if self.tunnel {
            check_tunnel_payload(packet.get(payload.clone()).unwrap_or_default(), next_header)?;
            payload
        } else {
            rebuild_transport(packet, &loc, payload, next_header)?
        };
        self.lifetime.record(range.len());
        let packet: &'a [u8] = packet;
        Ok(Opened {
            packet: packet.get(range).unwrap_or_default(),
            next_header,
            esp_seq,
            ah_seq,
        })
    }
}

fn full_seq(window: &ReplayWindow, esn: bool, seq_low: u32) -> u64 {
    if esn {
        window.infer_esn(seq_low)
    } else {
        u64::from(seq_low)
    }
}

fn first_protocol(loc: &Located) -> u8 {
    if loc.udp.is_some() {
        IpProtocol::UDP.0
    } else if loc.esp.is_some() {
        IpProtocol::ESP.0
    } else {
        IpProtocol::AH.0
    }
}

/// Tunnel mode carries a whole IP packet whose version matches the Next Header.
fn check_tunnel_payload(inner: &[u8], next_header: IpProtocol) -> Result<(), SaError> {
    let expected = match next_header {
        IpProtocol::IPV4 => IpVersion::V4,
        IpProtocol::IPV6 => IpVersion::V6,
        other => return Err(SaError::UnexpectedNextHeader { found: other.0 }),
    };
    if IpVersion::of_packet(inner) == Some(expected) {
        Ok(())
    } else {
        Err(SaError::BadPayload {
            reason: "inner packet version does not match the Next Header",
        })
    }
}

/// Transport mode: moves the packet's own IP header (options / extension headers included)
/// up against the payload, points its Protocol / Next Header at `next_header` and fixes the
/// lengths. Returns the range of the rebuilt packet.
fn rebuild_transport(
    packet: &mut [u8],
    loc: &Located,
    payload: Range<usize>,
    next_header: IpProtocol,
) -> Result<Range<usize>, SaError> {
    let hl = loc.ip_header_len;
    let start = payload.start.checked_sub(hl).ok_or(SaError::BadPayload {
        reason: "transport-mode payload overlaps the IP header",
    })?;
    packet.copy_within(0..hl, start);
    let rebuilt = packet
        .get_mut(start..payload.end)
        .ok_or(SaError::BadPayload {
            reason: "transport-mode payload outside the packet",
        })?;
    if let Some(b) = rebuilt.get_mut(loc.next_header_field) {
        *b = next_header.0;
    }
    let total = rebuilt.len();
    let too_large = SaError::TooLarge { len: total };
    match loc.version {
        IpVersion::V4 => {
            let mut ip = Ipv4Packet::new_unchecked(rebuilt);
            ip.set_total_len(u16::try_from(total).map_err(|_| too_large)?);
            ip.fill_checksum();
        }
        IpVersion::V6 => {
            let len = total.saturating_sub(crate::wire::ipv6::HEADER_LEN);
            Ipv6Packet::new_unchecked(rebuilt)
                .set_payload_len(u16::try_from(len).map_err(|_| too_large)?);
        }
    }
    Ok(start..payload.end)
}
