//! IKEv1: key derivation, exchange cores, and the client, relay and test-SGW state machines.
//!
//! Layers, bottom up:
//!
//! - [`crypto`]: every RFC 2409 / RFC 3947 derivation the client and the test-SGW need (SKEYID
//!   family, encryption key expansion, IV chaining, AES-CBC bodies, HASH_I/HASH_R and the
//!   RSA signature over them, quick-mode HASH(1..3), KEYMAT, NAT-D). Pure functions over bytes,
//!   each checked against strongSwan's own numbers from real captures.
//! - [`dh`]: the Diffie-Hellman groups we negotiate (MODP 2048/3072, ECP 256, Curve25519) with
//!   private values drawn from caller-supplied randomness and wiped on drop.
//! - [`tail_crypto`]: the Noise IK handshake carried in the mm1/mm2 tails and the sealed tails
//!   of later messages; [`tail_content`]: what those tails say.
//! - [`phase1`], [`phase2`]: message-level main mode and quick mode cores (initiator and
//!   responder), PSK and RSA, ESP/AH/bundles, PFS, NAT detection. No sockets, no timers.
//! - [`IkeClient`], [`IkeRelay`], [`TestSgw`]: sans-IO endpoints in the quinn-proto style:
//!   `handle_datagram(now, local, remote, bytes)` and `handle_timeout(now)` in,
//!   `poll_transmit`, `poll_timeout`, `poll_event` out; randomness seeded once from the
//!   caller's generator, so a test replays exactly.
//!
//! The client and the test-SGW compute everything with the values the SGW sees: the s-side
//! cookies, the s-side SPIs, the SA payload as forwarded, the relay's s-side address in NAT-D.
//! The relay never calls into [`crypto`] or [`dh`]: it holds its static tail key and one
//! [`tail_crypto::TailSession`] per client, nothing that could decrypt IKE or IPsec.
//!
//! # State of the flow and what is next
//!
//! Done and tested (in memory, and against an unmodified strongSwan in `tests/ike_captures/`):
//! main mode (PSK, RSA) and quick mode through the relay with tails; NAT-T floating on the
//! s-side; retransmission with backoff and duplicate handling at every hop; typed failures
//! (timeout, error notifications, authentication, proposals); rekeying by new quick modes with
//! relay SPI grants, started by the client (by hand or at 90 % of the lifetime) or by the SGW;
//! DELETE of bundles both ways with the relay retiring its entry from the tail of the client's
//! DELETE; DELETE of the IKE SA itself both ways (ISAKMP protocol, SPI = the s-side cookie
//! pair, as strongSwan sends and accepts it), the relay forgetting its IKE entry from the
//! tail of the client's ISAKMP-SA DELETE; DPD answers; relay session expiry.
//!
//! Not yet: DPD started by the client; main mode started by
//! the SGW toward the relay (IKEv1 reauthentication): the relay drops it as unknown cookies;
//! client mobility (a new c-side address for a live session); NAT detection between client and
//! relay (the c-side transport is the client's configuration); IKEv1 fragmentation for large
//! RSA mm5/mm6.

pub mod crypto;
pub mod dh;
pub mod phase1;
pub mod phase2;
pub mod tail_content;

pub(crate) mod client;
mod endpoint;
pub(crate) mod relay;
mod test_sgw;

pub use client::{
    ClientChild, IkeClient, IkeClientConfig, IkeClientCounters, IkeClientError, IkeClientEvent,
    IkePhase,
};

pub use endpoint::{IkeDatagram, RetransmitPolicy, NAT_T_PORT};
pub use relay::{
    AddressPrefix, AdmissionLimits, IdentityMatch, IdentityRule, IkeRelay, IkeRelayConfig,
    IkeRelayCounters, IkeRelayEvent, IkeTranslation, IpsecTranslation, SpiAllocator,
};
pub use test_sgw::{SgwError, SgwEvent, TestSgw, TestSgwConfig};
pub mod tail_crypto;
