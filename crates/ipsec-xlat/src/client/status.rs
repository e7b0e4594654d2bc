//! What the client tells its owner: events as they happen, counters, and a typed snapshot for
//! a status command.

use core::time::Duration;

use super::error::ClientInstallError;
use crate::ike::crypto::Cookies;
use crate::ike::phase2::{BundleSpis, ChildSummary};
use crate::ike::{IkeClientCounters, IkeClientError, IkePhase};
use crate::sa::SaCounters;

/// Something the owner may log, show or wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A new IKE attempt (main mode, then quick mode) started through the relay.
    Started {
        /// Its number (attempts so far).
        attempt: u64,
    },
    /// Main mode with the SGW completed through the relay.
    Phase1Established {
        /// The s-side cookies (what the SGW sees).
        cookies: Cookies,
        /// NAT-T toward the SGW (RFC 3947): IKE floated to 4500 and ESP goes in UDP on the
        /// s-side.
        nat_t: bool,
        /// The IKE SA is a reauthentication's successor.
        reauth: bool,
    },
    /// A child SA is installed in the datapath; the newest one sends.
    ChildInstalled {
        /// What was negotiated, with s-side and c-side SPIs.
        summary: ChildSummary,
        /// ESP travels in UDP between us and the relay.
        c_udp_encap: bool,
        /// ESP travels in UDP between the relay and the SGW.
        s_udp_encap: bool,
    },
    /// A child SA the IKE client negotiated could not be installed (a [`Self::Failed`]
    /// follows).
    ChildRejected(ClientInstallError),
    /// A child SA left the datapath (it may still open inbound packets for
    /// [`DRAIN_GRACE`](super::DRAIN_GRACE) when we deleted it).
    ChildRemoved {
        /// Its s-side inbound SPIs.
        inbound: BundleSpis,
        /// Why.
        reason: ChildRemoval,
    },
    /// An IKE SA was deleted (by us or by the SGW).
    Phase1Deleted {
        /// Its s-side cookies.
        cookies: Cookies,
        /// The SGW deleted it.
        by_peer: bool,
    },
    /// The IKE SA nears the end of its lifetime: a successor IKE client (new cookies, new
    /// main mode) started next to it.
    ReauthStarted,
    /// The successor could not be built; the current IKE SA stays.
    ReauthNotStarted(IkeClientError),
    /// The successor failed; the current IKE SA stays and tries again later.
    ReauthFailed(IkeClientError),
    /// Traffic moved to the successor's SAs; the old ones are being deleted.
    Reauthenticated {
        /// Reauthentications completed so far.
        reauths: u64,
    },
    /// The old IKE SA ended while its successor ran: the successor takes over.
    SuccessorTookOver,
    /// An IKE client that no longer carries the tunnel (retired, or replaced by its
    /// successor) ended.
    IkeEnded(IkeClientError),
    /// The current IKE client failed.
    IkeFailed(IkeClientError),
    /// An attempt still in main mode was abandoned by a terminate (there was no IKE SA to
    /// delete).
    Abandoned,
    /// The tunnel was lost and starts over after `delay`.
    RestartScheduled {
        /// Why it was lost.
        reason: String,
        /// The backoff chosen, jitter included.
        delay: Duration,
    },
    /// The restart timer fired: a new attempt starts.
    Restarting {
        /// Why the tunnel had been lost.
        reason: String,
    },
    /// The client gave up: drained unless controlled, then idle until the next `initiate`.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Why a child SA left the datapath.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildRemoval {
    /// A DELETE (ours, or the SGW's when `by_peer`).
    Deleted {
        /// The SGW deleted it.
        by_peer: bool,
    },
    /// Its hard lifetime passed without a DELETE (the DELETE was lost).
    Expired,
    /// Its IKE client was replaced by a reauthentication.
    Retired,
    /// Its IKE client failed.
    IkeFailed,
    /// A terminate deleted everything.
    Terminated,
}

/// The client datapath's own counters (each SA counts its errors too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCounters {
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
    /// IKE SAs replaced by a new main mode before their lifetime ended (reauthentications
    /// completed).
    pub reauths: u64,
    /// Restarts scheduled after the tunnel was lost.
    pub restarts: u64,
    /// Quick modes started because the newest bundle's outbound sequence number neared its
    /// end, not its lifetime (see `client::datapath::REKEY_AT_SEQUENCE`).
    pub sequence_rekeys: u64,
}

/// One installed child SA as a status command shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildStatus {
    /// Suite and SPIs (s-side and c-side).
    pub summary: ChildSummary,
    /// The outbound SA's counters.
    pub outbound: SaCounters,
    /// The inbound SA's counters.
    pub inbound: SaCounters,
}

/// A snapshot of the client, for a status command (compare `swanctl --list-sas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStatus {
    /// The current IKE client's phase; `None` when none was started (idle).
    pub phase: Option<IkePhase>,
    /// The successor's phase while a reauthentication runs.
    pub reauth_phase: Option<IkePhase>,
    /// IKE attempts started so far (the current one's number).
    pub attempt: u64,
    /// Child SAs installed so far.
    pub installs: u64,
    /// The current IKE SA: its s-side cookies and whether NAT-T floated.
    pub ike_sa: Option<(Cookies, bool)>,
    /// Installed child SAs, oldest first (the newest sends).
    pub children: Vec<ChildStatus>,
    /// The datapath counters.
    pub counters: ClientCounters,
    /// The current IKE client's drop counters.
    pub ike_counters: IkeClientCounters,
    /// Why the tunnel was last lost, and whether a restart is pending.
    pub last_loss: Option<(String, bool)>,
    /// Why the client gave up, once it has.
    pub failure: Option<String>,
}

/// The phase as one status word (`idle` when no IKE client runs).
pub fn phase_word(phase: Option<IkePhase>) -> &'static str {
    match phase {
        None => "idle",
        Some(IkePhase::MainMode) => "main-mode",
        Some(IkePhase::QuickMode) => "quick-mode",
        Some(IkePhase::Established) => "established",
        Some(IkePhase::AnsweringQuickMode) => "answering-quick-mode",
        Some(IkePhase::Failed) => "failed",
        Some(IkePhase::Deleted) => "deleted",
    }
}
