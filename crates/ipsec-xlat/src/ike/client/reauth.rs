//! Reauthentication: IKEv1 has no IKE SA rekey, so the IKE SA is replaced by a new main mode
//! (RFC 2409 section 5) before its lifetime ends, and the client must start it because the
//! relay cannot hand an SGW-initiated main mode to a client (`docs/PROTOCOL.md` §4.5).
//!
//! [`IkeClient::enable_reauth`] arms a timer when main mode completes; the client reports
//! [`IkeClientEvent::ReauthDue`] once, and [`IkeClient::reauthenticate`] builds the successor
//! (without INITIAL-CONTACT, RFC 2407 section 4.6.3.3) for a make-before-break switch.

use crate::time::Timestamp;
use core::time::Duration;

use rand_core::{CryptoRng, RngCore};

use super::{IkeClient, IkeClientError, IkeClientEvent};

/// When to replace the IKE SA by a new main mode.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReauthTimer {
    /// How long before the end of the IKE SA's lifetime to start (before jitter); `None`:
    /// 10 % of the negotiated lifetime.
    margin: Option<Duration>,
    /// When it is due (known once main mode completed).
    due: Option<Timestamp>,
    /// [`IkeClientEvent::ReauthDue`] was reported (once per timer).
    reported: bool,
}

impl ReauthTimer {
    /// The instant to reauthenticate for an IKE SA established at `now` with a lifetime of
    /// `lifetime_secs`: the lifetime minus the margin (default 10 %) minus a random jitter of
    /// up to half the margin, so that a client and an SGW with the same lifetime do not both
    /// start at once and the client, whose main mode the relay can carry, usually goes first
    /// (strongSwan's ipsec.conf defaults start between 90 % and 95 % of a 3 h lifetime).
    /// Never earlier than half the lifetime: a margin as long as the lifetime would otherwise
    /// reauthenticate in a loop.
    fn schedule<R: RngCore>(
        margin: Option<Duration>,
        now: Timestamp,
        lifetime_secs: u32,
        rng: &mut R,
    ) -> Option<Timestamp> {
        let life = Duration::from_secs(u64::from(lifetime_secs));
        let margin = margin.unwrap_or(life.checked_div(10).unwrap_or_default());
        let jitter_ms = u64::try_from(margin.as_millis() / 2).unwrap_or(u64::MAX);
        let jitter = Duration::from_millis(
            rng.next_u64()
                .checked_rem(jitter_ms.saturating_add(1))
                .unwrap_or(0),
        );
        let lead = margin
            .saturating_add(jitter)
            .min(life.checked_div(2).unwrap_or_default());
        now.checked_add(life.saturating_sub(lead))
    }
}

impl IkeClient {
    /// Reauthenticate before the IKE SA's lifetime ends: `margin` before it (`None`: 10 % of
    /// the negotiated lifetime), minus a random jitter of up to half the margin. The client
    /// then reports [`IkeClientEvent::ReauthDue`] once (see [`Self::reauthenticate`]). Off by
    /// default: the IKE SA then ends with its lifetime at the SGW.
    pub fn enable_reauth(&mut self, margin: Option<Duration>) {
        self.reauth = Some(ReauthTimer {
            margin,
            due: None,
            reported: false,
        });
    }

    /// When the reauthentication is due, once main mode completed with it enabled.
    pub(crate) fn reauth_at(&self) -> Option<Timestamp> {
        self.reauth.and_then(|r| r.due)
    }

    /// Whether the IKE SA should be replaced now: it exists and its reauthentication time
    /// passed.
    pub(crate) fn reauth_due(&self, now: Timestamp) -> bool {
        self.phase().has_ike_sa() && self.reauth_at().is_some_and(|at| at <= now)
    }

    /// Re-arms the reauthentication for `at` (a successor failed and there is still time):
    /// [`IkeClientEvent::ReauthDue`] is reported again then.
    pub(crate) fn defer_reauth(&mut self, at: Timestamp) {
        if let Some(r) = self.reauth.as_mut() {
            r.due = Some(at);
            r.reported = false;
        }
    }

