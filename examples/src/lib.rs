//! What the ipsec-xlat binaries share: their exit codes ([`exit`]), logging ([`logging`]) and
//! the daemons' run loop ([`daemon`]): load and validate the configuration, open sockets and
//! the TUN device with the I/O crate, wrap the core in its adapter, run the driver until a
//! signal, and report. The binaries themselves only parse their command line. [`echo`] is
//! the checked inner traffic of the quickstart and of the binaries' tests.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod daemon;
pub mod echo;
pub mod exit;
pub mod logging;
