//! Main mode (RFC 2409 section 5, identity protection) with pre-shared keys or RSA
//! signatures, as message-level initiator and responder cores.
//!
//! The cores take an ISAKMP message (tail and non-ESP marker already removed) and return the
//! next one; they hold no sockets, timers or retransmission state (the `Client`/`TestSgw`
//! state machines add those). Everything is computed over the values in the messages the
//! core sees, which for the client are the s-side (SGW) values: its wrapper rewrites header
//! cookies between the c-side and the s-side before and after calling the core.
//!
//! Message contents follow what strongSwan sends (see `LAB-STRONGSWAN.md`):
//!
//! | msg | payloads |
//! | --- | --- |
//! | mm1 | SA, VID(RFC 3947 NAT-T), VID(DPD) |
//! | mm2 | SA (the chosen transform), VID(RFC 3947) if offered, VID(DPD) |
//! | mm3 | KE, NONCE, NAT-D (peer), NAT-D (self): NAT-D only when NAT-T was agreed |
//! | mm4 | KE, NONCE, [CERTREQ per trusted CA], NAT-D, NAT-D |
//! | mm5 | E{ ID, HASH_I \| CERT SIG_I CERTREQ, N(INITIAL-CONTACT) } |
//! | mm6 | E{ ID, HASH_R \| CERT SIG_R } |
//!
//! With RSA signatures the CERTREQs matter: strongSwan sends its certificate only when asked
//! (`send_cert = ifasked`), so each side names the CAs it trusts.
//!
//! A handler that fails leaves the core in its previous state, so a forged or corrupted
//! message does not end an exchange that a genuine retransmission can still complete.

use core::net::SocketAddr;
use std::sync::Arc;

use rand_core::{CryptoRng, RngCore};

use super::chain::Chain;
use super::exchange::{fresh_nonce, seal_chained};
use super::proposal::{accept_choice, offer, select, Phase1Auth, Phase1Proposal, ProposalError};
use crate::ike::crypto::{
    ct_eq, expand_encryption_key, hash_i, hash_r, natd_hash, CertError, Certificate, Cookies,
    IkeCipher, IkeCryptoError, Iv, Phase1Keys, Phase1Transcript, RsaSigningKey, SecretBytes,
    Skeyid,
};
use crate::ike::dh::{DhError, DhPrivate};
use crate::wire::isakmp::{
    CertEncoding, Cookie, Doi, ExchangeType, IdRepr, IdType, IsakmpError, Message, MessageBuilder,
    NotifyRepr, NotifyType, PayloadType, ProtocolId, SaPayload,
};

/// Length of the nonces we send (strongSwan sends 32 bytes; RFC 2409 asks for 8..256).
pub const NONCE_LEN: usize = 32;

/// Vendor ID of RFC 3947 NAT traversal: MD5("RFC 3947").
pub const VID_NAT_T_RFC3947: [u8; 16] = [
    0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
];

/// Vendor ID of RFC 3706 dead peer detection.
pub const VID_DPD: [u8; 16] = [
    0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
];

