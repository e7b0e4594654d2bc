//! What can go wrong when installing a child SA or obeying a command.

use thiserror::Error;

use super::status::phase_word;
use crate::ike::phase2::IncompleteChild;
use crate::ike::{IkeClientError, IkePhase};
use crate::sa::{ConfigError, SaError};

/// Why a child SA the IKE client negotiated could not be installed in the datapath. The
/// client then fails for good: the SGW holds SAs we cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientInstallError {
    /// AH covers the outer addresses the SGW sees (RFC 4302 §3.3.3.1), and the relay did not
    /// say which ones they are.
    #[error("AH child SA without the s-side path from the relay")]
    NoSidePath,
    /// The outer header cannot be built (e.g. mixed address families).
    #[error("{0}")]
    Header(SaError),
    /// Keys or an SPI are missing from the negotiated child.
    #[error(transparent)]
    Incomplete(#[from] IncompleteChild),
    /// The SA refused its configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The relay granted no c-side SPI to receive on, so inbound packets cannot be found.
    #[error("child SA without c-side SPI")]
    NoCSideSpi,
}

/// Why a command ([`Client::initiate`](super::Client::initiate),
/// [`Client::rekey`](super::Client::rekey)) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientCommandError {
    /// A new IKE client could not be built from the settings.
    #[error("cannot start IKE: {0}")]
    Start(IkeClientError),
    /// A rekey needs an IKE SA, and no IKE client runs.
    #[error("no IKE SA")]
    NoIkeSa,
    /// The IKE client cannot start a quick mode in its phase.
    #[error("cannot rekey ({}): {error}", phase_word(Some(*phase)))]
    Rekey {
        /// Where the IKE client stood.
        phase: IkePhase,
        /// What it said.
        error: IkeClientError,
    },
}
