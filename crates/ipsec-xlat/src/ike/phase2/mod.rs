//! IKEv1 phase 2: quick mode proposals and exchange cores.

mod datapath;
mod informational;
mod proposal;
mod quick_mode;
mod summary;

pub use datapath::{describe_child, sa_config, Direction, IncompleteChild};
pub use informational::{
    delete_message, delete_phase1_message, dpd_ack, notify_message, open_informational,
    Informational,
};
pub use proposal::{
    accept_child, offer_child, select_child, BundleSpis, ChildIntegrity, ChildProposal,
    ChildProposalError, Encapsulation, EspCipher,
};
pub use quick_mode::{ChildConfig, ChildSa, Phase2Error, QuickModeInitiator, QuickModeResponder};
pub use summary::ChildSummary;