/// Why a main mode message was refused or could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Phase1Error {
    /// The message does not parse.
    #[error("malformed message: {0}")]
    Malformed(#[from] IsakmpError),
    /// Wrong exchange type, message ID, cookie, encryption flag, or not the message this state
    /// waits for.
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
    /// A payload the message must carry is absent.
    #[error("message lacks a {0:?} payload")]
    MissingPayload(PayloadType),
    /// Proposal negotiation failed.
    #[error(transparent)]
    Proposal(#[from] ProposalError),
    /// The peer's KE payload was refused.
    #[error("key exchange: {0}")]
    Dh(#[from] DhError),
    /// Decryption failed (length).
    #[error("decryption: {0}")]
    Crypto(#[from] IkeCryptoError),
    /// HASH_I or HASH_R did not verify, or mm5/mm6 did not even decrypt to a payload chain:
    /// a wrong pre-shared key, or a forged message.
    #[error("peer authentication failed")]
    AuthenticationFailed,
    /// The peer answered with an error notification (e.g. NO-PROPOSAL-CHOSEN, INVALID-*).
    #[error("peer sent notification {0:?}")]
    Notified(NotifyType),
    /// The negotiated authentication method does not match our credentials.
    #[error("no credentials for authentication method {0:?}")]
    NoCredentials(Phase1Auth),
    /// The peer's certificate does not parse or is not RSA.
    #[error("peer certificate: {0}")]
    Certificate(#[from] CertError),
    /// The peer's certificate is not issued by a CA we trust, or not valid now.
    #[error("peer certificate is not trusted")]
    UntrustedCertificate,
    /// The peer's ID payload does not name its certificate.
    #[error("peer identity does not match its certificate")]
    IdentityMismatch,
    /// Signing HASH_I/HASH_R failed.
    #[error("could not sign: {0}")]
    Signing(CertError),
}

/// What NAT detection found (RFC 3947 section 3.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatState {
    /// Both sides sent the RFC 3947 vendor ID.
    pub negotiated: bool,
    /// The peer's hash of our address did not match: a NAT (or a peer forcing encapsulation,
    /// as Debian's strongSwan does) sits on our side.
    pub local_behind_nat: bool,
    /// None of the peer's own-address hashes matched what we see.
    pub remote_behind_nat: bool,
}

impl NatState {
    /// Whether IKE moves to port 4500 from mm5 on and IPsec uses UDP encapsulation.
    pub fn float(&self) -> bool {
        self.negotiated && (self.local_behind_nat || self.remote_behind_nat)
    }
}

/// An established phase-1 SA: everything quick mode and informational exchanges need.
#[derive(Debug)]
pub struct Phase1Sa {
    /// The cookie pair (the SGW's view).
    pub cookies: Cookies,
    /// The negotiated suite.
    pub suite: Phase1Proposal,
    /// SKEYID and SKEYID_d/a/e.
    pub keys: Phase1Keys,
    /// Ka, keyed.
    pub cipher: IkeCipher,
    /// Last CBC block of the phase-1 exchange: seed of every phase-2 IV.
    pub last_block: Iv,
    /// NAT detection outcome.
    pub nat: NatState,
    /// The peer's ID payload body.
    pub peer_id: Vec<u8>,
}

/// RSA signature credentials: our key and certificate, and what we trust in a peer.
#[derive(Debug)]
pub struct RsaCredentials {
    /// Our private key.
    pub key: RsaSigningKey,
    /// Our certificate (sent in mm5/mm6).
    pub cert: Certificate,
    /// CAs whose certificates we accept a peer certificate from (and name in CERTREQs).
    pub trusted_cas: Vec<Certificate>,
    /// The time at which certificate validity is checked, in seconds since the Unix epoch
    /// (sans-IO: the caller supplies wall-clock time when it starts the exchange).
    pub now_unix_secs: u64,
}

/// How this side authenticates.
#[derive(Clone, Debug)]
pub enum Phase1Credentials {
    /// A pre-shared key (RFC 2409 section 5.4).
    PreSharedKey(SecretBytes),
    /// RSA signatures with X.509 certificates (RFC 2409 section 5.1).
    Rsa(Arc<RsaCredentials>),
}

/// Credentials and identity settings of one side.
#[derive(Clone, Debug)]
pub struct Phase1Config {
    /// Suites in preference order (initiator: offered; responder: acceptable). Their
    /// authentication method must match `credentials`.
    pub suites: Vec<Phase1Proposal>,
    /// Our credentials.
    pub credentials: Phase1Credentials,
    /// Our ID payload.
    pub local_id: IdRepr,
    /// Our address and port as the peer sees them (for the client: the relay's s-side
    /// address, so the SGW's NAT detection sees no NAT between itself and the relay).
    pub local_addr: SocketAddr,
    /// Send INITIAL-CONTACT in mm5 (initiator only).
    pub initial_contact: bool,
}

fn check_header(
    message: &Message<'_>,
    cookies: &Cookies,
    check_responder: bool,
    encrypted: bool,
) -> Result<(), Phase1Error> {
    let h = message.header();
    if h.exchange_type() != ExchangeType::IDENTITY_PROTECTION {
        return Err(Phase1Error::Unexpected("not a main mode message"));
    }
    if h.message_id() != 0 {
        return Err(Phase1Error::Unexpected("main mode message ID must be zero"));
    }
    if h.initiator_cookie().0 != cookies.initiator
        || (check_responder && h.responder_cookie().0 != cookies.responder)
    {
        return Err(Phase1Error::Unexpected("cookie mismatch"));
    }
    if message.is_encrypted() != encrypted {
        return Err(Phase1Error::Unexpected("wrong encryption flag"));
    }
    Ok(())
}

/// An error notification in an unencrypted message means the peer refused us.
fn refuse_on_notify(chain: &Chain) -> Result<(), Phase1Error> {
    for n in chain.all(PayloadType::NOTIFICATION) {
        let ty = n
            .body
            .get(6..8)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(|b| NotifyType(u16::from_be_bytes(b)));
        if let Some(ty) = ty {
            if ty.0 < 16384 {
                return Err(Phase1Error::Notified(ty));
            }
        }
    }
    Ok(())
}

fn need(chain: &Chain, kind: PayloadType) -> Result<Vec<u8>, Phase1Error> {
    chain
        .first(kind)
        .map(|i| i.body.clone())
        .ok_or(Phase1Error::MissingPayload(kind))
}

fn builder(cookies: &Cookies) -> MessageBuilder {
    MessageBuilder::new(
        Cookie(cookies.initiator),
        Cookie(cookies.responder),
        ExchangeType::IDENTITY_PROTECTION,
        0,
    )
}

/// Whether the peer's mm1/mm2 carries the RFC 3947 vendor ID, i.e. it speaks NAT-T.
fn offers_nat_t(chain: &Chain) -> bool {
    chain
        .all(PayloadType::VENDOR_ID)
        .any(|v| v.body == VID_NAT_T_RFC3947)
}

/// NAT-D payloads for mm3/mm4: the peer's address first, then ours (RFC 3947 section 3.2).
fn push_natd(
    b: &mut MessageBuilder,
    suite: &Phase1Proposal,
    cookies: &Cookies,
    peer: SocketAddr,
    local: SocketAddr,
) -> Result<(), Phase1Error> {
    b.push_nat_d(&natd_hash(suite.hash, cookies, peer))?;
    b.push_nat_d(&natd_hash(suite.hash, cookies, local))?;
    Ok(())
}

/// Reads the peer's NAT-D payloads: the first is its hash of our address.
fn detect_nat(
    chain: &Chain,
    negotiated: bool,
    suite: &Phase1Proposal,
    cookies: &Cookies,
    local: SocketAddr,
    peer: SocketAddr,
) -> NatState {
    let hashes: Vec<&Vec<u8>> = chain
        .all(PayloadType::NAT_DISCOVERY)
        .map(|i| &i.body)
        .collect();
    let Some((ours, theirs)) = hashes.split_first() else {
        return NatState {
            negotiated: false,
            ..NatState::default()
        };
    };
    let expect_ours = natd_hash(suite.hash, cookies, local);
    let expect_theirs = natd_hash(suite.hash, cookies, peer);
    NatState {
        negotiated,
        local_behind_nat: **ours != expect_ours,
        remote_behind_nat: !theirs.iter().any(|h| **h == expect_theirs),
    }
}

/// Derives SKEYID.. Ka and the first IV once both KE payloads and nonces are known.
struct Derived {
    keys: Phase1Keys,
    cipher: IkeCipher,
    iv: Iv,
}

/// The public inputs of key derivation once both KE payloads and nonces are known.
struct Exchanged<'a> {
    /// Our private value and the peer's KE body.
    dh: &'a DhPrivate,
    peer_ke: &'a [u8],
    g_xi: &'a [u8],
    g_xr: &'a [u8],
    ni: &'a [u8],
    nr: &'a [u8],
}

fn derive(
    suite: &Phase1Proposal,
    credentials: &Phase1Credentials,
    x: &Exchanged<'_>,
    cookies: &Cookies,
) -> Result<Box<Derived>, Phase1Error> {
    let (g_xi, g_xr, ni, nr) = (x.g_xi, x.g_xr, x.ni, x.nr);
    let g_xy = x.dh.agree(x.peer_ke)?;
    let skeyid = match (suite.auth, credentials) {
        (Phase1Auth::PreSharedKey, Phase1Credentials::PreSharedKey(psk)) => {
            Skeyid::for_pre_shared_key(suite.hash, psk.expose(), ni, nr)
        }
        (Phase1Auth::RsaSignatures, Phase1Credentials::Rsa(_)) => {
            Skeyid::for_signatures(suite.hash, ni, nr, &g_xy)
        }
        (other, _) => return Err(Phase1Error::NoCredentials(other)),
    };
    let keys = Phase1Keys::derive(skeyid, &g_xy, cookies);
    let ka = expand_encryption_key(suite.hash, keys.skeyid_e(), suite.cipher.key_len());
    let cipher = IkeCipher::new(suite.cipher, &ka)?;
    Ok(Box::new(Derived {
        keys,
        cipher,
        iv: Iv::phase1_initial(suite.hash, g_xi, g_xr),
    }))
}

/// Appends our proof of identity after the ID payload: HASH for PSK; CERT and SIG for RSA.
fn push_proof<R: RngCore + CryptoRng>(
    b: &mut MessageBuilder,
    credentials: &Phase1Credentials,
    hash: &[u8],
    rng: &mut R,
) -> Result<(), Phase1Error> {
    match credentials {
        Phase1Credentials::PreSharedKey(_) => {
            b.push_hash(hash)?;
        }
        Phase1Credentials::Rsa(rsa) => {
            let sig = rsa
                .key
                .sign_ike_hash(hash, rng)
                .map_err(Phase1Error::Signing)?;
            b.push_certificate(CertEncoding::X509_SIGNATURE, rsa.cert.der())?;
            b.push_signature(&sig)?;
        }
    }
    Ok(())
}

/// One CERTREQ per trusted CA (RSA only), so a strongSwan peer sends its certificate.
fn push_cert_requests(
    b: &mut MessageBuilder,
    credentials: &Phase1Credentials,
) -> Result<(), Phase1Error> {
    if let Phase1Credentials::Rsa(rsa) = credentials {
        for ca in &rsa.trusted_cas {
            b.push_certificate_request(CertEncoding::X509_SIGNATURE, ca.subject_der())?;
        }
    }
    Ok(())
}

/// Whether an ID payload body names `cert`: ID_FQDN as a subjectAltName dNSName, ID_DER_ASN1_DN
/// as the subject.
fn id_names_cert(id_b: &[u8], cert: &Certificate) -> bool {
    let (Some(ty), Some(data)) = (id_b.first(), id_b.get(4..)) else {
        return false;
    };
    match IdType(*ty) {
        IdType::FQDN => core::str::from_utf8(data)
            .map(|name| {
                cert.dns_names()
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(name))
            })
            .unwrap_or(false),
        IdType::DER_ASN1_DN => cert.subject_der() == data,
        _ => false,
    }
}

/// Checks the peer's proof in mm5/mm6 against `expected` (HASH_I or HASH_R as we compute it).
fn verify_proof(
    credentials: &Phase1Credentials,
    chain: &Chain,
    id_b: &[u8],
    expected: &[u8],
) -> Result<(), Phase1Error> {
    match credentials {
        Phase1Credentials::PreSharedKey(_) => {
            let received = need(chain, PayloadType::HASH)?;
            if ct_eq(expected, &received) {
                Ok(())
            } else {
                Err(Phase1Error::AuthenticationFailed)
            }
        }
        Phase1Credentials::Rsa(rsa) => {
            let cert_body = chain
                .all(PayloadType::CERTIFICATE)
                .find(|c| c.body.first() == Some(&CertEncoding::X509_SIGNATURE.0))
                .ok_or(Phase1Error::MissingPayload(PayloadType::CERTIFICATE))?;
            let cert = Certificate::from_der(cert_body.body.get(1..).unwrap_or_default())?;
            let now = rsa.now_unix_secs;
            let trusted = cert.is_valid_at(now)
                && rsa
                    .trusted_cas
                    .iter()
                    .any(|ca| ca.is_valid_at(now) && cert.is_issued_by(ca));
            if !trusted {
                return Err(Phase1Error::UntrustedCertificate);
            }
            if !id_names_cert(id_b, &cert) {
                return Err(Phase1Error::IdentityMismatch);
            }
            let sig = need(chain, PayloadType::SIGNATURE)?;
            if cert.verify_ike_signature(expected, &sig) {
                Ok(())
            } else {
                Err(Phase1Error::AuthenticationFailed)
            }
        }
    }
}

/// Opens mm5 or mm6, the encrypted message that proves the peer's identity: checks the
/// header, decrypts under `iv` and verifies the peer's proof against `expected_hash` (HASH_I
/// for mm5, HASH_R for mm6) computed over the peer's ID payload body. Returns that body and
/// the last ciphertext block (the IV of the next message).
fn open_peer_proof(
    msg: &[u8],
    cookies: &Cookies,
    derived: &Derived,
    iv: &Iv,
    credentials: &Phase1Credentials,
    expected_hash: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<(Vec<u8>, Iv), Phase1Error> {
    let message = Message::parse_exact(msg)?;
    check_header(&message, cookies, true, true)?;
    let out = derived.cipher.decrypt(iv, message.body())?;
    // Garbage after decryption almost always means the two sides derived different keys
    // (a wrong pre-shared key), so it is reported as the authentication failure it is.
    let chain = Chain::decrypted(message.header().next_payload(), &out.bytes)
        .map_err(|_| Phase1Error::AuthenticationFailed)?;
    let peer_id_b = need(&chain, PayloadType::IDENTIFICATION)?;
    let expected = expected_hash(&peer_id_b);
    verify_proof(credentials, &chain, &peer_id_b, &expected)?;
    Ok((peer_id_b, out.next_iv))
}

/// What either side holds from the key exchange (mm3/mm4) until the peer has proved its
/// identity (mm5/mm6): the suite, both KE bodies, the derived keys and the NAT outcome.
struct Keyed {
    suite: Phase1Proposal,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    derived: Box<Derived>,
    nat: NatState,
}

impl Keyed {
    /// The exchange's values HASH_I and HASH_R cover.
    fn transcript<'a>(&'a self, cookies: Cookies, sai_b: &'a [u8]) -> Phase1Transcript<'a> {
        Phase1Transcript {
            g_xi: &self.g_xi,
            g_xr: &self.g_xr,
            cookies,
            sai_b,
        }
    }

    /// The established SA, once the peer's proof verified and the last message is sealed or
    /// opened (`last_block` seeds every phase-2 IV).
    fn into_sa(self, cookies: Cookies, last_block: Iv, peer_id: Vec<u8>) -> Phase1Sa {
        Phase1Sa {
            cookies,
            suite: self.suite,
            keys: self.derived.keys,
            cipher: self.derived.cipher,
            last_block,
            nat: self.nat,
            peer_id,
        }
    }
}

/// Starts mm5 or mm6 with our ID payload and our proof over it; `hash` computes HASH_I (mm5)
/// or HASH_R (mm6) over our ID payload body.
fn identify_ourselves<R: RngCore + CryptoRng>(
    cookies: &Cookies,
    config: &Phase1Config,
    hash: impl FnOnce(&[u8]) -> Vec<u8>,
    rng: &mut R,
) -> Result<MessageBuilder, Phase1Error> {
    let mut id_b = Vec::new();
    config.local_id.emit_body(&mut id_b);
    let proof = hash(&id_b);
    let mut b = builder(cookies);
    b.push_identification(&config.local_id)?;
    push_proof(&mut b, &config.credentials, &proof, rng)?;
    Ok(b)
}

enum InitiatorState {
    AwaitMm2,
    AwaitMm4 {
        suite: Phase1Proposal,
        nat_t: bool,
        dh: Box<DhPrivate>,
        ni: Vec<u8>,
        g_xi: Vec<u8>,
    },
    AwaitMm6 {
        keyed: Keyed,
        iv_after_mm5: Iv,
    },
    Done,
}

/// The initiator's side of main mode.
pub struct MainModeInitiator {
    config: Phase1Config,
    remote_addr: SocketAddr,
    cookies: Cookies,
    sai_b: Vec<u8>,
    state: InitiatorState,
}

impl core::fmt::Debug for MainModeInitiator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MainModeInitiator")
            .field("cookies", &self.cookies)
            .finish_non_exhaustive()
    }
}

