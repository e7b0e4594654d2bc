//! Pieces shared by the three configurations: listening sockets, authentication, proposals,
//! traffic selectors, TUN, lifetimes; and the loading/validation context.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::{ConfigError, Problem};
use super::proposal::{AhProposal, EspProposal, IkeProposal};
use super::secret::{read_pem, read_psk, resolve, Secret};
use crate::sys::TunConfig;

/// The IKE port in production.
pub const IKE_PORT: u16 = 500;
/// The NAT-T port in production.
pub const NATT_PORT: u16 = 4500;

pub(super) const fn ike_port() -> u16 {
    IKE_PORT
}
pub(super) const fn natt_port() -> u16 {
    NATT_PORT
}

/// Where a file's errors are reported and its relative paths resolved.
#[derive(Debug, Clone)]
pub(super) struct Ctx {
    pub path: PathBuf,
    pub base: PathBuf,
}

impl Ctx {
    pub fn err(&self, key: impl Into<String>, problem: Problem) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.clone(),
            key: key.into(),
            problem,
        }
    }

    pub fn file(&self, path: &Path) -> PathBuf {
        resolve(&self.base, path)
    }
}

/// Read and parse `path` as `T`; relative paths inside resolve against its directory.
pub(super) fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<(T, Ctx), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let base = path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    parse_toml(&text, path, &base)
}

/// Parse `text` as `T`, reporting errors against `path` and resolving files against `base`.
pub(super) fn parse_toml<T: DeserializeOwned>(
    text: &str,
    path: &Path,
    base: &Path,
) -> Result<(T, Ctx), ConfigError> {
    let value = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok((
        value,
        Ctx {
            path: path.to_owned(),
            base: base.to_owned(),
        },
    ))
}

/// The sockets of one leg: a UDP socket on the IKE port and one on the NAT-T port for every
/// address, and optionally raw ESP and AH sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenConfig {
    /// Local addresses (one set of sockets per address).
    pub addresses: Vec<IpAddr>,
    /// IKE port (500; 0 picks a free port, for tests).
    pub ike_port: u16,
    /// NAT-T port (4500; 0 picks a free port, for tests).
    pub natt_port: u16,
    /// Open a raw IP socket for ESP (protocol 50).
    pub raw_esp: bool,
    /// Open a raw IP socket for AH (protocol 51).
    pub raw_ah: bool,
    /// Set `IP_HDRINCL` on the raw sockets (the relay's s-side writes the outer header).
    pub raw_header_included: bool,
    /// Bind addresses not configured on the host (`IP_FREEBIND`).
    pub freebind: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LegFile {
    pub addresses: Vec<IpAddr>,
    #[serde(default = "ike_port")]
    pub ike_port: u16,
    #[serde(default = "natt_port")]
    pub natt_port: u16,
    #[serde(default)]
    pub raw_esp: bool,
    #[serde(default)]
    pub raw_ah: bool,
    #[serde(default)]
    pub raw_header_included: bool,
    #[serde(default)]
    pub freebind: bool,
}

impl LegFile {
    pub fn validate(self, ctx: &Ctx, section: &str) -> Result<ListenConfig, ConfigError> {
        if self.addresses.is_empty() {
            return Err(ctx.err(format!("{section}.addresses"), Problem::Empty));
        }
        check_unique(ctx, &format!("{section}.addresses"), &self.addresses)?;
        check_ports(ctx, section, self.ike_port, self.natt_port)?;
        Ok(ListenConfig {
            addresses: self.addresses,
            ike_port: self.ike_port,
            natt_port: self.natt_port,
            raw_esp: self.raw_esp,
            raw_ah: self.raw_ah,
            raw_header_included: self.raw_header_included,
            freebind: self.freebind,
        })
    }
}

pub(super) fn check_ports(
    ctx: &Ctx,
    section: &str,
    ike: u16,
    natt: u16,
) -> Result<(), ConfigError> {
    if ike == natt && ike != 0 {
        return Err(ctx.err(
            format!("{section}.natt_port"),
            Problem::Conflict {
                other: format!("{section}.ike_port"),
            },
        ));
    }
    Ok(())
}

