//! What the client reports and how it fails: [`IkeClientEvent`] (with [`ClientChild`], the
//! bundle a quick mode produced), [`IkeClientError`], [`IkePhase`] (where the exchange
//! stands) and [`IkeClientCounters`] (what it dropped, `docs/PROTOCOL.md` §4.3
//! "Robustness").

use crate::ike::crypto::Cookies;
use crate::ike::phase1::{NatState, Phase1Error};
use crate::ike::phase2::{BundleSpis, ChildSa, Phase2Error};
use crate::ike::tail_content::TailContentError;
use crate::ike::tail_crypto::TailCryptoError;
use crate::wire::isakmp::{IsakmpError, NotifyType};
use crate::wire::tail::TailError;
use core::net::SocketAddr;

#[cfg(doc)]
use super::IkeClient;

/// Everything the client's datapath needs for one SA bundle.
#[derive(Debug)]
pub struct ClientChild {
    /// Algorithms, keys and **s-side** SPIs (the keys were derived with them): inbound
    /// s-SPI-2, outbound s-SPI-3.
    pub sa: ChildSa,
    /// c-SPI-1: what packets from the relay carry (restore `sa.inbound_spis` before
    /// verifying).
    pub c_spis_in: BundleSpis,
    /// c-SPI-2: what to write on packets to the relay (after sealing with the s-side SPI).
    pub c_spis_out: BundleSpis,
    /// ESP/AH toward the SGW is UDP-encapsulated (the relay's s-side leg).
    pub s_udp_encap: bool,
    /// ESP/AH between us and the relay is UDP-encapsulated.
    pub c_udp_encap: bool,
    /// The relay, where our ESP/AH goes.
    pub relay: SocketAddr,
    /// The relay's s-side address and the SGW's, as the SGW sees the path (from mm2's tail).
    /// AH's ICV covers the outer addresses, so an AH datapath seals over this header.
    pub s_path: (SocketAddr, SocketAddr),
    /// Whether we started this quick mode (false: the SGW rekeyed and we answered).
    pub we_initiated: bool,
}

/// What the client reports.
#[derive(Debug)]
pub enum IkeClientEvent {
    /// Main mode with the SGW completed.
    Phase1Established {
        /// The s-side cookies.
        cookies: Cookies,
        /// NAT detection toward the SGW.
        nat: NatState,
    },
    /// Quick mode completed.
    ChildEstablished(Box<ClientChild>),
    /// An SA bundle ended: the SGW deleted it (we answered with our own DELETE, which tells
    /// the relay), or we deleted it with [`IkeClient::delete_child`].
    ChildDeleted {
        /// s-SPI-2: the bundle's inbound SPIs (as in [`ClientChild::sa`]).
        s_spis_in: BundleSpis,
        /// s-SPI-3: its outbound SPIs.
        s_spis_out: BundleSpis,
        /// Whether the SGW asked for it.
        by_peer: bool,
    },
    /// The IKE SA ended: we deleted it with [`IkeClient::delete_phase1`] (after deleting every
    /// bundle), or the SGW sent an ISAKMP-SA DELETE for it (bundles still live were reported
    /// as [`IkeClientEvent::ChildDeleted`] just before). Either way the relay was told in the
    /// tail of our ISAKMP-SA DELETE; the client is finished, a new [`IkeClient`] starts over.
    Phase1Deleted {
        /// The s-side cookies of the IKE SA.
        cookies: Cookies,
        /// Whether the SGW asked for it.
        by_peer: bool,
    },
    /// The IKE SA nears the end of its lifetime (see [`IkeClient::enable_reauth`]): start its
    /// successor with [`IkeClient::reauthenticate`]. Reported once.
    ReauthDue,
    /// The attempt failed; the client is finished.
    Failed(IkeClientError),
}

