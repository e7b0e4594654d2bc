//! Wire formats: read-only views over received bytes and writers for what we send.
//!
//! Every parser here is total: any byte string yields `Ok` or a typed error naming what was
//! wrong and at which offset. Nothing in this module may panic on network-derived data, so the
//! lints below forbid the constructs that could.
//!
//! The shape follows smoltcp: a `Packet<T: AsRef<[u8]>>` view validates its lengths once in
//! `new_checked`, after which its accessors read fixed offsets; a `Repr` struct holds the
//! high-level fields and can `parse` from and `emit` into a view. Variable-length structures
//! (IPv4 options, IPv6 extension headers and options, the ESP trailer) are walked with nom.
pub mod ah;
pub mod checksum;
pub mod encap;
pub mod esp;
mod field;
pub(crate) mod ipsec_packet;
pub mod ipv4;
pub mod ipv6;
pub mod isakmp;
mod protocol;
pub mod tail;
pub mod udp;

pub use protocol::{IpProtocol, IpVersion};
