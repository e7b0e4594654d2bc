//! I/O shell around the sans-IO core [`ipsec_xlat`].
//!
//! This crate owns sockets, TUN devices, timers, signals and configuration. It holds no
//! protocol logic: it only moves bytes and time between the operating system and a state
//! machine that implements [`Endpoint`].
//!
//! - [`Endpoint`], [`Received`], [`Transmit`], [`Path`], [`Timestamp`]: the contract with the
//!   core, re-exported from it (quinn-proto's `handle_*`/`poll_*` split, caller-owned buffers,
//!   the core's one time type; the reactor converts its clock to it once).
//! - [`Driver`]: the single-threaded loop over [`PacketPort`]s, generic over a [`Reactor`]
//!   (epoll and the real clock, or the in-memory network and a virtual clock).
//! - [`sys`]: UDP and raw IP sockets with `recvmmsg`/`sendmmsg`, and the TUN device.
//! - [`mem`]: the in-memory network and TUN, for tests and the quickstart.
//! - [`setup`]: opening a leg's sockets from its configuration.
//! - [`config`]: the TOML configuration of the three binaries, validated at load.
//! - [`adapters`]: the core's client, relay and gateway roles as the daemons run them: built
//!   from their configuration, their events logged and sent as notices, the control socket
//!   and status file served. No protocol state lives here.
#![forbid(unsafe_code)]
// The shell handles bytes from the network and the OS as the core does: the same constructs
// that could panic on them are refused outside test code.
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
#![warn(missing_docs)]

pub mod adapters;
pub mod config;
mod driver;
pub mod mem;
mod port;
mod reactor;
pub mod setup;
pub mod sys;

pub use ipsec_xlat as core;

pub use driver::{Driver, DriverConfig, DriverStats, Exit};
/// The contract with the core and its vocabulary are the core's; re-exported so the shell's
/// users need one import.
pub use ipsec_xlat::net::{Endpoint, Leg, NetPath, Path, Received, Transmit, Transport};
pub use ipsec_xlat::wire::IpProtocol;
pub use ipsec_xlat::Timestamp;
pub use port::{OutDatagram, PacketPort, PortKind, PortTransport, RecvBatch, RxMeta};
pub use reactor::{MemReactor, OsReactor, Reactor, ShutdownHandle, Wake};
