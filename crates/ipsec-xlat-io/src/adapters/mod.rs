//! The core's three roles as the daemons run them: what the three binaries, the quickstart and
//! the in-memory tests drive with the [`Driver`](crate::Driver).
//!
//! | adapter | core parts | ports |
//! | --- | --- | --- |
//! | [`RelayEndpoint`] | [`ipsec_xlat::Relay`] (IKE relay, translation table, rewrite, ports: the whole role) | c-side and s-side legs |
//! | [`ClientEndpoint`] | `Client` (IKE, SAs, reauthentication, restart) | c-side leg + TUN |
//! | [`TestSgwEndpoint`] | `Gateway` (IKE responder, bundles, routes) | its leg (s-side) + TUN |
//!
//! Each adapter owns one role of the core and adds only what concerns a daemon: it converts
//! the validated configuration into the role's settings ([`convert`]), turns the role's
//! events into log lines and [`Notice`]s (the quickstart and the tests listen to those), keeps
//! the client's status file and the test-SGW's key log ([`key_log`]), formats the relay's
//! report, re-reads the relay's file on SIGHUP, and maps control-socket commands onto the
//! client's command methods. Every protocol decision (which packet is IKE and which ESP,
//! rekeying, reauthentication, restart backoff, SPI allocation, translation) is the role's.
//! The real ports of our own sockets come from the opened ports ([`leg_port_pair`]).

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
