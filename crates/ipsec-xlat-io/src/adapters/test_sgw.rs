//! The test-SGW as an [`Endpoint`]: a plain IKEv1 responder ([`ipsec_xlat::ike::TestSgw`],
//! which knows nothing of relays) and the SA datapath between its leg and its TUN device (the
//! LAN behind it).
//!
//! Like any SGW it sees the relay's s-side address as its peer, with whatever ports it really
//! uses: the adapter maps only its own sockets to the standard ports. A relay whose s-side
//! sockets are not on 500/4500 therefore looks NAT-ed to it, and quick mode moves to UDP
//! encapsulation, exactly as strongSwan would behave.
//!
//! - leg → TUN: ESP-in-UDP on the NAT-T port or ESP/AH by raw IP is opened by the SA its SPI
//!   names; the inner source address is remembered as reachable through that SA.
//! - TUN → leg: the inner destination picks the SA (learnt as above; until then the newest
//!   one), which seals; the result leaves by UDP to the peer's NAT-T address or by raw IP.

use core::net::{IpAddr, SocketAddr};
use ipsec_xlat::Timestamp;
use std::collections::HashMap;

use ipsec_xlat::ike::phase1::Phase1Config;
use ipsec_xlat::ike::phase2::{BundleSpis, ChildConfig, ChildSa, Encapsulation};
use ipsec_xlat::ike::{RetransmitPolicy, SgwEvent, TestSgw, TestSgwConfig as IkeConfig};
use ipsec_xlat::sa::{InboundSa, OutboundSa, SaCounters, TunnelHeader};
use ipsec_xlat::wire::isakmp::ProtocolId;
use ipsec_xlat::wire::IpProtocol as WireProtocol;
use rand::rngs::StdRng;
use rand::{CryptoRng, RngCore, SeedableRng};

use super::convert::{self, SetupError};
use super::key_log::key_log_lines;
use super::notice::{ChildSummary, Notice, Notifier};
use crate::config::TestSgwConfig;
use crate::Endpoint;
use crate::{IpProtocol, Leg, NetPath, Path, Received, Transmit, Transport};
use ipsec_xlat::ike::phase2::{describe_child, Direction};
use ipsec_xlat::net::PortPair;
use ipsec_xlat::net::TxQueue;
use ipsec_xlat::sa::IvSource;
use ipsec_xlat::wire::ipsec_packet::{inner_addresses, ipsec_part, outer_spi, wrap};

const SEAL_OVERHEAD: usize = 256;

/// Inner addresses remembered per SA at most (a test tool, but bounded all the same).
const MAX_ROUTES: usize = 4096;

/// The test-SGW datapath's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SgwAdapterCounters {
    /// IKE datagrams handed to the IKE responder.
    pub ike_datagrams: u64,
    /// ESP/AH packets received.
    pub ipsec_packets: u64,
    /// ... for no SA of ours.
    pub unknown_spi: u64,
    /// ... refused by their SA.
    pub open_errors: u64,
    /// Inner packets written to the TUN side.
    pub opened: u64,
    /// Inner packets read from the TUN side.
    pub tun_packets: u64,
    /// ... dropped for want of an SA.
    pub no_sa: u64,
    /// ... sealed and sent.
    pub sealed: u64,
    /// ... the SA refused to seal.
    pub seal_errors: u64,
    /// Keepalives and other datagrams not for us.
    pub ignored: u64,
}

struct SgwChild {
    peer: SocketAddr,
    local: IpAddr,
    udp: bool,
    inbound: InboundSa,
    outbound: OutboundSa,
    lookup: u32,
    /// Our inbound SPIs, which our DELETE names when we terminate.
    in_spis: BundleSpis,
    out_spis: BundleSpis,
    iv: IvSource,
}

