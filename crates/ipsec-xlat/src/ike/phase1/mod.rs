//! IKEv1 phase 1: proposals and main mode.

mod chain;
mod main_mode;
mod proposal;

pub(crate) use chain::Chain;

pub use main_mode::{
    MainModeInitiator, MainModeResponder, NatState, Phase1Config, Phase1Credentials, Phase1Error,
    Phase1Sa, RsaCredentials, NONCE_LEN, VID_DPD, VID_NAT_T_RFC3947,
};
pub use proposal::{
    accept_choice, chosen_lifetime, offer, select, Phase1Auth, Phase1Proposal, ProposalError,
};
