//! The client as an [`Endpoint`]: the IKE client ([`ipsec_xlat::ike::Client`]) on the c-side
//! leg toward the relay, and the SA datapath between the TUN device and that leg.
//!
//! - IKE: with UDP encapsulation toward the relay (the default: `local.raw_esp` off), the
//!   client speaks IKE on the NAT-T ports from its first message (RFC 3947 allows starting
//!   there). Its IKE and its ESP then share one UDP flow, so the relay learns from the
//!   authenticated IKE exchange where the client's ESP comes from, NAT or not.
//! - TUN → relay: the newest child SA seals the inner packet with the s-side SPI and writes
//!   the c-side SPI ([`ClientOutboundSa`]); the IPsec part goes out as a UDP payload or by raw
//!   IP.
//! - relay → TUN: the SA whose c-side inbound SPI the packet carries restores the s-side SPI,
//!   verifies and opens ([`ClientInboundSa`]).
//! - The IKE core rekeys a child (a new quick mode under the same IKE SA) at 90% of its
//!   lifetime and deletes it when the lifetime ends; the datapath follows its events, the
//!   newest child sending and every live one receiving.
//!
//! - AH (alone or in an ESP+AH bundle) covers the outer IP header, so it is sealed over the
//!   header the SGW will see (the relay's s-side address to the SGW's, from the IKE core)
//!   with our own Identification, and then carries the c-side addresses and SPIs. It travels
//!   by raw IP with the header written here (`local.raw_ah` and `local.raw_header_included`):
//!   AH cannot be UDP-encapsulated, and the Identification and Total Length the ICV covers
//!   must leave exactly as sealed. The relay reproduces them on the s-side.

use core::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ipsec_xlat::ike::phase1::Phase1Config;
use ipsec_xlat::ike::phase2::{BundleSpis, ChildConfig};
use ipsec_xlat::ike::tail_crypto::{StaticKeypair, StaticPublicKey};
use ipsec_xlat::ike::{
    Client as IkeClient, ClientChild, ClientConfig as IkeConfig, ClientCounters, ClientEvent,
    RetransmitPolicy,
};
use ipsec_xlat::sa::{
    ClientInboundSa, ClientOutboundSa, InboundSa, OutboundSa, SaCounters, SideValues, Translation,
    TunnelHeader,
};
use ipsec_xlat::wire::IpProtocol as WireProtocol;
use rand::rngs::StdRng;
use rand::{CryptoRng, RngCore, SeedableRng};

use super::convert::{self, describe_child, Direction, SetupError};
use super::iv::IvSource;
use super::notice::{ChildSummary, Notice, Notifier};
use super::packet::{ipsec_part, outer_spi, wrap};
use super::ports::PortPair;
use super::queue::TxQueue;
use super::relay::cookies_hex;
use crate::config::ClientConfig;
use crate::endpoint::Endpoint;
use crate::path::{IpProtocol, Leg, NetPath, Path, Received, Transmit, Transport};

/// Room for what sealing adds to an inner packet (outer IPv6 header, ESP header, IV, padding,
/// trailer, ICV, AH).
const SEAL_OVERHEAD: usize = 256;

/// The client datapath's own counters (each SA counts its errors too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientAdapterCounters {
    /// Inner packets read from the TUN side.
    pub tun_packets: u64,
    /// Inner packets dropped because no child SA exists yet.
    pub no_sa: u64,
    /// Inner packets sealed and sent.
    pub sealed: u64,
    /// Inner packets the SA refused to seal.
    pub seal_errors: u64,
    /// ESP/AH packets received from the relay.
    pub ipsec_packets: u64,
    /// ... of which carried no c-side SPI of ours.
    pub unknown_spi: u64,
    /// ... of which failed translation or verification.
    pub open_errors: u64,
    /// Inner packets written to the TUN side.
    pub opened: u64,
    /// IKE datagrams handed to the IKE client.
    pub ike_datagrams: u64,
    /// Datagrams from elsewhere than the relay, keepalives, or unparseable.
    pub ignored: u64,
}

