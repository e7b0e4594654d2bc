//! IKEv1: key derivation and the client, relay and test-SGW state machines.
//!
//! - [`crypto`]: every RFC 2409 / RFC 3947 derivation the client and the test-SGW need (SKEYID
//!   family, encryption key expansion, IV chaining, AES-CBC bodies, HASH_I/HASH_R, quick-mode
//!   HASH(1..3), KEYMAT, NAT-D). Pure functions over bytes: each one is checked against
//!   strongSwan's own numbers from the captures in `tests/data/captures/`.
//! - [`dh`]: the Diffie-Hellman groups we negotiate (MODP 2048/3072, ECP 256, Curve25519) with
//!   private values drawn from caller-supplied randomness and wiped on drop.
//! - [`tail_crypto`]: the Noise handshake carried in the mm1/mm2 tails and the sealed tails of
//!   later messages. This is the only key material the relay ever holds, and it protects
//!   client<->relay data only, never IKE or IPsec traffic.
//!
//! The client and the test-SGW compute everything with the values the SGW sees: the s-side
//! cookies, the s-side SPIs, the SA payload as forwarded. The relay never calls into [`crypto`]
//! or [`dh`].

pub mod crypto;
pub mod dh;
pub mod phase1;
pub mod phase2;
pub mod tail_content;

mod client;
mod endpoint;
mod relay;
mod test_sgw;

pub use client::{Client, ClientChild, ClientConfig, ClientCounters, ClientError, ClientEvent};

pub use endpoint::{RetransmitPolicy, Transmit, NAT_T_PORT};
pub use relay::{
    IdentityRule, IkeTranslation, IpsecTranslation, Relay, RelayConfig, RelayCounters, RelayEvent,
};
pub use test_sgw::{SgwError, SgwEvent, TestSgw, TestSgwConfig};
pub mod tail_crypto;
