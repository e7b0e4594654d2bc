//! Wire formats: read-only views over received bytes and writers for what we send.
//!
//! Every parser here is total: any byte string yields `Ok` or a typed error naming what was
//! wrong and at which offset. Nothing in this module may panic on network-derived data, so the
//! lints below forbid the constructs that could.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

pub mod ah;
pub mod encap;
pub mod esp;
pub mod ipv4;
pub mod ipv6;
pub mod isakmp;
pub mod tail;
pub mod udp;
