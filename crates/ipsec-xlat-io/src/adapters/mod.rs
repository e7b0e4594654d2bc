//! The core's state machines as [`Endpoint`](crate::Endpoint)s: what the three binaries, the
//! quickstart and the in-memory tests run.
//!
//! | adapter | core parts | ports |
//! | --- | --- | --- |
//! | [`RelayEndpoint`] | [`ipsec_xlat::Relay`] (IKE relay, translation table, rewrite, ports: the whole role) | c-side and s-side legs |
//! | [`ClientEndpoint`] | `Client` (IKE, SAs, reauthentication, restart) | c-side leg + TUN |
//! | [`TestSgwEndpoint`] | `Gateway` (IKE responder, bundles, routes) | its leg (s-side) + TUN |
//!
//! Why here and not in the binaries: they are the only place where the core's events meet the
//! shell's paths, and every way of running ipsec-xlat needs exactly that glue: the daemons,
//! `xlat quickstart` (three adapters in one process), the in-memory tests of this crate, and
//! anyone embedding the relay. They hold no protocol logic of their own: which packet is IKE
//! and which is ESP (RFC 3948 demultiplexing), which socket form a packet needs, and the
//! conversion of configuration into the core's types. Everything that decides about a packet's
//! content is the core's.
//!
//! Three boundaries are the adapters' business:
//! - **Ports** ([`ports`]): the core thinks in 500 and 4500; sockets may be elsewhere.
//! - **Socket forms** ([`packet`]): the core's SAs want whole IP packets; UDP and IPv6 raw
//!   sockets deliver less.
//! - **Time**: the relay's table keeps milliseconds since the adapter started.

pub mod convert;
pub mod key_log;
mod notice;
pub mod ports;

mod client;
mod relay;
mod test_sgw;

pub use client::{ClientAdapterCounters, ClientEndpoint, ClientTicket};
pub use convert::SetupError;
pub use notice::{ChildSummary, Notice, Notifier};
pub use ports::leg_port_pair;
pub use relay::{identity_rules, relay_listen, RelayAdapterCounters, RelayEndpoint, ReloadOutcome};
pub use test_sgw::TestSgwEndpoint;
