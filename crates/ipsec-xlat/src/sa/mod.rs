//! ESP/AH security association processing for the client and the test-SGW.
//!
//! Sans-IO like the rest of the core: packets are byte slices the caller owns, time (`now`) and
//! randomness (the IV) are arguments, and lifetime events are polled.
//!
//! - [`OutboundSa::seal`] protects an IP packet with ESP, AH or AH-over-ESP in tunnel or
//!   transport mode, writing into a caller buffer without allocating.
//! - [`InboundSa::open`] verifies (replay window, ICV) and opens a packet in place;
//!   [`InboundSad`] finds the SA by SPI first.
//! - `translate` is the client's ICV pre/post-translation for talking to the SGW through the
//!   relay: [`ClientOutboundSa`] and [`ClientInboundSa`].
//! - [`SaPair`] holds one installed bundle (either kind of halves) with its IVs, timers and
//!   expiry, as every role that runs SAs keeps them.
//!
//! Suites: ESP AES-GCM-16 (RFC 4106), AES-CBC with HMAC-SHA-256-128 or HMAC-SHA1-96, NULL with
//! either HMAC; AH with either HMAC; optional extended sequence numbers; anti-replay windows of
//! 32 to 4096 packets; byte and time lifetimes.
//!
//! Nothing here may panic on network data, so the lints below forbid the constructs that
//! could, as in [`crate::wire`].
mod ah;
mod cipher;
mod config;
mod counters;
mod error;
mod esp;
mod inbound;
mod integrity;
mod iv;
mod keys;
mod lifetime;
mod locate;
mod outbound;
mod outer;
mod pair;
mod replay;
mod sad;
mod sequence;
pub(crate) mod translate;

pub use cipher::Encryption;
pub use config::{AhConfig, EspConfig, SaConfig, DEFAULT_REPLAY_WINDOW};
pub use counters::SaCounters;
pub use error::{ConfigError, HeaderError, SaError};
pub use esp::EspSuite;
pub use inbound::{InboundSa, Opened};
pub use integrity::Integrity;
pub use iv::IvSource;
pub use keys::SecretKey;
pub use lifetime::{Lifetime, LifetimeEvent, LifetimeTracker};
pub use outbound::{OutboundSa, Sealed};
pub use outer::{Mode, TunnelHeader, TunnelV4, TunnelV6, UdpEncap};
pub use pair::{OpenHalf, SaHalf, SaPair, SealHalf};
pub use replay::{ReplayWindow, MAX_WINDOW, MIN_WINDOW};
pub use sad::InboundSad;
pub use sequence::SequenceCounter;
pub use translate::{ClientInboundSa, ClientOutboundSa, SideValues, Translation, INBOUND_ROOM};
