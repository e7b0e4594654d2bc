//! The contract between the shell and a sans-IO state machine (client, relay or test-SGW).

use std::time::Instant;

use crate::path::{Received, Transmit};

/// A sans-IO protocol endpoint the [`crate::Driver`] can run, in quinn-proto's shape: bytes and
/// time go in through `handle_*`, packets and the next deadline come out through `poll_*`.
///
/// The shell never interprets bytes. It calls, in each turn of its loop:
/// 1. [`handle_datagram`](Self::handle_datagram) for every packet received from a socket or
///    the TUN device;
/// 2. [`handle_timeout`](Self::handle_timeout) once, when `now` has reached
///    [`poll_timeout`](Self::poll_timeout);
/// 3. [`poll_transmit`](Self::poll_transmit) until it returns `None`, sending each result;
/// 4. then sleeps until a socket is readable or the next [`poll_timeout`](Self::poll_timeout).
///
/// Buffers are the caller's (boringtun's style): `poll_transmit` writes into a slice the shell
/// owns, sized for the largest IP packet (64 KiB by default), and says how much it wrote.
pub trait Endpoint {
    /// A packet arrived. `datagram` is only valid during the call: copy what must be kept.
    fn handle_datagram(&mut self, now: Instant, rx: &Received, datagram: &[u8]);

    /// The deadline returned by [`poll_timeout`](Self::poll_timeout) has passed (`now` is at or
    /// after it).
    fn handle_timeout(&mut self, now: Instant);

    /// The next packet to send, written to the start of `out`; `None` when nothing is queued.
    ///
    /// A transmit whose `len` exceeds `out.len()` is a bug in the endpoint; the shell drops it
    /// and counts it rather than panicking.
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<Transmit>;

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None` for never.
    fn poll_timeout(&self) -> Option<Instant>;

    /// True once the endpoint has nothing more to do, so that the driver returns (the
    /// quickstart's client and test harnesses use it). Daemons keep the default, `false`.
    fn is_drained(&self) -> bool {
        false
    }
}