struct ChildPath {
    outbound: ClientOutboundSa,
    inbound: ClientInboundSa,
    /// The c-side SPI inbound packets carry first (AH's for a bundle).
    c_lookup: u32,
    iv: IvSource,
    summary: ChildSummary,
}

/// The client endpoint.
pub struct ClientEndpoint {
    ike: IkeClient,
    /// Our c-side address (possibly unspecified: the kernel chooses).
    local: IpAddr,
    relay: IpAddr,
    own: PortPair,
    relay_ports: PortPair,
    c_udp_encap: bool,
    raw_header_included: bool,
    children: Vec<ChildPath>,
    rng: StdRng,
    scratch: Vec<u8>,
    tx: TxQueue,
    failed: Option<String>,
    counters: ClientAdapterCounters,
    notifier: Notifier,
    status_file: Option<std::path::PathBuf>,
}

impl core::fmt::Debug for ClientEndpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientEndpoint")
            .field("relay", &self.relay)
            .field("children", &self.children.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl ClientEndpoint {
    /// A client from its validated configuration; `own` are the real ports of its c-side
    /// sockets. The IKE exchange starts at once (mm1 is queued). Returns warnings about
    /// configuration the cores cannot honour, for the caller to log.
    pub fn new<R: RngCore + CryptoRng>(
        config: &ClientConfig,
        own: PortPair,
        now: Instant,
        rng: &mut R,
    ) -> Result<(Self, Vec<String>), SetupError> {
        let mut warnings = Vec::new();
        let relay = config.relay.ike.ip();
        if !config.proposals.ah.is_empty() {
            if !config.local.raw_ah {
                return Err(SetupError::unsupported(
                    "local.raw_ah",
                    "AH covers the outer IP header and cannot be UDP-encapsulated: with \
                     `proposals.ah` the client sends AH by raw IP (raw_ah = true)",
                ));
            }
            if relay.is_ipv4() && !config.local.raw_header_included {
                return Err(SetupError::unsupported(
                    "local.raw_header_included",
                    "AH over IPv4 covers the Identification and Total Length, so the client \
                     writes the IPv4 header itself (raw_header_included = true)",
                ));
            }
        }
        let local = config
            .local
            .addresses
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == relay.is_ipv4())
            .ok_or_else(|| {
                SetupError::unsupported("local.addresses", "no address of the relay's family")
            })?;
        let c_udp_encap = !(config.local.raw_esp || config.local.raw_ah);
        let ike_port = if c_udp_encap {
            PortPair::STANDARD.natt
        } else {
            PortPair::STANDARD.ike
        };
        let core_local = SocketAddr::new(local, ike_port);
        let phase1 = Phase1Config {
            suites: convert::phase1_suites(&config.proposals.ike, &config.auth, &config.lifetimes)?,
            credentials: convert::credentials(&config.auth, convert::unix_now())?,
            local_id: convert::id_repr(&config.identity),
            local_addr: core_local,
            initial_contact: true,
        };
        let child = ChildConfig {
            proposals: convert::child_proposals(&config.proposals, &config.lifetimes)?,
            local_ts: convert::first_selector(
                &config.traffic_selectors.local,
                "traffic_selectors.local",
                &mut warnings,
            )?,
            remote_ts: convert::first_selector(
                &config.traffic_selectors.remote,
                "traffic_selectors.remote",
                &mut warnings,
            )?,
        };
        let ike = IkeClient::new(
            IkeConfig {
                local: core_local,
                relay: SocketAddr::new(relay, ike_port),
                static_key: StaticKeypair::from_private_bytes(*config.noise_private_key.as_bytes()),
                relay_key: StaticPublicKey(config.relay.noise_public_key.0),
                user_id: convert::user_id(&config.identity),
                phase1,
                child,
                c_udp_encap,
                retransmit: RetransmitPolicy::default(),
                // The core rekeys at 90% of a bundle's lifetime and deletes it at the end.
                auto_rekey: true,
            },
            now,
            rng,
        )
        .map_err(|e| SetupError::Inconsistent(format!("cannot start IKE: {e}")))?;
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let mut endpoint = Self {
            ike,
            local,
            relay,
            own,
            relay_ports: PortPair {
                ike: config.relay.ike.port(),
                natt: config.relay.natt_port,
            },
            c_udp_encap,
            raw_header_included: config.local.raw_header_included,
            children: Vec::new(),
            rng: StdRng::from_seed(seed),
            scratch: Vec::with_capacity(65_536),
            tx: TxQueue::default(),
            failed: None,
            counters: ClientAdapterCounters::default(),
            notifier: Notifier::default(),
            status_file: None,
        };
        endpoint.drain_ike(now);
        Ok((endpoint, warnings))
    }

    /// Send notices to `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Keep `path` up to date with the installed child SAs: one line per SA, oldest first,
    /// `IN OUT` with the s-side SPIs in hex (ESP's, or AH's for AH alone), as
    /// `swanctl --list-sas` shows them on the SGW with IN and OUT swapped. Scripts (the lab)
    /// read it; it is rewritten whole (write, then rename) whenever an SA comes or goes, and
    /// emptied when none is left.
    pub fn with_status_file(mut self, path: std::path::PathBuf) -> Self {
        self.status_file = Some(path);
        self.write_status();
        self
    }

    fn write_status(&self) {
        let Some(path) = &self.status_file else {
            return;
        };
        let mut text = String::new();
        for child in &self.children {
            let spi = |s: BundleSpis| s.esp.or(s.ah).unwrap_or(0);
            text.push_str(&format!(
                "{:08x} {:08x}\n",
                spi(child.summary.inbound),
                spi(child.summary.outbound)
            ));
        }
        let tmp = path.with_extension("tmp");
        let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(error) = result {
            tracing::warn!(%error, path = %path.display(), "cannot write the status file");
        }
    }

    /// Why the client gave up, once it has.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Whether a child SA carries traffic.
    pub fn is_established(&self) -> bool {
        !self.children.is_empty()
    }

    /// The IKE client's drop counters.
    pub fn ike_counters(&self) -> ClientCounters {
        self.ike.counters()
    }

    /// The datapath counters.
    pub fn counters(&self) -> ClientAdapterCounters {
        self.counters
    }

    /// Per child SA, newest last: (outbound counters, inbound counters).
    pub fn sa_counters(&self) -> Vec<(SaCounters, SaCounters)> {
        self.children
            .iter()
            .map(|c| (*c.outbound.sa().counters(), *c.inbound.sa().counters()))
            .collect()
    }

    /// Before exiting (SIGTERM): sends a DELETE for every child SA and then for the IKE SA,
    /// so that the SGW and the relay retire them at once, as `swanctl --terminate` does (an
    /// SGW left holding the IKE SA would trip over the next start). The DELETEs are queued;
    /// let the driver run one more turn to send them.
    pub fn begin_shutdown(&mut self, now: Instant) {
        let all: Vec<BundleSpis> = self.children.iter().map(|c| c.summary.inbound).collect();
        for spis in all {
            if let Err(error) = self.ike.delete_child(spis) {
                tracing::debug!(%error, "no DELETE sent for a child SA");
            }
        }
        if let Err(error) = self.ike.delete_phase1() {
            tracing::debug!(%error, "no DELETE sent for the IKE SA");
        }
        self.children.clear();
        self.write_status();
        self.drain_ike(now);
    }

    fn relay_path(&self, transport: Transport) -> Path {
        Path::Net(NetPath {
            leg: Leg::CSide,
            local: self.local,
            remote: self.relay,
            transport,
        })
    }

    fn drain_ike(&mut self, now: Instant) {
        while let Some(t) = self.ike.poll_transmit() {
            let path = self.relay_path(Transport::Udp {
                local_port: self.own.to_real(t.local.port()),
                remote_port: self.relay_ports.to_real(t.remote.port()),
            });
            self.tx.push(path, t.payload);
        }
        while let Some(event) = self.ike.poll_event() {
            match event {
                ClientEvent::Phase1Established { cookies, nat } => {
                    let cookies = cookies_hex(cookies.initiator, cookies.responder);
                    tracing::info!(s_cookies = %cookies, nat_t = nat.float(), "IKE SA established with the SGW through the relay");
                    self.notifier.send(Notice::ClientPhase1 {
                        cookies,
                        nat_t: nat.float(),
                    });
                }
                ClientEvent::ChildEstablished(child) => self.install(now, &child),
                ClientEvent::Failed(error) => {
                    tracing::error!(%error, "IKE failed");
                    let text = error.to_string();
                    self.notifier.send(Notice::ClientFailed(text.clone()));
                    self.failed = Some(text);
                }
                ClientEvent::Phase1Deleted { cookies, by_peer } => {
                    let cookies = cookies_hex(cookies.initiator, cookies.responder);
                    tracing::info!(s_cookies = %cookies, by_peer, "IKE SA deleted");
                    if by_peer {
                        // Nothing is left to carry traffic or rekey: stop, as after a failure,
                        // so that whoever runs us starts over.
                        let text = "the SGW deleted the IKE SA".to_string();
                        self.notifier.send(Notice::ClientFailed(text.clone()));
                        self.failed = Some(text);
                    }
                }
                ClientEvent::ChildDeleted {
                    s_spis_in, by_peer, ..
                } => {
                    let before = self.children.len();
                    self.children.retain(|c| c.summary.inbound != s_spis_in);
                    if self.children.len() < before {
                        tracing::info!(by_peer, "child SA deleted");
                        self.write_status();
                    }
                }
            }
        }
    }

    fn install(&mut self, now: Instant, child: &ClientChild) {
        match self.child_path(now, child) {
            Ok(path) => {
                tracing::info!(
                    suite = %path.summary.suite,
                    c_udp = self.c_udp_encap,
                    s_udp = child.s_udp_encap,
                    "child SA installed"
                );
                self.notifier
                    .send(Notice::ClientChild(path.summary.clone()));
                self.children.push(path);
                self.write_status();
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot install the child SA");
                let text = format!("cannot install the child SA: {e}");
                self.notifier.send(Notice::ClientFailed(text.clone()));
                self.failed = Some(text);
            }
        }
    }

    /// The datapath of one child. ESP's ICV covers neither outer address, so for ESP alone the
    /// header the SA writes carries our c-side addresses on both sides of the translation;
    /// only the SPIs differ between the s-side (what the keys were derived with) and the
    /// c-side. AH's ICV covers the outer addresses: its s-side is the path the SGW sees, the
    /// relay's s-side address and the SGW's, and the outbound header starts from a random
    /// Identification (DF set, so the kernel keeps whatever we write).
    fn child_path(&mut self, now: Instant, child: &ClientChild) -> Result<ChildPath, SetupError> {
        let sa = &child.sa;
        let (s_src, s_dst) = if sa.proposal.ah.is_some() {
            let (relay_s, sgw) = child.s_path;
            if relay_s.ip().is_unspecified() || sgw.ip().is_unspecified() {
                return Err(SetupError::Inconsistent(
                    "AH child SA without the s-side path from the relay".into(),
                ));
            }
            (relay_s.ip(), sgw.ip())
        } else {
            (self.local, self.relay)
        };
        let mut out_header = TunnelHeader::between(s_src, s_dst)
            .map_err(|e| SetupError::Inconsistent(e.to_string()))?;
        if let TunnelHeader::V4(h) = &mut out_header {
            h.ident = u16::try_from(self.rng.next_u32() >> 16).unwrap_or(1);
        }
        let in_header = TunnelHeader::between(s_dst, s_src)
            .map_err(|e| SetupError::Inconsistent(e.to_string()))?;
        let out_config = convert::sa_config(sa, Direction::Outbound, out_header)?;
        let in_config = convert::sa_config(sa, Direction::Inbound, in_header)?;
        let bad = |e: ipsec_xlat::sa::ConfigError| SetupError::Inconsistent(e.to_string());
        let side = |src, dst, spis: BundleSpis| SideValues {
            src,
            dst,
            esp_spi: spis.esp,
            ah_spi: spis.ah,
            udp_encap: None,
        };
        let outbound = ClientOutboundSa::new(
            OutboundSa::new(&out_config, now).map_err(bad)?,
            Translation {
                s_side: side(s_src, s_dst, sa.outbound_spis),
                c_side: side(self.local, self.relay, child.c_spis_out),
            },
        )
        .map_err(bad)?;
        let inbound = ClientInboundSa::new(
            InboundSa::new(&in_config, now).map_err(bad)?,
            Translation {
                s_side: side(s_dst, s_src, sa.inbound_spis),
                c_side: side(self.relay, self.local, child.c_spis_in),
            },
        )
        .map_err(bad)?;
        let c_lookup = child
            .c_spis_in
            .ah
            .or(child.c_spis_in.esp)
            .ok_or_else(|| SetupError::Inconsistent("child SA without c-side SPI".into()))?;
        let iv = IvSource::new(
            outbound.sa().iv_len(),
            sa.proposal.esp.is_some_and(|(c, _)| c.is_aead()),
        );
        Ok(ChildPath {
            outbound,
            inbound,
            c_lookup,
            iv,
            summary: ChildSummary {
                suite: describe_child(&sa.proposal),
                inbound: sa.inbound_spis,
                outbound: sa.outbound_spis,
                c_side: Some((child.c_spis_in, child.c_spis_out)),
            },
        })
    }

    fn seal(&mut self, now: Instant, inner: &[u8]) {
        self.counters.tun_packets = self.counters.tun_packets.saturating_add(1);
        let Some(child) = self.children.last_mut() else {
            self.counters.no_sa = self.counters.no_sa.saturating_add(1);
            return;
        };
        let mut buf = self.tx.buffer();
        buf.resize(inner.len().saturating_add(SEAL_OVERHEAD), 0);
        let mut iv_buf = [0u8; 16];
        let iv = child.iv.next(&mut self.rng, &mut iv_buf);
        let sealed = match child.outbound.seal(inner, iv, now, &mut buf) {
            Ok(sealed) => sealed,
            Err(error) => {
                tracing::debug!(%error, "seal failed");
                self.counters.seal_errors = self.counters.seal_errors.saturating_add(1);
                self.tx.recycle(buf);
                return;
            }
        };
        buf.truncate(sealed.len);
        let Some((start, protocol, len)) = ipsec_part(&buf) else {
            self.counters.seal_errors = self.counters.seal_errors.saturating_add(1);
            self.tx.recycle(buf);
            return;
        };
        buf.truncate(len);
        let transport = if self.c_udp_encap {
            buf.drain(..start);
            Transport::Udp {
                local_port: self.own.natt,
                remote_port: self.relay_ports.natt,
            }
        } else if self.raw_header_included && self.relay.is_ipv4() {
            Transport::Ip {
                protocol: IpProtocol(protocol.0),
                header_included: true,
            }
        } else {
            buf.drain(..start);
            Transport::Ip {
                protocol: IpProtocol(protocol.0),
                header_included: false,
            }
        };
        self.counters.sealed = self.counters.sealed.saturating_add(1);
        let path = self.relay_path(transport);
        self.tx.push(path, buf);
    }

    /// Opens an IPsec packet from the relay: `whole` says whether `bytes` start with the IP
    /// header (IPv4 raw sockets) or must have one put in front (`protocol` from `src`).
    fn open(
        &mut self,
        now: Instant,
        bytes: &[u8],
        whole: bool,
        protocol: WireProtocol,
        src: IpAddr,
        dst: IpAddr,
    ) {
        self.counters.ipsec_packets = self.counters.ipsec_packets.saturating_add(1);
        let mut packet = core::mem::take(&mut self.scratch);
        let built = if whole {
            packet.clear();
            packet.extend_from_slice(bytes);
            Some(())
        } else {
            wrap(src, dst, protocol, bytes, &mut packet)
        };
        let spi = built.and_then(|()| outer_spi(&packet));
        // Room to rebuild a longer SGW-side header in place (IPv4 client leg, IPv6 SGW leg);
        // the SA code reads the packet's length from its IP header, not from the slice.
        packet.resize(packet.len().saturating_add(ipsec_xlat::sa::INBOUND_ROOM), 0);
        let child = spi.and_then(|spi| self.children.iter_mut().find(|c| c.c_lookup == spi));
        match child {
            None => self.counters.unknown_spi = self.counters.unknown_spi.saturating_add(1),
            Some(child) => match child.inbound.open(&mut packet, now) {
                Ok(opened) => {
                    if !opened.is_dummy() {
                        self.counters.opened = self.counters.opened.saturating_add(1);
                        self.tx.push_copy(Path::Tun, opened.packet);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "inbound packet refused");
                    self.counters.open_errors = self.counters.open_errors.saturating_add(1);
                }
            },
        }
        self.scratch = packet;
    }
}

