//! The live SA bundles (children) of the IKE SA: their c-side SPIs, their lifetimes, the
//! events that report their start and end, and with `auto_rekey` the timers that start a
//! successor at 90 % of the lifetime (a new quick mode, RFC 2409 section 5.5) and delete the
//! bundle at its end (`docs/PROTOCOL.md` §4.3 "SPI grants" and "Retiring").

use crate::time::Timestamp;
use core::time::Duration;

use rand_core::RngCore;

use super::{ClientChild, IkeClient, IkeClientEvent};
use crate::ike::phase2::{BundleSpis, ChildProposal, ChildSa, Encapsulation};

/// A live bundle, by its s-side SPIs.
#[derive(Clone, Copy, Debug)]
pub(super) struct LiveChild {
    pub(super) s_in: BundleSpis,
    pub(super) s_out: BundleSpis,
    /// When to start its successor (auto-rekey), until done.
    soft: Option<Timestamp>,
    /// When its lifetime ends.
    hard: Timestamp,
}

impl LiveChild {
    fn new(sa: &ChildSa, now: Timestamp) -> Self {
        let secs = u64::from(sa.proposal.lifetime_secs);
        Self {
            s_in: sa.inbound_spis,
            s_out: sa.outbound_spis,
            soft: now.checked_add(Duration::from_secs(secs.saturating_mul(9) / 10)),
            hard: now.checked_add(Duration::from_secs(secs)).unwrap_or(now),
        }
    }
}

fn random_spi<R: RngCore>(rng: &mut R) -> u32 {
    loop {
        let s = rng.next_u32();
        if s > 255 {
            return s;
        }
    }
}

impl IkeClient {
    /// New c-side inbound SPIs for the protocols our proposals use.
    pub(super) fn fresh_c_spis(&mut self) -> BundleSpis {
        let uses = |f: fn(&ChildProposal) -> bool| self.config.child.proposals.iter().any(f);
        let (esp, ah) = (uses(|p| p.esp.is_some()), uses(|p| p.ah.is_some()));
        BundleSpis {
            esp: esp.then(|| random_spi(&mut self.rng)),
            ah: ah.then(|| random_spi(&mut self.rng)),
        }
    }

    /// A quick mode completed: the bundle goes live and is reported. `c_spis_in` is c-SPI-1,
    /// `c_spis_out` c-SPI-2 (the grant's).
    pub(super) fn child_established(
        &mut self,
        now: Timestamp,
        sa: ChildSa,
        c_spis_in: BundleSpis,
        c_spis_out: BundleSpis,
        we_initiated: bool,
    ) {
        self.children.push(LiveChild::new(&sa, now));
        let s_udp_encap = sa.proposal.mode == Encapsulation::UdpTunnel;
        self.events
            .push_back(IkeClientEvent::ChildEstablished(Box::new(ClientChild {
                sa,
                c_spis_in,
                c_spis_out,
                s_udp_encap,
                c_udp_encap: self.config.c_udp_encap,
                relay: self.config.relay,
                s_path: self.s_path,
                we_initiated,
            })));
    }

    /// Reports the end of a bundle.
    pub(super) fn child_deleted(&mut self, child: &LiveChild, by_peer: bool) {
        self.events.push_back(IkeClientEvent::ChildDeleted {
            s_spis_in: child.s_in,
            s_spis_out: child.s_out,
            by_peer,
        });
    }

    /// With `auto_rekey`: deletes the bundles whose lifetime ended and starts the successor of
    /// the first one past 90 % of it.
    pub(super) fn child_timers(&mut self, now: Timestamp) {
        let expired: Vec<BundleSpis> = self
            .children
            .iter()
            .filter(|c| c.hard <= now)
            .map(|c| c.s_in)
            .collect();
        for s_in in expired {
            // A failure here leaves the bundle to the SGW's own expiry.
            let _ = self.delete_child(s_in);
        }
        let due = self
            .children
            .iter()
            .position(|c| c.soft.is_some_and(|s| s <= now));
        if let Some(i) = due {
            match self.rekey(now) {
                Ok(()) => {
                    if let Some(c) = self.children.get_mut(i) {
                        c.soft = None;
                    }
                }
                // Another quick mode runs or no grant yet: try again shortly.
                Err(_) => {
                    if let Some(c) = self.children.get_mut(i) {
                        c.soft = now.checked_add(Duration::from_secs(1));
                    }
                }
            }
        }
    }

    /// When the bundles' timers fire (with `auto_rekey`; none without).
    pub(super) fn child_deadlines(&self) -> impl Iterator<Item = Timestamp> + '_ {
        self.children
            .iter()
            .filter(|_| self.config.auto_rekey)
            .flat_map(|c| [c.soft, Some(c.hard)])
            .flatten()
    }
}
