//! Informational exchanges (RFC 2408 section 4.8, RFC 2409 section 5.7): what the SGW tells
//! us and how bundles and the IKE SA end.
//!
//! - From the SGW, encrypted ([`IkeClient::on_informational`]): a DELETE (RFC 2408 section
//!   3.15) of a bundle is answered with our own DELETE, whose tail makes the relay retire its
//!   entry; an ISAKMP-SA DELETE naming our cookie pair ends the client; a DPD R-U-THERE
//!   (RFC 3706 section 5) is answered with R-U-THERE-ACK.
//! - From the SGW or the relay, unencrypted: during main mode an error notification (RFC 2408
//!   section 3.14) ends the attempt ([`error_notification`]); after it, keys exist and an
//!   unprotected message is counted (`unprotected`) and ignored (RFC 2408 section 4.8).
//! - Ours: [`IkeClient::delete_child`] and [`IkeClient::delete_phase1`].
//!
//! IKEv1 informational exchanges are not acknowledged, so nothing here is retransmitted.
//! `docs/PROTOCOL.md` §4.3 ("Retiring" and the DELETE rows of the table) says what the relay
//! does with each tail.

use super::{IkeClient, IkeClientError, IkeClientEvent, LiveChild, Reject, State, Step};
use crate::ike::endpoint::{framed, IkeDatagram};
use crate::ike::phase1::Chain;
use crate::ike::phase2::{
    delete_message, delete_phase1_message, dpd_ack, notify_message, open_informational, BundleSpis,
};
use crate::ike::tail_content::{IkeRetireTail, RetireTail};
use crate::wire::isakmp::{Message, NotifyType, PayloadType, ProtocolId};

impl IkeClient {
    /// An encrypted informational exchange from the SGW: DELETEs end bundles (we delete our
    /// half too and tell the relay in the tail of our DELETE); a DPD R-U-THERE is answered
    /// with R-U-THERE-ACK (RFC 3706), which needs no tail: the relay forwards it as it is.
    pub(super) fn on_informational(&mut self, msg: &[u8]) -> Result<(), Step> {
        let s_msg = self.to_s_side(msg);
        let (info, ike_gone) = {
            let p1 = self.phase1().ok_or(Step::Reject(Reject::Unexpected))?;
            let info = open_informational(p1, &s_msg).map_err(|_| Step::Reject(Reject::Message))?;
            // Only a DELETE naming our own cookie pair ends the IKE SA (strongSwan ignores
            // one for another IKE SA the same way).
            let ike_gone = info.ike_deletes.contains(&p1.cookies);
            (info, ike_gone)
        };
        let acks = self.dpd_acks(&info.notifies)?;
        let answered = !acks.is_empty();
        for ack in acks {
            let ack = self.to_c_side(ack);
            let t = framed(self.config.local, self.config.relay, ack);
            self.transmits.push_back(t);
        }
        let ended = self.take_deleted(&info.deletes);
        if ended.is_empty() && !ike_gone {
            return if answered {
                Ok(())
            } else {
                Err(Step::Reject(Reject::Unexpected))
            };
        }
        for child in ended {
            self.send_delete(&child).map_err(Step::Fatal)?;
            self.child_deleted(&child, true);
        }
        if ike_gone {
            // The SGW forgot the IKE SA; the relay still has its entry and only our tail can
            // tell it. A failure to build that message must not keep a dead SA alive: the
            // relay's entry then ends with its lifetime.
            if let Ok(t) = self.phase1_delete_datagram(true) {
                self.transmits.push_back(t);
            }
            self.close(true);
        }
        Ok(())
    }

