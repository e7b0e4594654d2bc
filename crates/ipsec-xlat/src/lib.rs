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
//! - [`client`]: the client role as one type, [`Client`]: IKE through the relay, the child SAs'
//!   datapath, reauthentication and restart.
//! - [`gateway`]: the gateway role (our test-SGW) as one type, [`Gateway`]: IKE responder,
//!   installed bundles and their datapath.
//! - [`net`]: how packets travel ([`Path`], [`Received`], [`Transmit`]) and the [`Endpoint`]
//!   contract every role keeps with the code that moves its bytes.
//! - [`time`]: the one time type, [`Timestamp`].
//! - [`testing`]: a simulated network with a virtual clock, loss, duplication, reordering, NAT
//!   and address changes, for whole conversations between roles in tests and simulations.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod gateway;
pub mod ike;
pub mod net;
pub mod relay;
pub mod sa;
pub mod testing;
pub mod time;
pub mod wire;

pub use client::{
    Client, ClientCommandError, ClientCounters, ClientEvent, ClientSettings, ClientStatus,
};
pub use gateway::{Gateway, GatewayCounters, GatewayEvent, GatewaySettings};
pub use ike::phase2::ChildSummary;
pub use net::{Endpoint, Leg, NetPath, Path, Received, Transmit, Transport};
pub use relay::{Relay, RelayEvent, RelaySettings};
pub use time::Timestamp;
