//! IKEv1 phase 1: proposals and main mode.

mod chain;
mod exchange;
mod main_mode;
mod proposal;

pub(crate) use chain::Chain;
pub(crate) use exchange::{fresh_message_id, fresh_nonce, seal_chained};

pub use main_mode::{
    MainModeInitiator, MainModeResponder, NatState, Phase1Config, Phase1Credentials, Phase1Error,
    Phase1Sa, RsaCredentials, NONCE_LEN, VID_DPD, VID_NAT_T_RFC3947,
};
pub use proposal::{
    accept_choice, chosen_lifetime, offer, select, Phase1Auth, Phase1Proposal, ProposalError,
};