impl MainModeInitiator {
    /// Starts main mode toward `remote_addr`: draws the initiator cookie and returns mm1.
    pub fn start<R: RngCore + CryptoRng>(
        config: Phase1Config,
        remote_addr: SocketAddr,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Phase1Error> {
        let mut initiator = [0u8; 8];
        rng.fill_bytes(&mut initiator);
        let cookies = Cookies::new(initiator, [0; 8]);
        let sa = offer(&config.suites);
        let mut sai_b = Vec::new();
        sa.emit_body(&mut sai_b)?;
        let mut b = builder(&cookies);
        b.push_sa(&sa)?;
        b.push_vendor_id(&VID_NAT_T_RFC3947)?;
        b.push_vendor_id(&VID_DPD)?;
        let mm1 = b.build()?;
        Ok((
            Self {
                config,
                remote_addr,
                cookies,
                sai_b,
                state: InitiatorState::AwaitMm2,
            },
            mm1,
        ))
    }

    /// The cookie pair so far (responder half zero before mm2).
    pub(crate) fn cookies(&self) -> Cookies {
        self.cookies
    }

    /// SAi_b: the SA payload body of mm1, as hashed into HASH_I/HASH_R.
    pub fn sai_b(&self) -> &[u8] {
        &self.sai_b
    }

    /// Replaces our initiator cookie before mm2 arrives. The client uses this to adopt the
    /// s-side cookie the relay chose (learned from mm2's tail), since the SGW derives keys
    /// with it.
    pub fn set_initiator_cookie(&mut self, cookie: [u8; 8]) {
        self.cookies.initiator = cookie;
    }

    /// Sets the addresses NAT-D is computed over, before mm2 is handled: the client learns
    /// from mm2's tail the relay's s-side address (`local`, what the SGW sees as us) and the
    /// SGW's (`remote`).
    pub(crate) fn set_nat_view(&mut self, local: SocketAddr, remote: SocketAddr) {
        self.config.local_addr = local;
        self.remote_addr = remote;
    }

    /// Handles mm2 (the responder's SA choice) and returns mm3.
    pub fn handle_mm2<R: RngCore + CryptoRng>(
        &mut self,
        mm2: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, Phase1Error> {
        if !matches!(self.state, InitiatorState::AwaitMm2) {
            return Err(Phase1Error::Unexpected("mm2 not awaited"));
        }
        let message = Message::parse_exact(mm2)?;
        check_header(&message, &self.cookies, false, false)?;
        let responder = message.header().responder_cookie().0;
        if responder == [0; 8] {
            return Err(Phase1Error::Unexpected("zero responder cookie"));
        }
        let chain = Chain::plaintext(&message)?;
        refuse_on_notify(&chain)?;
        let sa_body = need(&chain, PayloadType::SECURITY_ASSOCIATION)?;
        let sa = SaPayload::parse(&sa_body, 0)?;
        let suite = accept_choice(&sa, &self.config.suites)?;
        let nat_t = offers_nat_t(&chain);
        let cookies = Cookies::new(self.cookies.initiator, responder);
        let dh = Box::new(DhPrivate::generate(suite.group, rng)?);
        let ni = fresh_nonce(rng);
        let g_xi = dh.public_value();
        let mut b = builder(&cookies);
        b.push_key_exchange(&g_xi)?;
        b.push_nonce(&ni)?;
        if nat_t {
            push_natd(
                &mut b,
                &suite,
                &cookies,
                self.remote_addr,
                self.config.local_addr,
            )?;
        }
        let mm3 = b.build()?;
        self.cookies = cookies;
        self.state = InitiatorState::AwaitMm4 {
            suite,
            nat_t,
            dh,
            ni,
            g_xi,
        };
        Ok(mm3)
    }

    /// Handles mm4 (responder's KE and nonce), derives the keys and returns mm5. Check
    /// [`Self::nat`] afterwards to know whether mm5 goes to port 4500.
    pub fn handle_mm4<R: RngCore + CryptoRng>(
        &mut self,
        mm4: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, Phase1Error> {
        let InitiatorState::AwaitMm4 {
            suite,
            nat_t,
            dh,
            ni,
            g_xi,
        } = &self.state
        else {
            return Err(Phase1Error::Unexpected("mm4 not awaited"));
        };
        let message = Message::parse_exact(mm4)?;
        check_header(&message, &self.cookies, true, false)?;
        let chain = Chain::plaintext(&message)?;
        refuse_on_notify(&chain)?;
        let g_xr = need(&chain, PayloadType::KEY_EXCHANGE)?;
        let nr = need(&chain, PayloadType::NONCE)?;
        let derived = derive(
            suite,
            &self.config.credentials,
            &Exchanged {
                dh,
                peer_ke: &g_xr,
                g_xi,
                g_xr: &g_xr,
                ni,
                nr: &nr,
            },
            &self.cookies,
        )?;
        let nat = detect_nat(
            &chain,
            *nat_t,
            suite,
            &self.cookies,
            self.config.local_addr,
            self.remote_addr,
        );
        let keyed = Keyed {
            suite: *suite,
            g_xi: g_xi.clone(),
            g_xr,
            derived,
            nat,
        };
        let transcript = keyed.transcript(self.cookies, &self.sai_b);
        let skeyid = keyed.derived.keys.skeyid();
        let mut b = identify_ourselves(
            &self.cookies,
            &self.config,
            |idii_b| hash_i(skeyid, &transcript, idii_b),
            rng,
        )?;
        push_cert_requests(&mut b, &self.config.credentials)?;
        if self.config.initial_contact {
            let mut spi = self.cookies.initiator.to_vec();
            spi.extend_from_slice(&self.cookies.responder);
            b.push_notification(&NotifyRepr {
                doi: Doi::IPSEC,
                protocol: ProtocolId::ISAKMP,
                notify_type: NotifyType::INITIAL_CONTACT,
                spi,
                data: Vec::new(),
            })?;
        }
        let (mm5, iv_after_mm5) = seal_chained(b, &keyed.derived.cipher, &keyed.derived.iv)?;
        self.state = InitiatorState::AwaitMm6 {
            keyed,
            iv_after_mm5,
        };
        Ok(mm5)
    }

    /// NAT detection result, known once mm4 was handled.
    pub fn nat(&self) -> Option<NatState> {
        match &self.state {
            InitiatorState::AwaitMm6 { keyed, .. } => Some(keyed.nat),
            _ => None,
        }
    }

    /// Handles mm6: decrypts, verifies HASH_R and returns the established SA.
    pub fn handle_mm6(&mut self, mm6: &[u8]) -> Result<Phase1Sa, Phase1Error> {
        let InitiatorState::AwaitMm6 {
            keyed,
            iv_after_mm5,
        } = &self.state
        else {
            return Err(Phase1Error::Unexpected("mm6 not awaited"));
        };
        let transcript = keyed.transcript(self.cookies, &self.sai_b);
        let (idir_b, last_block) = open_peer_proof(
            mm6,
            &self.cookies,
            &keyed.derived,
            iv_after_mm5,
            &self.config.credentials,
            |idir_b| hash_r(keyed.derived.keys.skeyid(), &transcript, idir_b),
        )?;
        let InitiatorState::AwaitMm6 { keyed, .. } =
            core::mem::replace(&mut self.state, InitiatorState::Done)
        else {
            return Err(Phase1Error::Unexpected("state changed"));
        };
        Ok(keyed.into_sa(self.cookies, last_block, idir_b))
    }
}

enum ResponderState {
    AwaitMm3 { suite: Phase1Proposal, nat_t: bool },
    AwaitMm5(Keyed),
    Done,
}

/// The responder's side of main mode (the test-SGW's phase 1).
pub struct MainModeResponder {
    config: Phase1Config,
    remote_addr: SocketAddr,
    cookies: Cookies,
    sai_b: Vec<u8>,
    state: ResponderState,
}

impl core::fmt::Debug for MainModeResponder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MainModeResponder")
            .field("cookies", &self.cookies)
            .finish_non_exhaustive()
    }
}

impl MainModeResponder {
    /// Handles an mm1 from `remote_addr`: selects a suite, draws our cookie, returns mm2.
    pub fn handle_mm1<R: RngCore + CryptoRng>(
        config: Phase1Config,
        mm1: &[u8],
        remote_addr: SocketAddr,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Phase1Error> {
        let message = Message::parse_exact(mm1)?;
        let h = message.header();
        if h.exchange_type() != ExchangeType::IDENTITY_PROTECTION
            || h.message_id() != 0
            || message.is_encrypted()
        {
            return Err(Phase1Error::Unexpected("not a main mode mm1"));
        }
        if h.initiator_cookie().is_zero() || !h.responder_cookie().is_zero() {
            return Err(Phase1Error::Unexpected("mm1 cookies"));
        }
        let chain = Chain::plaintext(&message)?;
        let sai_b = need(&chain, PayloadType::SECURITY_ASSOCIATION)?;
        let sa = SaPayload::parse(&sai_b, 0)?;
        let (suite, answer) = select(&sa, &config.suites)?;
        let nat_t = offers_nat_t(&chain);
        let mut responder = [0u8; 8];
        rng.fill_bytes(&mut responder);
        let cookies = Cookies::new(h.initiator_cookie().0, responder);
        let mut b = builder(&cookies);
        b.push_sa(&answer)?;
        if nat_t {
            b.push_vendor_id(&VID_NAT_T_RFC3947)?;
        }
        b.push_vendor_id(&VID_DPD)?;
        let mm2 = b.build()?;
        Ok((
            Self {
                config,
                remote_addr,
                cookies,
                sai_b,
                state: ResponderState::AwaitMm3 { suite, nat_t },
            },
            mm2,
        ))
    }

    /// The cookie pair.
    pub(crate) fn cookies(&self) -> Cookies {
        self.cookies
    }

    /// Handles mm3 and returns mm4. `from` is where mm3 came from (NAT detection).
    pub fn handle_mm3<R: RngCore + CryptoRng>(
        &mut self,
        mm3: &[u8],
        from: SocketAddr,
        rng: &mut R,
    ) -> Result<Vec<u8>, Phase1Error> {
        let ResponderState::AwaitMm3 { suite, nat_t } = &self.state else {
            return Err(Phase1Error::Unexpected("mm3 not awaited"));
        };
        let message = Message::parse_exact(mm3)?;
        check_header(&message, &self.cookies, true, false)?;
        let chain = Chain::plaintext(&message)?;
        let g_xi = need(&chain, PayloadType::KEY_EXCHANGE)?;
        let ni = need(&chain, PayloadType::NONCE)?;
        let dh = DhPrivate::generate(suite.group, rng)?;
        let g_xr = dh.public_value();
        let nr = fresh_nonce(rng);
        let derived = derive(
            suite,
            &self.config.credentials,
            &Exchanged {
                dh: &dh,
                peer_ke: &g_xi,
                g_xi: &g_xi,
                g_xr: &g_xr,
                ni: &ni,
                nr: &nr,
            },
            &self.cookies,
        )?;
        self.remote_addr = from;
        let nat = detect_nat(
            &chain,
            *nat_t,
            suite,
            &self.cookies,
            self.config.local_addr,
            from,
        );
        let mut b = builder(&self.cookies);
        b.push_key_exchange(&g_xr)?;
        b.push_nonce(&nr)?;
        push_cert_requests(&mut b, &self.config.credentials)?;
        if *nat_t {
            push_natd(&mut b, suite, &self.cookies, from, self.config.local_addr)?;
        }
        let mm4 = b.build()?;
        self.state = ResponderState::AwaitMm5(Keyed {
            suite: *suite,
            g_xi,
            g_xr,
            derived,
            nat,
        });
        Ok(mm4)
    }

    /// Handles mm5: decrypts, verifies HASH_I, returns mm6 and the established SA.
    pub fn handle_mm5<R: RngCore + CryptoRng>(
        &mut self,
        mm5: &[u8],
        rng: &mut R,
    ) -> Result<(Vec<u8>, Phase1Sa), Phase1Error> {
        let ResponderState::AwaitMm5(keyed) = &self.state else {
            return Err(Phase1Error::Unexpected("mm5 not awaited"));
        };
        let transcript = keyed.transcript(self.cookies, &self.sai_b);
        let skeyid = keyed.derived.keys.skeyid();
        let (idii_b, iv_after_mm5) = open_peer_proof(
            mm5,
            &self.cookies,
            &keyed.derived,
            &keyed.derived.iv,
            &self.config.credentials,
            |idii_b| hash_i(skeyid, &transcript, idii_b),
        )?;
        let b = identify_ourselves(
            &self.cookies,
            &self.config,
            |idir_b| hash_r(skeyid, &transcript, idir_b),
            rng,
        )?;
        let (mm6, last_block) = seal_chained(b, &keyed.derived.cipher, &iv_after_mm5)?;
        let ResponderState::AwaitMm5(keyed) =
            core::mem::replace(&mut self.state, ResponderState::Done)
        else {
            return Err(Phase1Error::Unexpected("state changed"));
        };
        Ok((mm6, keyed.into_sa(self.cookies, last_block, idii_b)))
    }
}