/// Why the client failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IkeClientError {
    /// No answer after all retransmissions.
    #[error("no answer after {0} retransmissions")]
    Timeout(u32),
    /// The relay or SGW answered with an error notification (NO-PROPOSAL-CHOSEN, INVALID-*,
    /// AUTHENTICATION-FAILED...).
    #[error("peer sent notification {0:?}")]
    Notified(NotifyType),
    /// Main mode failed (e.g. authentication).
    #[error("main mode: {0}")]
    Phase1(#[from] Phase1Error),
    /// Quick mode failed.
    #[error("quick mode: {0}")]
    Phase2(#[from] Phase2Error),
    /// The tail channel with the relay failed.
    #[error("tail: {0}")]
    Tail(#[from] TailCryptoError),
    /// The relay's tail contents were unusable.
    #[error("tail contents: {0}")]
    TailContent(#[from] TailContentError),
    /// A message or tail could not be built.
    #[error("encoding: {0}")]
    Encoding(String),
    /// A rekey was asked for before the IKE SA was established, or while another quick mode
    /// runs, or with no SPI grant from the relay left.
    #[error("cannot start a quick mode now")]
    NotReady,
}

impl IkeClientError {
    /// Whether starting over may succeed (strongSwan's `keyingtries` / `close_action=restart`
    /// territory): lost messages, transient notifications and garbled exchanges may; a
    /// refused proposal, a failed authentication or an unusable configuration will fail the
    /// same way again.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Tail(_) | Self::TailContent(_) => true,
            Self::Notified(ty) => {
                *ty != NotifyType::NO_PROPOSAL_CHOSEN && *ty != NotifyType::AUTHENTICATION_FAILED
            }
            Self::Phase1(e) => !matches!(
                e,
                Phase1Error::AuthenticationFailed
                    | Phase1Error::Proposal(_)
                    | Phase1Error::UntrustedCertificate
                    | Phase1Error::IdentityMismatch
                    | Phase1Error::NoCredentials(_)
                    | Phase1Error::Notified(_)
            ),
            Self::Phase2(e) => {
                !matches!(e, Phase2Error::Proposal(_) | Phase2Error::TrafficSelectors)
            }
            Self::Encoding(_) | Self::NotReady => false,
        }
    }
}

impl From<IsakmpError> for IkeClientError {
    fn from(e: IsakmpError) -> Self {
        Self::Encoding(e.to_string())
    }
}

impl From<TailError> for IkeClientError {
    fn from(e: TailError) -> Self {
        Self::Encoding(e.to_string())
    }
}

/// Where the client's exchange stands: what a control interface reports as the phase-1 and
/// phase-2 state (compare `swanctl --list-sas`), and what tells it whether a rekey or a
/// terminate can be asked for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IkePhase {
    /// Main mode runs (mm1 to mm6); no IKE SA yet.
    MainMode,
    /// The IKE SA is up and our quick mode (the first one or a rekey) waits for qm2.
    QuickMode,
    /// The IKE SA is up and no quick mode runs: [`IkeClient::rekey`] may start one.
    Established,
    /// The IKE SA is up and we answer a quick mode the SGW started (its rekey).
    AnsweringQuickMode,
    /// The attempt failed ([`IkeClientEvent::Failed`]); a new [`IkeClient`] starts over.
    Failed,
    /// The IKE SA was deleted, by us or by the SGW; a new [`IkeClient`] starts over.
    Deleted,
}

impl IkePhase {
    /// Whether an IKE SA with the SGW exists (main mode completed and not deleted).
    pub(crate) fn has_ike_sa(self) -> bool {
        matches!(
            self,
            Self::QuickMode | Self::Established | Self::AnsweringQuickMode
        )
    }

    /// Whether the client is finished: nothing more will happen without a new [`IkeClient`].
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Failed | Self::Deleted)
    }
}

/// Datagrams the client dropped, by reason (each is otherwise silent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IkeClientCounters {
    /// Not from the relay, not IKE, or unparseable.
    pub ignored: u64,
    /// Wrong cookies for our exchange.
    pub wrong_cookies: u64,
    /// Tails that failed authentication, binding or replay checks.
    pub tail_rejected: u64,
    /// Messages that failed their exchange's checks (the exchange goes on: a genuine
    /// retransmission may still come).
    pub rejected: u64,
    /// Repeated answers.
    pub duplicates: u64,
    /// Unencrypted informational messages after main mode, ignored: once keys exist the SGW
    /// protects its notifications (RFC 2408 §4.8), so an unprotected one is anybody's (one
    /// spoofed packet must not end an established tunnel).
    pub unprotected: u64,
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn which_failures_are_worth_a_restart() {
        assert!(IkeClientError::Timeout(5).is_retryable());
        assert!(IkeClientError::Notified(NotifyType::INVALID_SPI).is_retryable());
        assert!(!IkeClientError::Notified(NotifyType::NO_PROPOSAL_CHOSEN).is_retryable());
        assert!(!IkeClientError::Phase1(Phase1Error::AuthenticationFailed).is_retryable());
        assert!(!IkeClientError::Phase2(Phase2Error::TrafficSelectors).is_retryable());
        assert!(!IkeClientError::NotReady.is_retryable());
    }

    #[test]
    fn phases_with_an_ike_sa() {
        use IkePhase::*;
        let with: Vec<_> = [
            MainMode,
            QuickMode,
            Established,
            AnsweringQuickMode,
            Failed,
            Deleted,
        ]
        .into_iter()
        .filter(|p| p.has_ike_sa())
        .collect();
        assert_eq!(with, [QuickMode, Established, AnsweringQuickMode]);
        assert!(Failed.is_finished() && Deleted.is_finished() && !Established.is_finished());
    }
}
