//! Informational exchanges under an established phase-1 SA (RFC 2409 section 5.7): DELETE
//! and notifications, protected by `HASH(1) = prf(SKEYID_a, M-ID | N/D)` and encrypted with
//! the exchange's own IV, `hash(last phase-1 CBC block | M-ID)`.

use rand_core::RngCore;

use super::quick_mode::{open_exchange, seal_chain, Phase2Error};
use crate::ike::crypto::{informational_hash, verify_hash, Cookies, Iv};
use crate::ike::phase1::{fresh_message_id, Phase1Sa};
use crate::wire::isakmp::{
    ChainBuilder, DeletePayload, DeleteRepr, Doi, ExchangeType, Message, NotifyPayload, NotifyRepr,
    NotifyType, PayloadType, ProtocolId,
};

/// What an informational exchange said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Informational {
    /// DELETE payloads of IPsec SAs: protocol and the SPIs the *sender* receives with.
    pub deletes: Vec<(ProtocolId, Vec<u32>)>,
    /// DELETE payloads of ISAKMP SAs (RFC 2408 section 3.15: protocol ISAKMP, SPI size 16,
    /// SPI = CKY-I | CKY-R), one cookie pair per SPI.
    pub ike_deletes: Vec<Cookies>,
    /// Notifications: type, SPI and data (R-U-THERE carries a sequence number as data).
    pub notifies: Vec<(NotifyType, Vec<u8>, Vec<u8>)>,
}

/// Encrypts `chain` behind its HASH(1) as a new informational exchange, under a fresh
/// message ID from `rng` and that exchange's own IV: how every informational message we send
/// is sealed, whatever it carries.
fn seal_informational<R: RngCore>(
    p1: &Phase1Sa,
    chain: &ChainBuilder,
    rng: &mut R,
) -> Result<Vec<u8>, Phase2Error> {
    let message_id = fresh_message_id(rng);
    let hash = informational_hash(&p1.keys, message_id, chain.as_bytes());
    let iv = Iv::phase2_initial(p1.suite.hash, &p1.last_block, message_id);
    Ok(seal_chain(
        p1,
        ExchangeType::INFORMATIONAL,
        message_id,
        &hash,
        chain,
        &iv,
    )?)
}

/// Builds an encrypted informational exchange deleting `spis` of `protocol` (our inbound
/// SPIs, as the peer knows them) under a fresh message ID from `rng`.
pub fn delete_message<R: RngCore>(
    p1: &Phase1Sa,
    deletes: &[(ProtocolId, Vec<u32>)],
    rng: &mut R,
) -> Result<Vec<u8>, Phase2Error> {
    let mut chain = ChainBuilder::new();
    for (protocol, spis) in deletes {
        chain.push_delete(&DeleteRepr {
            doi: Doi::IPSEC,
            protocol: *protocol,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        })?;
    }
    seal_informational(p1, &chain, rng)
}

/// Builds an encrypted informational exchange deleting the ISAKMP SA `p1` itself (RFC 2408
/// section 3.15): protocol ISAKMP, SPI size 16, SPI = CKY-I | CKY-R of `p1`, which is how
/// strongSwan sends it and the only form it accepts (it ignores a DELETE naming other
/// cookies). Nothing answers it, so it is sent once.
pub fn delete_phase1_message<R: RngCore>(
    p1: &Phase1Sa,
    rng: &mut R,
) -> Result<Vec<u8>, Phase2Error> {
    let mut spi = p1.cookies.initiator.to_vec();
    spi.extend_from_slice(&p1.cookies.responder);
    let mut chain = ChainBuilder::new();
    chain.push_delete(&DeleteRepr {
        doi: Doi::IPSEC,
        protocol: ProtocolId::ISAKMP,
        spi_size: 16,
        spis: vec![spi],
    })?;
    seal_informational(p1, &chain, rng)
}

/// Builds an encrypted informational exchange carrying one notification (e.g. a DPD
/// R-U-THERE-ACK, RFC 3706 section 5) under a fresh message ID from `rng`.
pub fn notify_message<R: RngCore>(
    p1: &Phase1Sa,
    notify: &NotifyRepr,
    rng: &mut R,
) -> Result<Vec<u8>, Phase2Error> {
    let mut chain = ChainBuilder::new();
    chain.push_notification(notify)?;
    seal_informational(p1, &chain, rng)
}

/// The DPD answer to an R-U-THERE (RFC 3706 section 5): same SPI (the cookies) and sequence
/// number, type R-U-THERE-ACK.
pub fn dpd_ack(spi: &[u8], sequence: &[u8]) -> NotifyRepr {
    NotifyRepr {
        doi: Doi::IPSEC,
        protocol: ProtocolId::ISAKMP,
        notify_type: NotifyType::R_U_THERE_ACK,
        spi: spi.to_vec(),
        data: sequence.to_vec(),
    }
}

/// Opens an encrypted informational exchange: decrypts, verifies HASH(1), reads DELETE and
/// notification payloads.
pub fn open_informational(p1: &Phase1Sa, msg: &[u8]) -> Result<Informational, Phase2Error> {
    let message_id = Message::parse_exact(msg)?.header().message_id();
    let iv = Iv::phase2_initial(p1.suite.hash, &p1.last_block, message_id);
    let o = open_exchange(p1, ExchangeType::INFORMATIONAL, message_id, msg, &iv)?;
    let expected = informational_hash(&p1.keys, message_id, &o.after_hash);
    if !verify_hash(&expected, &o.hash) {
        return Err(Phase2Error::AuthenticationFailed);
    }
    let mut info = Informational::default();
    for item in &o.chain.items {
        match item.kind {
            PayloadType::DELETE => {
                let d = DeletePayload::parse(&item.body, 0)?;
                if d.protocol() == ProtocolId::ISAKMP {
                    // Only the 16-byte cookie pair names an ISAKMP SA; other sizes are
                    // ignored as strongSwan does.
                    let pairs = d.spis().filter_map(|s| {
                        let (i, r) = s.split_at_checked(8)?;
                        Some(Cookies::new(i.try_into().ok()?, r.try_into().ok()?))
                    });
                    info.ike_deletes.extend(pairs);
                    continue;
                }
                let spis = d
                    .spis()
                    .filter_map(|s| <[u8; 4]>::try_from(s).ok().map(u32::from_be_bytes))
                    .collect();
                info.deletes.push((d.protocol(), spis));
            }
            PayloadType::NOTIFICATION => {
                let n = NotifyPayload::parse(&item.body, 0)?;
                info.notifies
                    .push((n.notify_type(), n.spi().to_vec(), n.data().to_vec()));
            }
            _ => {}
        }
    }
    Ok(info)
}
