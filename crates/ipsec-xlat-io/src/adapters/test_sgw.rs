//! The test-SGW as an [`Endpoint`]: the core's [`Gateway`] (a plain IKEv1 responder and its
//! ESP/AH datapath between its leg and its TUN device), built from the daemon's configuration,
//! with its events logged, sent as [`Notice`]s and, if asked, its keys written to a key log.

use core::net::{IpAddr, SocketAddr};

use ipsec_xlat::gateway::TerminateStep;
use ipsec_xlat::ike::phase2::{describe_child, BundleSpis, ChildSa, Direction, Encapsulation};
use ipsec_xlat::net::PortPair;
use ipsec_xlat::sa::SaCounters;
use ipsec_xlat::{Gateway, GatewayCounters, GatewayEvent, Timestamp};
use rand::{CryptoRng, RngCore};

use super::convert::{self, SetupError};
use super::key_log::key_log_lines;
use super::notice::{ChildSummary, Notice, Notifier};
use crate::config::TestSgwConfig;
use crate::{Endpoint, Received, Transmit};

/// The test-SGW endpoint.
pub struct TestSgwEndpoint {
    gateway: Gateway,
    notifier: Notifier,
    /// Where to write each installed SA's keys (see [`super::key_log`]), if asked to.
    key_log: Option<Box<dyn std::io::Write + Send>>,
}

impl core::fmt::Debug for TestSgwEndpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestSgwEndpoint")
            .field("gateway", &self.gateway)
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
        let (settings, warnings) = convert::gateway_settings(config, own)?;
        let endpoint = Self {
            gateway: Gateway::new(settings, rng),
            notifier: Notifier::default(),
            key_log: None,
        };
        Ok((endpoint, warnings))
    }

    /// Send notices to `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Write every installed SA's keys to `sink`, one JSON line per SA and direction, in the
    /// independent oracle's format (a test gateway's equivalent of strongSwan's key logging;
    /// see [`super::key_log`]).
    pub fn with_key_log(mut self, sink: Box<dyn std::io::Write + Send>) -> Self {
        self.key_log = Some(sink);
        self
    }

    /// The core gateway.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The datapath counters.
    pub fn counters(&self) -> GatewayCounters {
        self.gateway.counters()
    }

    /// Per child SA: (outbound counters, inbound counters).
    pub fn sa_counters(&self) -> Vec<(SaCounters, SaCounters)> {
        self.gateway.sa_counters()
    }

    /// Terminates every established IKE SA as `swanctl --terminate --ike` does on strongSwan
    /// (see [`Gateway::terminate_all`]). Returns how many IKE SAs were terminated.
    pub fn terminate_all(&mut self, now: Timestamp) -> usize {
        let terminated = self.gateway.terminate_all(now);
        self.drain_events();
        terminated
    }

    /// Logs every event of the gateway and tells the notifier and the key log theirs.
    fn drain_events(&mut self) {
        while let Some(event) = self.gateway.poll_event() {
            match event {
                GatewayEvent::Phase1Established { peer, .. } => {
                    tracing::info!(%peer, "IKE SA established");
                }
                GatewayEvent::ChildInstalled { peer, local, child } => {
                    self.installed(peer, local, &child);
                }
                GatewayEvent::InstallFailed { peer, error } => {
                    tracing::error!(%peer, %error, "cannot install the child SA");
                    self.notifier.send(Notice::SgwRefused {
                        peer,
                        error: error.to_string(),
                    });
                }
                GatewayEvent::ChildDeleted { peer } => {
                    tracing::info!(%peer, "child SA deleted by the peer");
                }
                GatewayEvent::ChildExpired { .. } => {}
                GatewayEvent::Phase1Deleted { peer } => {
                    tracing::info!(%peer, "IKE SA deleted by the peer");
                }
                GatewayEvent::Terminated { peer } => {
                    tracing::info!(%peer, "IKE SA terminated by us");
                }
                GatewayEvent::TerminateFailed {
                    peer,
                    what: TerminateStep::Children,
                    error,
                } => tracing::warn!(%peer, %error, "cannot delete the child SAs"),
                GatewayEvent::TerminateFailed {
                    peer,
                    what: TerminateStep::IkeSa,
                    error,
                } => tracing::warn!(%peer, %error, "cannot delete the IKE SA"),
                GatewayEvent::DpdAck { peer, sequence } => {
                    tracing::debug!(%peer, sequence, "DPD acknowledged");
                }
                GatewayEvent::Refused { peer, error } => {
                    tracing::warn!(%peer, %error, "exchange refused");
                    self.notifier.send(Notice::SgwRefused {
                        peer,
                        error: error.to_string(),
                    });
                }
                GatewayEvent::PacketRefused { error } => {
                    tracing::debug!(%error, "inbound packet refused");
                }
            }
        }
    }

    fn installed(&mut self, peer: SocketAddr, local: IpAddr, child: &ChildSa) {
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
}

impl Endpoint for TestSgwEndpoint {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        self.gateway.handle_datagram(now, rx, datagram);
        self.drain_events();
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.gateway.handle_timeout(now);
        self.drain_events();
    }

    fn poll_transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        self.gateway.poll_transmit(now, out)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.gateway.poll_timeout()
    }
}
