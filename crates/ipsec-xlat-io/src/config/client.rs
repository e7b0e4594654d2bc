//! `xlat-client`'s configuration.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::common::{
    check_ports, ike_port, natt_port, parse_toml, read_toml, Auth, AuthFile, Ctx, IdentityFile,
    LegFile, Lifetimes, LifetimesFile, ListenConfig, Proposals, ProposalsFile, TrafficSelectors,
    TrafficSelectorsFile, TunFile,
};
use super::error::{ConfigError, Problem};
use super::identification::Identity;
use super::secret::{decode_key32, read_noise_private_key, NoisePrivateKey, NoisePublicKey};
use crate::sys::TunConfig;

/// The client's validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The user identification sent to the relay (in the mm1 tail) and to the SGW.
    pub identity: Identity,
    /// The relay to use.
    pub relay: RelayPeer,
    /// The client's Noise static private key (the relay authorises its public key).
    pub noise_private_key: NoisePrivateKey,
    /// The client's own sockets toward the relay.
    pub local: ListenConfig,
    /// Phase-1 authentication toward the SGW.
    pub auth: Auth,
    /// Proposals offered, in order.
    pub proposals: Proposals,
    /// The tunnel's traffic selectors.
    pub traffic_selectors: TrafficSelectors,
    /// The TUN device and the routes into it.
    pub tun: TunConfig,
    /// SA lifetimes.
    pub lifetimes: Lifetimes,
    /// The control socket and whether to establish at start.
    pub control: ControlConfig,
    /// Keeping the tunnel up: reauthentication and restart.
    pub session: SessionConfig,
}

/// Keeping the tunnel up (`[session]`; the whole table is optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Replace the IKE SA by a new main mode and quick mode before its lifetime ends
    /// (make-before-break). IKEv1 has no IKE SA rekey, and the relay cannot carry a main mode
    /// the SGW starts, so without it the SGW deletes the tunnel when the IKE SA expires.
    pub reauth: bool,
    /// How long before the end of the IKE SA's lifetime to reauthenticate, in seconds (a
    /// random jitter of up to half of it comes on top); `None`: 10 % of the lifetime.
    pub reauth_margin_secs: Option<u32>,
    /// Without a control socket: start over, with exponential backoff, when the SGW deletes
    /// the IKE SA or every child SA, or an attempt fails with a retryable error
    /// (strongSwan's `close_action=restart` / `dpd_action=restart`).
    pub restart: bool,
    /// The longest wait between two restarts, in seconds (the first waits 1 s, each next
    /// one twice as long).
    pub restart_max_backoff_secs: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            reauth: true,
            reauth_margin_secs: None,
            restart: true,
            restart_max_backoff_secs: 60,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionFile {
    reauth: Option<bool>,
    reauth_margin_secs: Option<u32>,
    restart: Option<bool>,
    restart_max_backoff_secs: Option<u32>,
}

/// How the running client is steered (`[control]`; the whole table is optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    /// Where to create the control socket (`xlat ctl --socket PATH ...`), if anywhere.
    pub socket: Option<PathBuf>,
    /// Establish the IKE and IPsec SAs at start (the default). Off, the client waits for an
    /// `initiate` command, which needs a control socket.
    pub initiate: bool,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            socket: None,
            initiate: true,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlFile {
    socket: Option<PathBuf>,
    initiate: Option<bool>,
}

/// Where the relay is and how to authenticate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayPeer {
    /// The relay's c-side address and IKE port.
    pub ike: SocketAddr,
    /// The relay's NAT-T port.
    pub natt_port: u16,
    /// The relay's Noise static public key.
    pub noise_public_key: NoisePublicKey,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    identity: IdentityFile,
    relay: RelayPeerFile,
    noise_private_key_file: PathBuf,
    local: LegFile,
    auth: AuthFile,
    proposals: ProposalsFile,
    traffic_selectors: TrafficSelectorsFile,
    tun: TunFile,
    #[serde(default)]
    lifetimes: LifetimesFile,
    #[serde(default)]
    control: ControlFile,
    #[serde(default)]
    session: SessionFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelayPeerFile {
    address: IpAddr,
    #[serde(default = "ike_port")]
    ike_port: u16,
    #[serde(default = "natt_port")]
    natt_port: u16,
    noise_public_key: String,
}