/// Reject the second of two equal entries, naming the first.
pub(super) fn check_unique<T: Eq + std::hash::Hash>(
    ctx: &Ctx,
    key: &str,
    items: &[T],
) -> Result<(), ConfigError> {
    let mut seen = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        if let Some(first) = seen.insert(item, index) {
            return Err(ctx.err(
                format!("{key}[{index}]"),
                Problem::Duplicate {
                    first: format!("{key}[{first}]"),
                },
            ));
        }
    }
    Ok(())
}

/// Phase-1 authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Pre-shared key.
    Psk(Secret),
    /// RSA signatures with X.509 certificates (PEM).
    Rsa {
        /// Our certificate (PEM).
        certificate: Secret,
        /// Our private key (PEM).
        private_key: Secret,
        /// The CA that signed the peer's certificate (PEM), if the peer's certificate is not
        /// trusted otherwise.
        ca_certificate: Option<Secret>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthFile {
    pub psk_file: Option<PathBuf>,
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
    pub ca_certificate: Option<PathBuf>,
}

impl AuthFile {
    pub fn validate(self, ctx: &Ctx) -> Result<Auth, ConfigError> {
        match (self.psk_file, self.certificate, self.private_key) {
            (Some(_), Some(_), _) => Err(ctx.err(
                "auth.psk_file",
                Problem::Conflict {
                    other: "auth.certificate".into(),
                },
            )),
            (Some(_), None, Some(_)) => Err(ctx.err(
                "auth.psk_file",
                Problem::Conflict {
                    other: "auth.private_key".into(),
                },
            )),
            (Some(psk), None, None) => read_psk(&ctx.file(&psk))
                .map(Auth::Psk)
                .map_err(|p| ctx.err("auth.psk_file", p)),
            (None, Some(certificate), Some(key)) => Ok(Auth::Rsa {
                certificate: read_pem(&ctx.file(&certificate), "CERTIFICATE")
                    .map_err(|p| ctx.err("auth.certificate", p))?,
                private_key: read_pem(&ctx.file(&key), "PRIVATE KEY")
                    .map_err(|p| ctx.err("auth.private_key", p))?,
                ca_certificate: self
                    .ca_certificate
                    .map(|ca| read_pem(&ctx.file(&ca), "CERTIFICATE"))
                    .transpose()
                    .map_err(|p| ctx.err("auth.ca_certificate", p))?,
            }),
            (None, Some(_), None) => Err(ctx.err(
                "auth.private_key",
                Problem::MissingOneOf {
                    alternative: "auth.psk_file".into(),
                },
            )),
            (None, None, _) => Err(ctx.err(
                "auth.psk_file",
                Problem::MissingOneOf {
                    alternative: "auth.certificate and auth.private_key".into(),
                },
            )),
        }
    }
}

/// Proposals offered (client) or accepted (test-SGW), in order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposals {
    /// Phase 1 (main mode).
    pub ike: Vec<IkeProposal>,
    /// ESP in quick mode.
    pub esp: Vec<EspProposal>,
    /// AH in quick mode; with ESP as well, an ESP+AH bundle.
    pub ah: Vec<AhProposal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProposalsFile {
    pub ike: Vec<String>,
    #[serde(default)]
    pub esp: Vec<String>,
    #[serde(default)]
    pub ah: Vec<String>,
}

impl ProposalsFile {
    pub fn validate(self, ctx: &Ctx) -> Result<Proposals, ConfigError> {
        fn parse_all<T: std::str::FromStr<Err = super::proposal::ProposalError>>(
            ctx: &Ctx,
            key: &str,
            items: &[String],
        ) -> Result<Vec<T>, ConfigError> {
            items
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    text.parse()
                        .map_err(|e| ctx.err(format!("{key}[{i}]"), Problem::Proposal(e)))
                })
                .collect()
        }
        if self.ike.is_empty() {
            return Err(ctx.err("proposals.ike", Problem::Empty));
        }
        if self.esp.is_empty() && self.ah.is_empty() {
            return Err(ctx.err(
                "proposals.esp",
                Problem::MissingOneOf {
                    alternative: "proposals.ah".into(),
                },
            ));
        }
        let proposals = Proposals {
            ike: parse_all(ctx, "proposals.ike", &self.ike)?,
            esp: parse_all(ctx, "proposals.esp", &self.esp)?,
            ah: parse_all(ctx, "proposals.ah", &self.ah)?,
        };
        check_unique(ctx, "proposals.ike", &proposals.ike)?;
        check_unique(ctx, "proposals.esp", &proposals.esp)?;
        check_unique(ctx, "proposals.ah", &proposals.ah)?;
        Ok(proposals)
    }
}

