//! # ipsec-xlat core
//!
//! Sans-IO core of ipsec-xlat: a client keeps a standard IPsec connection (IKEv1, ESP, AH) to
//! an unmodified security gateway (SGW) through a relay that never decrypts anything. The
//! relay rewrites outer addresses and SPIs from translation tables; the client computes every
//! integrity check over the values the SGW sees, so the SGW's ordinary checks pass after the
//! rewrite (`docs/PROTOCOL.md`).
//!
//! This crate holds no sockets, clocks or threads. Each role is one type that owns all of its
//! protocol state, in the shape of quinn-proto's `Connection`: bytes, time ([`Timestamp`])
//! and randomness come in as arguments; datagrams to send (written into a buffer you own),
//! inner packets to deliver, the next timer and events come out. Everything a product must
//! get right for security (nonce uniqueness, SA lifetimes, rekeying, the relay holding no
//! key) is inside the role, not left to the code that embeds it.
//!
//! ## The roles
//!
//! | role | type | runs on | owns |
//! | --- | --- | --- | --- |
//! | client | [`Client`] | the mobile device | IKE through the relay, its child SAs and IVs, rekey, reauthentication, restart with backoff, the drain period |
//! | relay | [`Relay`] | the intermediate host | the IKE relay (cookies, tails, SPI grants) and the translation table with its datapath; no IKE or IPsec key |
//! | gateway | [`Gateway`] | a test SGW | an IKEv1 responder and its SAs (real deployments use any standard SGW instead) |
//!
//! Every role implements [`Endpoint`]. Drive it in a loop: hand it each received datagram
//! ([`Endpoint::handle_datagram`], with the [`Path`] it came by; [`Path::Tun`] for an inner
//! packet from the device), call [`Endpoint::handle_timeout`] when
//! [`Endpoint::poll_timeout`] is due, send everything [`Endpoint::poll_transmit`] writes, and
//! read the role's `poll_event`. The `ipsec-xlat-io` crate does exactly this with sockets and
//! a TUN device; [`testing::Network`] does it in memory on a virtual clock, which is how the
//! examples below and `examples/embed.rs` (`cargo run -p ipsec-xlat --example embed`) run.
//!
//! ### Client
//!
//! Built from [`ClientSettings`] (here the complete minimal ones of [`testing::lab`]), it
//! starts main mode toward the relay at once and reports each step as a [`ClientEvent`]:
//!
//! ```
//! use core::time::Duration;
//! use ipsec_xlat::testing::{Lab, RunOutcome};
//! use ipsec_xlat::ClientEvent;
//!
//! let mut rng = rand::rngs::OsRng;
//! let mut lab = Lab::new(&mut rng)?;
//! assert_eq!(lab.establish(Duration::from_secs(60)), RunOutcome::Done);
//! let client = lab.client().expect("the lab's client");
//! let mut installed = false;
//! while let Some(event) = client.poll_event() {
//!     installed |= matches!(event, ClientEvent::ChildInstalled { .. });
//! }
//! assert!(installed && client.is_established());
//! # Ok::<(), ipsec_xlat::ClientCommandError>(())
//! ```
//!
//! ### Relay
//!
//! Built from [`RelaySettings`]; it learns everything else from the client's tails. After the
//! exchange it holds one IKE entry and one IPsec translation entry, and forwards ESP by
//! rewriting SPIs and addresses only:
//!
//! ```
//! use core::time::Duration;
//! use ipsec_xlat::testing::lab::{inner_packet, INNER_CLIENT, INNER_LAN};
//! use ipsec_xlat::testing::{Lab, RunOutcome};
//!
//! let mut lab = Lab::new(&mut rand::rngs::OsRng)?;
//! assert_eq!(lab.establish(Duration::from_secs(60)), RunOutcome::Done);
//! let packet = inner_packet(INNER_CLIENT, INNER_LAN, 1);
//! lab.net.send_inner(lab.client, &packet);
//! lab.net.run_for(Duration::from_secs(1));
//! let relay = lab.relay().expect("the lab's relay");
//! assert_eq!(relay.ike_entries().len(), 1);
//! assert_eq!(relay.datapath().table().len(), 1);
//! assert_eq!(relay.counters().ipsec_packets, 1, "the packet crossed the relay");
//! # Ok::<(), ipsec_xlat::ClientCommandError>(())
//! ```
//!
//! ### Gateway
//!
//! Built from [`GatewaySettings`]; it sees an ordinary IKE initiator at the relay's s-side
//! address and delivers the client's inner packets to its LAN side:
//!
//! ```
//! use core::time::Duration;
//! use ipsec_xlat::testing::lab::{inner_packet, INNER_CLIENT, INNER_LAN};
//! use ipsec_xlat::testing::{Lab, RunOutcome};
//!
//! let mut lab = Lab::new(&mut rand::rngs::OsRng)?;
//! assert_eq!(lab.establish(Duration::from_secs(60)), RunOutcome::Done);
//! let packet = inner_packet(INNER_CLIENT, INNER_LAN, 7);
//! lab.net.send_inner(lab.client, &packet);
//! lab.net.run_for(Duration::from_secs(1));
//! assert_eq!(lab.net.take_inner(lab.gateway), vec![packet]);
//! # Ok::<(), ipsec_xlat::ClientCommandError>(())
//! ```
//!
//! ## Building blocks
//!
//! The roles are made of these; a product that builds its own role, a known-answer test or a
//! fuzzer uses them directly.
//!
//! - [`net`]: how packets travel ([`Path`], [`Received`], [`Transmit`]), the [`Endpoint`]
//!   contract, the bounded transmit queue and the 500/4500 port view.
//! - [`Timestamp`]: the one time type (from the private `time` module).
//! - [`wire`]: zero-copy, panic-free views and writers for IPv4/IPv6, UDP (RFC 3948
//!   encapsulation), ESP, AH, ISAKMP/IKEv1 and our tail framing: the packet parsers and
//!   writers every other module uses.
//! - [`sa`]: ESP/AH security association processing, including the ICV pre/post-translation
//!   that lets the relay rewrite SPIs and outer headers.
//! - [`ike`]: IKEv1 key derivation and the IKE state machines under the roles.
//! - [`relay`]: the relay role and its translation table and per-packet rewrite.
//! - [`client`], [`gateway`]: the other two roles and their settings, events and counters.
//! - [`testing`]: a simulated network with a virtual clock, loss, duplication, reordering,
//!   NAT and address changes, and [`testing::Lab`], the three roles on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Everything here handles bytes from the network: the constructs that could panic on them are
// refused in the whole crate, once (test code opts out).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod client;
pub mod gateway;
pub mod ike;
pub mod net;
pub mod relay;
pub mod sa;
pub mod testing;
pub(crate) mod time;
pub mod wire;

pub use client::{
    Client, ClientCommandError, ClientCounters, ClientEvent, ClientSettings, ClientStatus,
};
pub use gateway::{Gateway, GatewayCounters, GatewayEvent, GatewaySettings};
pub use ike::phase2::ChildSummary;
pub use net::{Endpoint, Leg, NetPath, Path, Received, Transmit, Transport};
pub use relay::{Relay, RelayEvent, RelaySettings};
pub use time::Timestamp;
