//! Configuration: one TOML file per binary, validated whole at start.
//!
//! Each file is parsed into private serde structs (unknown keys rejected, so a typo is an error
//! that names the key) and then validated into the public types here; every error names the
//! file, the key and the problem ([`ConfigError`]). Files the configuration names (keys, PSK,
//! certificates) are resolved against the configuration file's directory and read during
//! validation, so a daemon fails at start rather than at the first client. Commented examples
//! live in `examples/config/`.

mod client;
mod common;
mod error;
mod identification;
pub mod proposal;
mod relay;
mod secret;
mod test_sgw;

pub use client::{ClientConfig, ControlConfig, RelayPeer, SessionConfig};
pub use common::{Auth, Lifetimes, ListenConfig, Proposals, TrafficSelectors, IKE_PORT, NATT_PORT};
pub use error::{ConfigError, Problem};
pub use identification::{IdPattern, IdType, IdentificationRule, IdentificationTable, Identity};
pub use proposal::{
    AhProposal, DhGroup, Encryption, EspProposal, IkeProposal, Integrity, ProposalError,
};
pub use relay::{
    AuthorizedClient, Limits, RelayConfig, Reload, SSideAddressing, SSideConfig, MAX_POOL_ADDRESSES,
};
pub use secret::{decode_key32, NoisePrivateKey, NoisePublicKey, Secret};
pub use test_sgw::TestSgwConfig;
