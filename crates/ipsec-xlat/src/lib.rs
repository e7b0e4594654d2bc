//! # ipsec-xlat core
//!
//! Sans-IO core of ipsec-xlat: a client keeps a standard IPsec connection to an unmodified
//! security gateway (SGW) through a relay that never decrypts anything. This crate holds no
//! sockets, clocks or threads: bytes, time and randomness come in as arguments, and bytes to send,
//! timers and events come out.
//!
//! - [`wire`]: zero-copy, panic-free views and writers for IPv4/IPv6, UDP (RFC 3948
//!   encapsulation), ESP, AH, ISAKMP/IKEv1 and our tail framing.
//! - [`sa`]: ESP/AH security association processing for the client and test-SGW, including the
//!   ICV pre/post-translation that lets the relay rewrite SPIs and outer headers.
//! - [`relay`]: the relay's translation table and the per-packet rewrite.
//! - [`ike`]: IKEv1 key derivation and state machines for client, relay and test-SGW.
//! - [`net`]: how packets travel ([`Path`], [`Received`], [`Transmit`]) and the [`Endpoint`]
//!   contract every role keeps with the code that moves its bytes.
//! - [`time`]: the one time type, [`Timestamp`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ike;
pub mod net;
pub mod relay;
pub mod sa;
pub mod time;
pub mod wire;

pub use net::{Endpoint, Leg, NetPath, Path, Received, Transmit, Transport};
pub use relay::{Relay, RelayEvent, RelaySettings};
pub use time::Timestamp;
