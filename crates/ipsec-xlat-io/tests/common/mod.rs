//! Endpoints for driving the shell in tests: no protocol, only routing rules.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::time::Duration;

use ipsec_xlat_io::Timestamp;

use ipsec_xlat_io::{Endpoint, Path, Received, Transmit};

/// Decides where a received packet goes (`None`: keep it, send nothing).
pub type Rule = Box<dyn FnMut(&Received, &[u8]) -> Option<Path> + Send>;

/// Forwards every packet as `rule` says, recording what it saw; drained after `limit` packets
/// forwarded, if set.
pub struct Forwarder {
    rule: Rule,
    queue: VecDeque<(Path, Vec<u8>)>,
    pub seen: Vec<(Received, Vec<u8>)>,
    pub forwarded: usize,
    pub limit: Option<usize>,
}

impl Forwarder {
    pub fn new(rule: Rule) -> Self {
        Self {
            rule,
            queue: VecDeque::new(),
            seen: Vec::new(),
            forwarded: 0,
            limit: None,
        }
    }
}

impl Endpoint for Forwarder {
    fn handle_datagram(&mut self, _now: Timestamp, rx: &Received, datagram: &[u8]) {
        self.seen.push((*rx, datagram.to_vec()));
        if let Some(path) = (self.rule)(rx, datagram) {
            self.queue.push_back((path, datagram.to_vec()));
        }
    }

    fn handle_timeout(&mut self, _now: Timestamp) {}

    fn poll_transmit(&mut self, _now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        let (path, bytes) = self.queue.pop_front()?;
        let len = bytes.len();
        out.get_mut(..len)?.copy_from_slice(&bytes);
        self.forwarded += 1;
        Some(Transmit { path, len })
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        None
    }

    fn is_drained(&self) -> bool {
        self.limit.is_some_and(|limit| self.forwarded >= limit)
    }
}

/// Fires every `period`, `ticks` times, recording (deadline, now) pairs; then drained.
pub struct Ticker {
    pub next: Option<Timestamp>,
    pub period: Duration,
    pub ticks: usize,
    pub fired: Vec<(Timestamp, Timestamp)>,
}

impl Ticker {
    pub fn new(start: Timestamp, period: Duration, ticks: usize) -> Self {
        Self {
            next: Some(start + period),
            period,
            ticks,
            fired: Vec::new(),
        }
    }
}

impl Endpoint for Ticker {
    fn handle_datagram(&mut self, _now: Timestamp, _rx: &Received, _datagram: &[u8]) {}

    fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(deadline) = self.next {
            self.fired.push((deadline, now));
            self.next = if self.fired.len() < self.ticks {
                Some(deadline + self.period)
            } else {
                None
            };
        }
    }

    fn poll_transmit(&mut self, _now: Timestamp, _out: &mut [u8]) -> Option<Transmit> {
        None
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.next
    }

    fn is_drained(&self) -> bool {
        self.fired.len() >= self.ticks
    }
}