/// Traffic selectors: the subnets on each side of the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSelectors {
    /// Our side.
    pub local: Vec<IpNet>,
    /// The far side.
    pub remote: Vec<IpNet>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrafficSelectorsFile {
    pub local: Vec<IpNet>,
    pub remote: Vec<IpNet>,
}

impl TrafficSelectorsFile {
    pub fn validate(self, ctx: &Ctx, section: &str) -> Result<TrafficSelectors, ConfigError> {
        for (key, nets) in [("local", &self.local), ("remote", &self.remote)] {
            if nets.is_empty() {
                return Err(ctx.err(format!("{section}.{key}"), Problem::Empty));
            }
            check_unique(ctx, &format!("{section}.{key}"), nets)?;
        }
        Ok(TrafficSelectors {
            local: self.local.iter().map(IpNet::trunc).collect(),
            remote: self.remote.iter().map(IpNet::trunc).collect(),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TunFile {
    pub name: String,
    pub address: Option<IpNet>,
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    #[serde(default)]
    pub routes: Vec<IpNet>,
}

const fn default_mtu() -> u16 {
    1400
}

/// Linux interface names: 1 to 15 bytes, no `/`, no whitespace.
const IFNAMSIZ_MAX: usize = 15;

impl TunFile {
    pub fn validate(self, ctx: &Ctx) -> Result<TunConfig, ConfigError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= IFNAMSIZ_MAX
            && !self
                .name
                .bytes()
                .any(|b| b == b'/' || b.is_ascii_whitespace() || b == 0);
        if !name_ok {
            return Err(ctx.err(
                "tun.name",
                Problem::Other("an interface name has 1 to 15 characters, no `/` or spaces".into()),
            ));
        }
        if !(576..=65_535).contains(&self.mtu) {
            return Err(ctx.err(
                "tun.mtu",
                Problem::OutOfRange {
                    value: self.mtu.into(),
                    min: 576,
                    max: 65_535,
                },
            ));
        }
        check_unique(ctx, "tun.routes", &self.routes)?;
        Ok(TunConfig {
            name: self.name,
            address: self.address,
            mtu: self.mtu,
            routes: self.routes.iter().map(IpNet::trunc).collect(),
        })
    }
}

/// SA lifetimes (strongSwan's defaults: 3 h for IKE, 1 h for IPsec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// IKE SA lifetime in seconds.
    pub ike_seconds: u32,
    /// IPsec SA lifetime in seconds.
    pub ipsec_seconds: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LifetimesFile {
    #[serde(default = "default_ike_lifetime")]
    pub ike_seconds: u32,
    #[serde(default = "default_ipsec_lifetime")]
    pub ipsec_seconds: u32,
}

impl Default for LifetimesFile {
    fn default() -> Self {
        Self {
            ike_seconds: default_ike_lifetime(),
            ipsec_seconds: default_ipsec_lifetime(),
        }
    }
}

const fn default_ike_lifetime() -> u32 {
    10_800
}
const fn default_ipsec_lifetime() -> u32 {
    3_600
}

impl LifetimesFile {
    pub fn validate(self, ctx: &Ctx) -> Result<Lifetimes, ConfigError> {
        const MIN: u32 = 60;
        const MAX: u32 = 7 * 86_400;
        for (key, value) in [
            ("lifetimes.ike_seconds", self.ike_seconds),
            ("lifetimes.ipsec_seconds", self.ipsec_seconds),
        ] {
            if !(MIN..=MAX).contains(&value) {
                return Err(ctx.err(
                    key,
                    Problem::OutOfRange {
                        value: value.into(),
                        min: MIN.into(),
                        max: MAX.into(),
                    },
                ));
            }
        }
        Ok(Lifetimes {
            ike_seconds: self.ike_seconds,
            ipsec_seconds: self.ipsec_seconds,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IdentityFile {
    #[serde(rename = "type")]
    pub id_type: String,
    pub value: String,
}