impl ClientConfig {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let (file, ctx) = read_toml::<ClientFile>(path)?;
        file.validate(&ctx)
    }

    /// Validate TOML `text` as if read from `path`, resolving files against `base`.
    pub fn from_toml(text: &str, path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let (file, ctx) = parse_toml::<ClientFile>(text, path, base)?;
        file.validate(&ctx)
    }
}

impl ClientFile {
    fn validate(self, ctx: &Ctx) -> Result<ClientConfig, ConfigError> {
        let identity =
            Identity::parse(&self.identity.id_type, &self.identity.value).map_err(|p| match p {
                Problem::UnknownIdType(_) => ctx.err("identity.type", p),
                _ => ctx.err("identity.value", p),
            })?;
        let relay = self.relay;
        if relay.address.is_unspecified() || relay.ike_port == 0 || relay.natt_port == 0 {
            return Err(ctx.err(
                "relay.address",
                Problem::Other("the relay needs a specific address and non-zero ports".into()),
            ));
        }
        check_ports(ctx, "relay", relay.ike_port, relay.natt_port)?;
        let noise_public_key = decode_key32(&relay.noise_public_key)
            .map_err(|p| ctx.err("relay.noise_public_key", p))?;
        let local = self.local.validate(ctx, "local")?;
        if !local
            .addresses
            .iter()
            .any(|a| a.is_ipv4() == relay.address.is_ipv4())
        {
            return Err(ctx.err("local.addresses", Problem::FamilyMismatch(relay.address)));
        }
        let control = ControlConfig {
            socket: self.control.socket.map(|p| ctx.file(&p)),
            initiate: self.control.initiate.unwrap_or(true),
        };
        if !control.initiate && control.socket.is_none() {
            return Err(ctx.err(
                "control.initiate",
                Problem::Other(
                    "a client that does not initiate at start needs control.socket to be \
                     told when to"
                        .into(),
                ),
            ));
        }
        let lifetimes = self.lifetimes.validate(ctx)?;
        let defaults = SessionConfig::default();
        let session = SessionConfig {
            reauth: self.session.reauth.unwrap_or(defaults.reauth),
            reauth_margin_secs: self.session.reauth_margin_secs,
            restart: self.session.restart.unwrap_or(defaults.restart),
            restart_max_backoff_secs: self
                .session
                .restart_max_backoff_secs
                .unwrap_or(defaults.restart_max_backoff_secs),
        };
        if let Some(margin) = session.reauth_margin_secs {
            if margin == 0 || margin.saturating_mul(2) > lifetimes.ike_seconds {
                return Err(ctx.err(
                    "session.reauth_margin_secs",
                    Problem::Other(format!(
                        "{margin} s: must be more than 0 and at most half of \
                         lifetimes.ike_seconds ({} s)",
                        lifetimes.ike_seconds
                    )),
                ));
            }
        }
        if session.restart_max_backoff_secs == 0 {
            return Err(ctx.err(
                "session.restart_max_backoff_secs",
                Problem::Other("must be at least 1".into()),
            ));
        }
        Ok(ClientConfig {
            identity,
            relay: RelayPeer {
                ike: SocketAddr::new(relay.address, relay.ike_port),
                natt_port: relay.natt_port,
                noise_public_key: NoisePublicKey(noise_public_key),
            },
            noise_private_key: read_noise_private_key(&ctx.file(&self.noise_private_key_file))
                .map_err(|p| ctx.err("noise_private_key_file", p))?,
            local,
            auth: self.auth.validate(ctx)?,
            proposals: self.proposals.validate(ctx)?,
            traffic_selectors: self.traffic_selectors.validate(ctx, "traffic_selectors")?,
            tun: self.tun.validate(ctx)?,
            lifetimes,
            control,
            session,
        })
    }
}