/// The test-SGW endpoint.
pub struct TestSgwEndpoint {
    ike: TestSgw,
    own: PortPair,
    header_included: bool,
    /// Our address per peer, from the IKE exchange (the address the peer talks to).
    local_for: HashMap<IpAddr, IpAddr>,
    default_local: IpAddr,
    children: Vec<SgwChild>,
    /// Inner address → index into `children`.
    routes: HashMap<IpAddr, usize>,
    rng: StdRng,
    scratch: Vec<u8>,
    tx: TxQueue,
    counters: SgwAdapterCounters,
    notifier: Notifier,
    /// Where to write each installed SA's keys (see [`super::key_log`]), if asked to.
    key_log: Option<Box<dyn std::io::Write + Send>>,
}

impl core::fmt::Debug for TestSgwEndpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestSgwEndpoint")
            .field("children", &self.children.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl TestSgwEndpoint {
    /// A test-SGW from its validated configuration; `own` are the real ports of its sockets.
    pub fn new<R: RngCore + CryptoRng>(
        config: &TestSgwConfig,
        own: PortPair,
        rng: &mut R,
    ) -> Result<(Self, Vec<String>), SetupError> {
        let mut warnings = Vec::new();
        let default_local = *config
            .listen
            .addresses
            .first()
            .ok_or_else(|| SetupError::unsupported("listen.addresses", "needs an address"))?;
        if config.force_udp_encapsulation {
            warnings.push(
                "`force_udp_encapsulation`: the IKE core cannot force NAT-T yet; it is used \
                 when NAT detection asks for it (e.g. a relay on non-standard ports)"
                    .into(),
            );
        }
        if !config.proposals.ah.is_empty()
            && config.listen.raw_ah
            && !config.listen.raw_header_included
            && default_local.is_ipv4()
        {
            return Err(SetupError::unsupported(
                "listen.raw_header_included",
                "AH over IPv4 needs it: AH's ICV covers the Identification and Total Length \
                 the kernel would otherwise choose",
            ));
        }
        let local_id = match &config.identity {
            Some(identity) => convert::id_repr(identity),
            None => ipsec_xlat::wire::isakmp::IdRepr::address(default_local),
        };
        let phase1 = Phase1Config {
            suites: convert::phase1_suites(&config.proposals.ike, &config.auth, &config.lifetimes)?,
            credentials: convert::credentials(&config.auth, convert::unix_now())?,
            local_id,
            local_addr: SocketAddr::new(default_local, PortPair::STANDARD.ike),
            initial_contact: false,
        };
        let child = ChildConfig {
            proposals: convert::child_proposals(&config.proposals, &config.lifetimes)?,
            local_ts: convert::first_selector(&config.lan, "lan", &mut warnings)?,
            remote_ts: convert::first_selector(&config.tun.routes, "tun.routes", &mut warnings)?,
        };
        let ike = TestSgw::new(
            IkeConfig {
                phase1,
                child,
                retransmit: RetransmitPolicy::default(),
            },
            rng,
        );
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Ok((
            Self {
                ike,
                own,
                header_included: config.listen.raw_header_included,
                local_for: HashMap::new(),
                default_local,
                children: Vec::new(),
                routes: HashMap::new(),
                rng: StdRng::from_seed(seed),
                scratch: Vec::with_capacity(65_536),
                tx: TxQueue::default(),
                counters: SgwAdapterCounters::default(),
                notifier: Notifier::default(),
                key_log: None,
            },
            warnings,
        ))
    }

    /// Send notices to `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// The datapath counters.
    pub fn counters(&self) -> SgwAdapterCounters {
        self.counters
    }

    /// Per child SA: (outbound counters, inbound counters).
    pub fn sa_counters(&self) -> Vec<(SaCounters, SaCounters)> {
        self.children
            .iter()
            .map(|c| (*c.outbound.counters(), *c.inbound.counters()))
            .collect()
    }

    /// Terminates every established IKE SA as `swanctl --terminate --ike` does on strongSwan:
    /// a DELETE naming the inbound SPIs of each of its bundles, then one for the ISAKMP SA; the
    /// bundles leave the datapath. Returns how many IKE SAs were terminated.
    pub fn terminate_all(&mut self, now: Timestamp) -> usize {
        let mut terminated = 0;
        for (cookies, peer) in self.ike.established_ike_sas() {
            let (esp, ah): (Vec<u32>, Vec<u32>) = self
                .children
                .iter()
                .filter(|c| c.peer.ip() == peer.ip())
                .fold((Vec::new(), Vec::new()), |(mut esp, mut ah), c| {
                    esp.extend(c.in_spis.esp);
                    ah.extend(c.in_spis.ah);
                    (esp, ah)
                });
            let deletes: Vec<(ProtocolId, Vec<u32>)> =
                [(ProtocolId::IPSEC_ESP, esp), (ProtocolId::IPSEC_AH, ah)]
                    .into_iter()
                    .filter(|(_, spis)| !spis.is_empty())
                    .collect();
            if !deletes.is_empty() {
                if let Err(error) = self.ike.delete_child(&cookies, &deletes) {
                    tracing::warn!(%peer, %error, "cannot delete the child SAs");
                }
            }
            match self.ike.delete_phase1(&cookies) {
                Ok(()) => terminated += 1,
                Err(error) => tracing::warn!(%peer, %error, "cannot delete the IKE SA"),
            }
            self.children.retain(|c| c.peer.ip() != peer.ip());
            self.routes.clear();
            tracing::info!(%peer, "IKE SA terminated by us");
        }
        self.drain_ike(now);
        terminated
    }

    fn drain_ike(&mut self, now: Timestamp) {
        while let Some(t) = self.ike.poll_transmit() {
            let path = Path::Net(NetPath {
                leg: Leg::SSide,
                local: t.local.ip(),
                remote: t.remote.ip(),
                transport: Transport::Udp {
                    local_port: self.own.to_real(t.local.port()),
                    remote_port: t.remote.port(),
                },
            });
            self.tx.push(path, t.payload);
        }
        while let Some(event) = self.ike.poll_event() {
            match event {
                SgwEvent::Phase1Established { peer, .. } => {
                    tracing::info!(%peer, "IKE SA established");
                }
                SgwEvent::ChildEstablished { peer, child } => self.install(now, peer, &child),
                SgwEvent::Phase1Deleted { peer, .. } => {
                    tracing::info!(%peer, "IKE SA deleted by the peer");
                }
                SgwEvent::DpdAck { peer, sequence } => {
                    tracing::debug!(%peer, sequence, "DPD acknowledged");
                }
                SgwEvent::Refused { peer, error } => {
                    tracing::warn!(%peer, %error, "exchange refused");
                    self.notifier.send(Notice::SgwRefused {
                        peer,
                        error: error.to_string(),
                    });
                }
                SgwEvent::Deleted { peer, deletes } => {
                    // The peer deletes its inbound SAs: our outbound SPIs.
                    let gone = |spi: Option<u32>| {
                        spi.is_some_and(|spi| deletes.iter().any(|(_, spis)| spis.contains(&spi)))
                    };
                    let before = self.children.len();
                    self.children.retain(|c| {
                        !(c.peer.ip() == peer.ip() && (gone(c.out_spis.esp) || gone(c.out_spis.ah)))
                    });
                    if self.children.len() < before {
                        tracing::info!(%peer, "child SA deleted by the peer");
                        self.routes.clear();
                    }
                }
            }
        }
    }

    /// Write every installed SA's keys to `sink`, one JSON line per SA and direction, in the
    /// independent oracle's format (a test gateway's equivalent of strongSwan's key logging;
    /// see [`super::key_log`]).
    pub fn with_key_log(mut self, sink: Box<dyn std::io::Write + Send>) -> Self {
        self.key_log = Some(sink);
        self
    }

    fn log_keys(&mut self, peer: SocketAddr, local: IpAddr, child: &ChildSa) {
        let Some(sink) = self.key_log.as_mut() else {
            return;
        };
        let udp = child.proposal.mode == Encapsulation::UdpTunnel;
        let mut lines = key_log_lines(child, Direction::Inbound, peer.ip(), local, udp);
        lines.extend(key_log_lines(
            child,
            Direction::Outbound,
            local,
            peer.ip(),
            udp,
        ));
        for line in lines {
            if let Err(error) = writeln!(sink, "{line}").and_then(|()| sink.flush()) {
                tracing::warn!(%error, "cannot write the key log; no more keys are logged");
                self.key_log = None;
                return;
            }
        }
    }

    fn install(&mut self, now: Timestamp, peer: SocketAddr, child: &ChildSa) {
        let local = self
            .local_for
            .get(&peer.ip())
            .copied()
            .unwrap_or(self.default_local);
        let built = (|| {
            let out_header = TunnelHeader::between(local, peer.ip())
                .map_err(|e| SetupError::Inconsistent(e.to_string()))?;
            let in_header = TunnelHeader::between(peer.ip(), local)
                .map_err(|e| SetupError::Inconsistent(e.to_string()))?;
            let bad = |e: ipsec_xlat::sa::ConfigError| SetupError::Inconsistent(e.to_string());
            let outbound = OutboundSa::new(
                &ipsec_xlat::ike::phase2::sa_config(child, Direction::Outbound, out_header)?,
                now,
            )
            .map_err(bad)?;
            let inbound = InboundSa::new(
                &ipsec_xlat::ike::phase2::sa_config(child, Direction::Inbound, in_header)?,
                now,
            )
            .map_err(bad)?;
            Ok::<_, SetupError>((outbound, inbound))
        })();
        let (outbound, inbound) = match built {
            Ok(pair) => pair,
            Err(error) => {
                tracing::error!(%peer, %error, "cannot install the child SA");
                self.notifier.send(Notice::SgwRefused {
                    peer,
                    error: error.to_string(),
                });
                return;
            }
        };
        let summary = ChildSummary {
            suite: describe_child(&child.proposal),
            inbound: child.inbound_spis,
            outbound: child.outbound_spis,
            c_side: None,
        };
        let spi = |s: BundleSpis| format!("{:08x}", s.esp.or(s.ah).unwrap_or(0));
        tracing::info!(
            %peer,
            suite = %summary.suite,
            spi_in = %spi(summary.inbound),
            spi_out = %spi(summary.outbound),
            "child SA installed"
        );
        self.notifier.send(Notice::SgwChild {
            peer,
            child: summary,
        });
        self.log_keys(peer, local, child);
        let iv = IvSource::new(
            outbound.iv_len(),
            child.proposal.esp.is_some_and(|(c, _)| c.is_aead()),
        );
        self.children.push(SgwChild {
            peer,
            local,
            udp: child.proposal.mode == Encapsulation::UdpTunnel,
            lookup: inbound.lookup_spi(),
            in_spis: child.inbound_spis,
            out_spis: child.outbound_spis,
            inbound,
            outbound,
            iv,
        });
    }

    fn open(
        &mut self,
        now: Timestamp,
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
        let found = spi.and_then(|spi| self.children.iter().position(|c| c.lookup == spi));
        match found.and_then(|i| self.children.get_mut(i).map(|c| (i, c))) {
            None => self.counters.unknown_spi = self.counters.unknown_spi.saturating_add(1),
            Some((index, child)) => match child.inbound.open(&mut packet, now) {
                Ok(opened) if opened.is_dummy() => {}
                Ok(opened) => {
                    if let Some((inner_src, _)) = inner_addresses(opened.packet) {
                        if self.routes.len() < MAX_ROUTES || self.routes.contains_key(&inner_src) {
                            self.routes.insert(inner_src, index);
                        }
                    }
                    self.counters.opened = self.counters.opened.saturating_add(1);
                    self.tx.push_copy(Path::Tun, opened.packet);
                }
                Err(error) => {
                    tracing::debug!(%error, "inbound packet refused");
                    self.counters.open_errors = self.counters.open_errors.saturating_add(1);
                }
            },
        }
        self.scratch = packet;
    }

    fn seal(&mut self, now: Timestamp, inner: &[u8]) {
        self.counters.tun_packets = self.counters.tun_packets.saturating_add(1);
        let index = inner_addresses(inner)
            .and_then(|(_, dst)| self.routes.get(&dst).copied())
            .filter(|i| *i < self.children.len())
            .or_else(|| self.children.len().checked_sub(1));
        let Some(child) = index.and_then(|i| self.children.get_mut(i)) else {
            self.counters.no_sa = self.counters.no_sa.saturating_add(1);
            return;
        };
        let mut buf = self.tx.buffer();
        buf.resize(inner.len().saturating_add(SEAL_OVERHEAD), 0);
        let mut iv_buf = [0u8; 16];
        let iv = child.iv.next(&mut self.rng, &mut iv_buf);
        let sealed = child.outbound.seal(inner, iv, now, &mut buf);
        let part = sealed.ok().and_then(|s| {
            buf.truncate(s.len);
            ipsec_part(&buf)
        });
        let Some((start, protocol, len)) = part else {
            self.counters.seal_errors = self.counters.seal_errors.saturating_add(1);
            self.tx.recycle(buf);
            return;
        };
        buf.truncate(len);
        let (remote, transport) = if child.udp {
            buf.drain(..start);
            (
                child.peer.ip(),
                Transport::Udp {
                    local_port: self.own.natt,
                    remote_port: child.peer.port(),
                },
            )
        } else if self.header_included && child.peer.is_ipv4() {
            (
                child.peer.ip(),
                Transport::Ip {
                    protocol: IpProtocol(protocol.0),
                    header_included: true,
                },
            )
        } else {
            buf.drain(..start);
            (
                child.peer.ip(),
                Transport::Ip {
                    protocol: IpProtocol(protocol.0),
                    header_included: false,
                },
            )
        };
        let path = Path::Net(NetPath {
            leg: Leg::SSide,
            local: child.local,
            remote,
            transport,
        });
        self.counters.sealed = self.counters.sealed.saturating_add(1);
        self.tx.push(path, buf);
    }
}

impl Endpoint for TestSgwEndpoint {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        let path = match rx.path {
            Path::Tun => {
                self.seal(now, datagram);
                return;
            }
            Path::Net(path) => path,
        };
        match path.transport {
            Transport::Udp {
                local_port,
                remote_port,
            } => {
                if self.own.is_natt(local_port) {
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
                if self.local_for.len() < MAX_ROUTES || self.local_for.contains_key(&path.remote) {
                    self.local_for.insert(path.remote, path.local);
                }
                let local = SocketAddr::new(path.local, self.own.to_core(local_port));
                let remote = SocketAddr::new(path.remote, remote_port);
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

    fn handle_timeout(&mut self, now: Timestamp) {
        self.ike.handle_timeout(now);
        self.drain_ike(now);
        for child in &mut self.children {
            child.outbound.handle_timeout(now);
            child.inbound.handle_timeout(now);
        }
        if self
            .children
            .iter()
            .any(|c| c.outbound.is_expired() && c.inbound.is_expired())
        {
            self.children
                .retain(|c| !(c.outbound.is_expired() && c.inbound.is_expired()));
            // Indices moved: forget the learnt routes (traffic teaches them again).
            self.routes.clear();
        }
    }

    fn poll_transmit(&mut self, _now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        self.tx.pop_into(out)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        let sa = self
            .children
            .iter()
            .flat_map(|c| [c.outbound.next_deadline(), c.inbound.next_deadline()])
            .flatten();
        self.ike.poll_timeout().into_iter().chain(sa).min()
    }
}
