//! Informational exchanges under an established phase-1 SA (RFC 2409 section 5.7): DELETE
//! and notifications, protected by `HASH(1) = prf(SKEYID_a, M-ID | N/D)` and encrypted with
//! the exchange's own IV, `hash(last phase-1 CBC block | M-ID)`.

use rand_core::RngCore;

use super::quick_mode::{open_exchange, seal_chain, Phase2Error};
use crate::ike::crypto::{informational_hash, verify_hash, Iv};
use crate::ike::phase1::Phase1Sa;
use crate::wire::isakmp::{
    ChainBuilder, DeletePayload, DeleteRepr, Doi, ExchangeType, Message, NotifyType, PayloadType,
    ProtocolId,
};

/// What an informational exchange said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Informational {
    /// DELETE payloads: protocol and the SPIs the *sender* receives with.
    pub deletes: Vec<(ProtocolId, Vec<u32>)>,
    /// Notification types.
    pub notifies: Vec<NotifyType>,
}

/// Builds an encrypted informational exchange deleting `spis` of `protocol` (our inbound
/// SPIs, as the peer knows them) under a fresh message ID from `rng`.
pub fn delete_message<R: RngCore>(
    p1: &Phase1Sa,
    deletes: &[(ProtocolId, Vec<u32>)],
    rng: &mut R,
) -> Result<Vec<u8>, Phase2Error> {
    let message_id = loop {
        let m = rng.next_u32();
        if m != 0 {
            break m;
        }
    };
    let mut chain = ChainBuilder::new();
    for (protocol, spis) in deletes {
        chain.push_delete(&DeleteRepr {
            doi: Doi::IPSEC,
            protocol: *protocol,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        })?;
    }
    let hash = informational_hash(&p1.keys, message_id, chain.as_bytes());
    let iv = Iv::phase2_initial(p1.suite.hash, &p1.last_block, message_id);
    Ok(seal_chain(
        p1,
        ExchangeType::INFORMATIONAL,
        message_id,
        &hash,
        &chain,
        &iv,
    )?)
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
                let spis = d
                    .spis()
                    .filter_map(|s| <[u8; 4]>::try_from(s).ok().map(u32::from_be_bytes))
                    .collect();
                info.deletes.push((d.protocol(), spis));
            }
            PayloadType::NOTIFICATION => {
                if let Some(b) = item
                    .body
                    .get(6..8)
                    .and_then(|b| <[u8; 2]>::try_from(b).ok())
                {
                    info.notifies.push(NotifyType(u16::from_be_bytes(b)));
                }
            }
            _ => {}
        }
    }
    Ok(info)
}
