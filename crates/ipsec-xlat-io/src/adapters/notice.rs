//! What the adapters tell the outside while the driver owns them: SAs established, entries
//! installed or removed, failures. The daemons log these; the quickstart and tests wait on
//! them through a channel, since an endpoint inside [`crate::Driver::run`] cannot be asked.

use core::net::SocketAddr;
use std::sync::mpsc::Sender;

use ipsec_xlat::ike::{IkeTranslation, IpsecTranslation};
use ipsec_xlat::relay::EntryId;

/// One event worth telling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Client: main mode with the SGW completed through the relay.
    ClientPhase1 {
        /// The s-side cookies (what the SGW sees), hex.
        cookies: String,
        /// NAT-T toward the SGW: IKE floated to 4500 and ESP goes in UDP on the s-side.
        nat_t: bool,
    },
    /// Client: a child SA is installed in the datapath.
    ClientChild(ChildSummary),
    /// Client: the IKE exchange failed for good.
    ClientFailed(String),
    /// Relay: an IKE translation entry is complete (after mm2).
    RelayIke(IkeTranslation),
    /// Relay: an IPsec translation entry is installed in the datapath table.
    RelayIpsec {
        /// The entry's name in the table.
        id: EntryId,
        /// What the IKE relay reported.
        translation: IpsecTranslation,
    },
    /// Relay: the IKE relay reported an entry the table refused.
    RelayRefused(String),
    /// Relay: an entry left the table (its lifetime ended, it went idle, or the drain period
    /// after its client deleted the bundle passed).
    RelayExpired(EntryId),
    /// Test-SGW: a child SA is installed in its datapath.
    SgwChild {
        /// The initiator (the relay's s-side address, as the SGW sees it).
        peer: SocketAddr,
        /// Summary of the bundle.
        child: ChildSummary,
    },
    /// Test-SGW: an exchange was refused.
    SgwRefused {
        /// Who sent it.
        peer: SocketAddr,
        /// Why.
        error: String,
    },
}

/// A child SA in a few words (the core's; notices carry it).
pub use ipsec_xlat::ChildSummary;

/// Where notices go: a channel, or nowhere.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    sender: Option<Sender<Notice>>,
}

impl Notifier {
    /// Notices go to `sender`.
    pub fn new(sender: Sender<Notice>) -> Self {
        Self {
            sender: Some(sender),
        }
    }

    /// Sends `notice` if anyone listens (a listener that went away is not an error).
    pub fn send(&self, notice: Notice) {
        if let Some(sender) = &self.sender {
            let _ignored = sender.send(notice);
        }
    }
}
