//! I/O shell around the sans-IO core [`ipsec_xlat`].
//!
//! This crate will own sockets, TUN devices, timers and configuration. It holds no protocol
//! logic: it only moves bytes and time between the operating system and the core.
#![forbid(unsafe_code)]

pub use ipsec_xlat as core;