    /// R-U-THERE-ACKs for the R-U-THERE notifications among `notifies` (RFC 3706 section 5),
    /// all or none.
    fn dpd_acks(
        &mut self,
        notifies: &[(NotifyType, Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<Vec<u8>>, Step> {
        let p1 = self.phase1().ok_or(Step::Reject(Reject::Unexpected))?;
        let mut rng = self.rng.clone();
        let mut acks = Vec::new();
        for (ty, spi, data) in notifies {
            if *ty == NotifyType::R_U_THERE {
                let ack = notify_message(p1, &dpd_ack(spi, data), &mut rng)
                    .map_err(|e| Step::Fatal(e.into()))?;
                acks.push(ack);
            }
        }
        self.rng = rng;
        Ok(acks)
    }

    /// Takes the live bundles a DELETE from the SGW names (by the SPIs it receives with: our
    /// outbound ones).
    fn take_deleted(&mut self, deletes: &[(ProtocolId, Vec<u32>)]) -> Vec<LiveChild> {
        let mut ended = Vec::new();
        for (protocol, spis) in deletes {
            for spi in spis {
                let hit = self.children.iter().position(|c| {
                    let out = if *protocol == ProtocolId::IPSEC_AH {
                        c.s_out.ah
                    } else {
                        c.s_out.esp
                    };
                    out == Some(*spi)
                });
                if let Some(i) = hit {
                    ended.push(self.children.remove(i));
                }
            }
        }
        ended
    }

    /// Our ISAKMP-SA DELETE (RFC 2408 section 3.15, SPI = the s-side cookie pair) with the
    /// tail that makes the relay forget the IKE entry. `s_deleted`: the SGW deleted it first,
    /// so the relay must not forward the message to it.
    fn phase1_delete_datagram(&mut self, s_deleted: bool) -> Result<IkeDatagram, IkeClientError> {
        let (message, s_cookies) = {
            let p1 = self.phase1().ok_or(IkeClientError::NotReady)?;
            let mut rng = self.rng.clone();
            let m = delete_phase1_message(p1, &mut rng)?;
            let cookies = p1.cookies;
            self.rng = rng;
            (m, cookies)
        };
        let message = self.to_c_side(message);
        let items = IkeRetireTail {
            s_cookies,
            s_deleted,
        }
        .encode()?;
        let session = self.session().ok_or(IkeClientError::NotReady)?;
        let d = Self::with_tail(session, message, &items)?;
        Ok(framed(self.config.local, self.config.relay, d))
    }

    /// Ends the IKE SA locally: bundles still live end with it, nothing is retransmitted.
    fn close(&mut self, by_peer: bool) {
        let cookies = self.phase1().map(|p1| p1.cookies).unwrap_or(self.s_cookies);
        for child in core::mem::take(&mut self.children) {
            self.child_deleted(&child, by_peer);
        }
        self.state = State::Deleted;
        self.pending = None;
        self.events
            .push_back(IkeClientEvent::Phase1Deleted { cookies, by_peer });
    }

    /// Deletes the IKE SA itself, as `swanctl --terminate` does: a DELETE for every live
    /// bundle first (each retiring its relay entry), then the ISAKMP-SA DELETE, whose tail
    /// makes the relay forward it and forget the IKE entry. Without it the SGW would keep the
    /// IKE SA and refuse or confuse the next main mode from the same identity. The DELETEs
    /// are queued for [`Self::poll_transmit`]; the client is finished afterwards
    /// ([`IkeClientEvent::Phase1Deleted`]). `NotReady` before main mode completed (there is no
    /// IKE SA to delete yet).
    pub fn delete_phase1(&mut self) -> Result<(), IkeClientError> {
        if self.phase1().is_none() {
            return Err(IkeClientError::NotReady);
        }
        let all: Vec<BundleSpis> = self.children.iter().map(|c| c.s_in).collect();
        for s_in in all {
            self.delete_child(s_in)?;
        }
        let t = self.phase1_delete_datagram(false)?;
        // IKEv1 informational exchanges are not acknowledged, so not retransmitted.
        self.transmits.push_back(t);
        self.close(false);
        Ok(())
    }

    /// Sends our DELETE for `child`'s inbound SPIs, with a tail naming it for the relay.
    fn send_delete(&mut self, child: &LiveChild) -> Result<(), IkeClientError> {
        let deletes: Vec<(ProtocolId, Vec<u32>)> = [
            (ProtocolId::IPSEC_AH, child.s_in.ah),
            (ProtocolId::IPSEC_ESP, child.s_in.esp),
        ]
        .into_iter()
        .filter_map(|(p, spi)| spi.map(|s| (p, vec![s])))
        .collect();
        let message = {
            let p1 = self.phase1().ok_or(IkeClientError::NotReady)?;
            let mut rng = self.rng.clone();
            let m = delete_message(p1, &deletes, &mut rng)?;
            self.rng = rng;
            m
        };
        let message = self.to_c_side(message);
        let items = RetireTail {
            s_spi_2: child.s_in,
        }
        .encode()?;
        let session = self.session().ok_or(IkeClientError::NotReady)?;
        let d = Self::with_tail(session, message, &items)?;
        let t = framed(self.config.local, self.config.relay, d);
        // IKEv1 informational exchanges are not acknowledged, so not retransmitted.
        self.transmits.push_back(t);
        Ok(())
    }

    /// Deletes a bundle we no longer need (after a rekey, when the old one's lifetime ends):
    /// sends DELETE to the SGW with a tail that makes the relay retire its entry.
    /// `s_spis_in` names the bundle by its inbound s-side SPIs (`ClientChild::sa.inbound_spis`).
    pub fn delete_child(&mut self, s_spis_in: BundleSpis) -> Result<(), IkeClientError> {
        let i = self
            .children
            .iter()
            .position(|c| c.s_in == s_spis_in)
            .ok_or(IkeClientError::NotReady)?;
        let child = self.children.remove(i);
        if let Err(e) = self.send_delete(&child) {
            self.children.insert(i, child);
            return Err(e);
        }
        self.child_deleted(&child, false);
        Ok(())
    }
}

/// The first error-range notification (type < 16384) of an unencrypted message.
pub(super) fn error_notification(message: &Message<'_>) -> Option<NotifyType> {
    let chain = Chain::plaintext(message).ok()?;
    let found = chain.all(PayloadType::NOTIFICATION).find_map(|n| {
        let b = n.body.get(6..8)?;
        let ty = NotifyType(u16::from_be_bytes([*b.first()?, *b.get(1)?]));
        (ty.0 < 16384).then_some(ty)
    });
    found
}