impl Endpoint for ClientEndpoint {
    fn handle_datagram(&mut self, now: Instant, rx: &Received, datagram: &[u8]) {
        let path = match rx.path {
            Path::Tun => {
                self.seal(now, datagram);
                return;
            }
            Path::Net(path) => path,
        };
        if path.remote.to_canonical() != self.relay.to_canonical() {
            self.counters.ignored = self.counters.ignored.saturating_add(1);
            return;
        }
        match path.transport {
            Transport::Udp {
                local_port,
                remote_port,
            } => {
                let natt = self.own.is_natt(local_port);
                if natt {
                    match datagram {
                        [0, 0, 0, 0, ..] => {}
                        [0xff] => {
                            self.counters.ignored = self.counters.ignored.saturating_add(1);
                            return;
                        }
                        _ => {
                            self.open(
                                now,
                                datagram,
                                false,
                                WireProtocol::ESP,
                                path.remote,
                                path.local,
                            );
                            return;
                        }
                    }
                }
                self.counters.ike_datagrams = self.counters.ike_datagrams.saturating_add(1);
                let local = SocketAddr::new(self.local, self.own.to_core(local_port));
                let remote = SocketAddr::new(self.relay, self.relay_ports.to_core(remote_port));
                self.ike.handle_datagram(now, local, remote, datagram);
                self.drain_ike(now);
            }
            Transport::Ip {
                protocol,
                header_included,
            } => self.open(
                now,
                datagram,
                header_included,
                WireProtocol(protocol.0),
                path.remote,
                path.local,
            ),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.ike.handle_timeout(now);
        for child in &mut self.children {
            child.outbound.sa_mut().handle_timeout(now);
            child.inbound.sa_mut().handle_timeout(now);
        }
        // The core deletes a bundle when its lifetime ends (ChildDeleted); an SA whose hard
        // limit passed without that (the DELETE was lost) goes here.
        let before = self.children.len();
        self.children
            .retain(|c| !(c.outbound.sa().is_expired() && c.inbound.sa().is_expired()));
        if self.children.len() < before {
            tracing::info!("expired child SA removed");
            self.write_status();
        }
        self.drain_ike(now);
    }

    fn poll_transmit(&mut self, _now: Instant, out: &mut [u8]) -> Option<Transmit> {
        self.tx.pop_into(out)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let sa = self
            .children
            .iter()
            .flat_map(|c| {
                [
                    c.outbound.sa().next_deadline(),
                    c.inbound.sa().next_deadline(),
                ]
            })
            .flatten();
        self.ike.poll_timeout().into_iter().chain(sa).min()
    }

    fn is_drained(&self) -> bool {
        self.failed.is_some() && self.tx.is_empty()
    }
}
