//! One installed bundle's datapath: its outbound and inbound SAs with their translation
//! between the s-side SPIs (what the keys were derived with, what the SGW knows) and the
//! c-side SPIs the relay chose (`docs/PROTOCOL.md` §3.2).

use core::net::IpAddr;

use rand_core::RngCore;

use super::error::ClientInstallError;
use crate::ike::phase2::{describe_child, sa_config, BundleSpis, ChildSummary, Direction};
use crate::ike::ClientChild;
use crate::sa::{
    ClientInboundSa, ClientOutboundSa, InboundSa, Opened, OutboundSa, SaCounters, SaError, SaPair,
    Sealed, SideValues, Translation, TunnelHeader,
};
use crate::Timestamp;

/// One child SA (bundle) in the datapath.
pub(crate) struct ChildPath {
    /// Both SAs (translating between s-side and c-side SPIs), their IVs and lifetimes.
    sas: SaPair<ClientOutboundSa, ClientInboundSa>,
    /// The c-side SPI inbound packets carry first (AH's for a bundle).
    c_lookup: u32,
    /// A rekey was started for this bundle because its sequence numbers run out.
    pub(crate) sequence_rekey: bool,
    summary: ChildSummary,
    /// The IKE client (generation) that negotiated it.
    generation: u64,
}

impl ChildPath {
    /// The datapath of one child. ESP's ICV covers neither outer address, so for ESP alone
    /// the header the SA writes carries our c-side addresses on both sides of the
    /// translation; only the SPIs differ between the s-side and the c-side. AH's ICV covers
    /// the outer addresses (RFC 4302 §3.3.3.1): its s-side is the path the SGW sees, the
    /// relay's s-side address and the SGW's, and the outbound header starts from a random
    /// Identification (DF set, so the sender's kernel keeps whatever we write).
    pub(crate) fn install<R: RngCore + ?Sized>(
        child: &ClientChild,
        generation: u64,
        local: IpAddr,
        relay: IpAddr,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<Self, ClientInstallError> {
        let sa = &child.sa;
        let (s_src, s_dst) = if sa.proposal.ah.is_some() {
            let (relay_s, sgw) = child.s_path;
            if relay_s.ip().is_unspecified() || sgw.ip().is_unspecified() {
                return Err(ClientInstallError::NoSidePath);
            }
            (relay_s.ip(), sgw.ip())
        } else {
            (local, relay)
        };
        let mut out_header =
            TunnelHeader::between(s_src, s_dst).map_err(ClientInstallError::Header)?;
        if let TunnelHeader::V4(h) = &mut out_header {
            h.ident = u16::try_from(rng.next_u32() >> 16).unwrap_or(1);
        }
        let in_header = TunnelHeader::between(s_dst, s_src).map_err(ClientInstallError::Header)?;
        let out_config = sa_config(sa, Direction::Outbound, out_header)?;
        let in_config = sa_config(sa, Direction::Inbound, in_header)?;
        let side = |src, dst, spis: BundleSpis| SideValues {
            src,
            dst,
            esp_spi: spis.esp,
            ah_spi: spis.ah,
            udp_encap: None,
        };
        let outbound = ClientOutboundSa::new(
            OutboundSa::new(&out_config, now)?,
            Translation {
                s_side: side(s_src, s_dst, sa.outbound_spis),
                c_side: side(local, relay, child.c_spis_out),
            },
        )?;
        let inbound = ClientInboundSa::new(
            InboundSa::new(&in_config, now)?,
            Translation {
                s_side: side(s_dst, s_src, sa.inbound_spis),
                c_side: side(relay, local, child.c_spis_in),
            },
        )?;
        let c_lookup = child
            .c_spis_in
            .ah
            .or(child.c_spis_in.esp)
            .ok_or(ClientInstallError::NoCSideSpi)?;
        let aead = sa.proposal.esp.is_some_and(|(c, _)| c.is_aead());
        Ok(Self {
            sas: SaPair::new(outbound, inbound, aead),
            c_lookup,
            sequence_rekey: false,
            summary: ChildSummary {
                suite: describe_child(&sa.proposal),
                inbound: sa.inbound_spis,
                outbound: sa.outbound_spis,
                c_side: Some((child.c_spis_in, child.c_spis_out)),
            },
            generation,
        })
    }

    /// Seals `inner` into `out` (a whole IP packet: s-side sealed, c-side SPI written).
    pub(crate) fn seal<R: RngCore + ?Sized>(
        &mut self,
        inner: &[u8],
        now: Timestamp,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<Sealed, SaError> {
        self.sas.seal(rng, inner, now, out)
    }

    /// Restores the s-side SPI in a whole IP packet from the relay, verifies and opens it.
    pub(crate) fn open<'a>(
        &mut self,
        packet: &'a mut [u8],
        now: Timestamp,
    ) -> Result<Opened<'a>, SaError> {
        self.sas.open(packet, now)
    }

    /// Continues the outbound sequence numbers at `next` (tests of the rekey before they run
    /// out).
    #[cfg(test)]
    pub(crate) fn resume_sequence_at(&mut self, next: u64) {
        self.sas.outbound.sa_mut().resume_sequence_at(next);
    }

    /// The c-side SPI inbound packets of this bundle carry first.
    pub(crate) fn c_lookup(&self) -> u32 {
        self.c_lookup
    }

    /// What was negotiated, with the s-side and c-side SPIs.
    pub(crate) fn summary(&self) -> &ChildSummary {
        &self.summary
    }

    /// The IKE client (generation) that negotiated it.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// (outbound, inbound) SA counters.
    pub(crate) fn counters(&self) -> (SaCounters, SaCounters) {
        self.sas.counters()
    }

    /// Lifetime bookkeeping of both SAs.
    pub(crate) fn handle_timeout(&mut self, now: Timestamp) {
        self.sas.handle_timeout(now);
    }

    /// The earlier of both SAs' next deadlines.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.sas.next_deadline()
    }

    /// Both SAs passed their hard limit.
    pub(crate) fn is_expired(&self) -> bool {
        self.sas.is_expired()
    }
}