    /// The successor of this client for a reauthentication: a new main mode and quick mode
    /// through the relay with the same configuration and new cookies, but without
    /// INITIAL-CONTACT: that notification tells the SGW to delete every other IKE SA of our
    /// identity (RFC 2407 4.6.3.3), which would kill this client's bundles before the
    /// successor's exist. strongSwan's own IKEv1 reauthentication omits it too. The caller
    /// keeps this client until the successor's first bundle is installed, then ends it with
    /// [`Self::delete_phase1`].
    pub fn reauthenticate<R: RngCore + CryptoRng>(
        &self,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<IkeClient, IkeClientError> {
        let mut config = self.config.clone();
        config.phase1.initial_contact = false;
        let mut next = IkeClient::new(config, now, rng)?;
        if let Some(r) = self.reauth {
            next.enable_reauth(r.margin);
        }
        Ok(next)
    }

    /// Main mode completed at `now` with a lifetime of `lifetime_secs`: arms the timer, if
    /// reauthentication is enabled.
    pub(super) fn arm_reauth(&mut self, now: Timestamp, lifetime_secs: u32) {
        if let Some(r) = self.reauth.as_mut() {
            r.due = ReauthTimer::schedule(r.margin, now, lifetime_secs, &mut self.rng);
        }
    }

    /// Reports [`IkeClientEvent::ReauthDue`] once when the time came.
    pub(super) fn report_reauth_due(&mut self, now: Timestamp) {
        if self.reauth_due(now) {
            if let Some(r) = self.reauth.as_mut().filter(|r| !r.reported) {
                r.reported = true;
                self.events.push_back(IkeClientEvent::ReauthDue);
            }
        }
    }

    /// When the reauthentication timer fires, while it is armed and not yet reported.
    pub(super) fn reauth_deadline(&self) -> Option<Timestamp> {
        self.reauth
            .filter(|r| !r.reported && self.phase().has_ike_sa())
            .and_then(|r| r.due)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::super::tests::{config, Lab};
    use super::super::IkePhase;
    use super::*;

    #[test]
    fn reauthentication_is_scheduled_before_the_lifetime_ends_with_jitter() {
        let mut rng = StdRng::seed_from_u64(3);
        let now = Timestamp::ZERO;
        let life = 10_800u32;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            // Default margin: 10 % of the lifetime, plus up to 5 % jitter.
            let at = ReauthTimer::schedule(None, now, life, &mut rng).unwrap();
            let lead = Duration::from_secs(u64::from(life)) - (at - now);
            assert!(lead >= Duration::from_secs(1080), "{lead:?}");
            assert!(lead <= Duration::from_secs(1620), "{lead:?}");
            seen.insert(lead.as_millis());
        }
        assert!(seen.len() > 150, "jitter varies: {} distinct", seen.len());
        // An explicit margin.
        let at = ReauthTimer::schedule(Some(Duration::from_secs(60)), now, life, &mut rng).unwrap();
        let lead = Duration::from_secs(u64::from(life)) - (at - now);
        assert!((60..=90).contains(&lead.as_secs()), "{lead:?}");
        // A margin as long as the lifetime never reauthenticates before half of it.
        let at =
            ReauthTimer::schedule(Some(Duration::from_secs(20_000)), now, life, &mut rng).unwrap();
        assert_eq!(at - now, Duration::from_secs(5400));
    }

    #[test]
    fn reauthentication_needs_an_ike_sa_and_its_successor_omits_initial_contact() {
        let mut rng = StdRng::seed_from_u64(4);
        let now = Timestamp::ZERO;
        let mut client = IkeClient::new(config(&mut rng), now, &mut rng).unwrap();
        client.enable_reauth(None);
        // In main mode: no timer yet, nothing due however late.
        assert_eq!(client.reauth_at(), None);
        let late = now + Duration::from_secs(100_000);
        assert!(!client.reauth_due(late));
        // Forcing a time does not make it due without an IKE SA either.
        client.defer_reauth(now);
        assert!(!client.reauth_due(late));
        let _ = client.poll_transmit();
        client.handle_timeout(now + Duration::from_millis(1));
        assert!(
            !std::iter::from_fn(|| client.poll_event())
                .any(|e| matches!(e, IkeClientEvent::ReauthDue)),
            "no ReauthDue in main mode"
        );
        // The successor: new cookies, same settings, no INITIAL-CONTACT.
        let next = client.reauthenticate(now, &mut rng).unwrap();
        assert_ne!(
            next.relay_cookies().initiator,
            client.relay_cookies().initiator
        );
        assert!(client.config.phase1.initial_contact);
        assert!(!next.config.phase1.initial_contact);
        assert!(next.reauth.is_some(), "reauth stays enabled");
        assert_eq!(next.phase(), IkePhase::MainMode);
    }

    #[test]
    fn reauth_due_is_reported_once_before_the_lifetime_ends_and_the_successor_takes_over() {
        let mut rng = StdRng::seed_from_u64(5);
        let (mut lab, config) = Lab::new(&mut rng);
        let start = lab.net.now();
        let mut first = IkeClient::new(config, start, &mut rng).unwrap();
        first.enable_reauth(None);
        lab.clients().push(first);
        lab.settle();
        assert_eq!(lab.clients()[0].phase(), IkePhase::Established);
        // 10 800 s lifetime: due between 85 % and 90 % of it.
        let at = lab.clients()[0].reauth_at().expect("armed at main mode");
        assert!(at >= start + Duration::from_secs(9180), "{:?}", at - start);
        assert!(at <= start + Duration::from_secs(9720), "{:?}", at - start);
        assert_eq!(lab.clients()[0].poll_timeout(), Some(at), "the next timer");
        assert!(!lab.clients()[0].reauth_due(at - Duration::from_millis(1)));
        assert!(lab.clients()[0].reauth_due(at));
        lab.take_events();
        // Not yet, then exactly once.
        lab.clients()[0].handle_timeout(at - Duration::from_millis(1));
        lab.advance_to(at);
        lab.clients()[0].handle_timeout(at);
        lab.clients()[0].handle_timeout(at + Duration::from_secs(1));
        lab.settle();
        let due = lab
            .take_events()
            .into_iter()
            .filter(|e| matches!(e, IkeClientEvent::ReauthDue))
            .count();
        assert_eq!(due, 1);
        assert_eq!(
            lab.clients()[0].poll_timeout(),
            None,
            "nothing more to time"
        );
        // The successor: a second session of the same client through the relay.
        let now = lab.net.now();
        let next = lab.clients()[0].reauthenticate(now, &mut rng).unwrap();
        lab.clients().push(next);
        lab.settle();
        assert_eq!(lab.clients()[1].phase(), IkePhase::Established);
        assert_eq!(lab.relay().sessions(), 2);
        assert_eq!(
            lab.sgw().ike_sas(),
            2,
            "the SGW kept the old IKE SA (no INITIAL-CONTACT)"
        );
        let (old, _) = lab.clients()[0].ike_sa().unwrap();
        let (new, _) = lab.clients()[1].ike_sa().unwrap();
        assert_ne!(old, new);
        // Break after make: the old IKE SA goes, at the SGW and at the relay.
        lab.clients()[0].delete_phase1().unwrap();
        lab.settle();
        assert_eq!(lab.sgw().ike_sas(), 1);
        assert_eq!(lab.relay().sessions(), 1);
        assert_eq!(lab.clients()[1].phase(), IkePhase::Established);
        // The successor's own timer is armed from its own main mode.
        assert!(lab.clients()[1].reauth_at().unwrap() > at + Duration::from_secs(9000));
    }
}
