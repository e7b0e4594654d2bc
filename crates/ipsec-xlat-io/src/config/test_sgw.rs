//! `xlat-test-sgw`'s configuration: a standard IKEv1 responder that knows nothing of relays.

use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;

use super::common::{
    check_unique, parse_toml, read_toml, Auth, AuthFile, Ctx, IdentityFile, LegFile, Lifetimes,
    LifetimesFile, ListenConfig, Proposals, ProposalsFile, TunFile,
};
use super::error::{ConfigError, Problem};
use super::identification::Identity;
use crate::sys::TunConfig;

/// The test-SGW's validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSgwConfig {
    /// Its own sockets (IKE, NAT-T, raw ESP/AH).
    pub listen: ListenConfig,
    /// Its identification; `None` means its IP address (ID_IPV4_ADDR/ID_IPV6_ADDR).
    pub identity: Option<Identity>,
    /// Phase-1 authentication.
    pub auth: Auth,
    /// Proposals accepted, in order of preference.
    pub proposals: Proposals,
    /// The LAN behind it: the subnets it offers as its traffic selector.
    pub lan: Vec<IpNet>,
    /// The TUN device; its routes lead traffic toward clients into the tunnel.
    pub tun: TunConfig,
    /// Always use UDP encapsulation (as Debian's strongSwan does with `encap=yes`).
    pub force_udp_encapsulation: bool,
    /// SA lifetimes.
    pub lifetimes: Lifetimes,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSgwFile {
    listen: LegFile,
    identity: Option<IdentityFile>,
    auth: AuthFile,
    proposals: ProposalsFile,
    lan: Vec<IpNet>,
    tun: TunFile,
    #[serde(default)]
    force_udp_encapsulation: bool,
    #[serde(default)]
    lifetimes: LifetimesFile,
}

impl TestSgwConfig {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let (file, ctx) = read_toml::<TestSgwFile>(path)?;
        file.validate(&ctx)
    }

    /// Validate TOML `text` as if read from `path`, resolving files against `base`.
    pub fn from_toml(text: &str, path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let (file, ctx) = parse_toml::<TestSgwFile>(text, path, base)?;
        file.validate(&ctx)
    }
}

impl TestSgwFile {
    fn validate(self, ctx: &Ctx) -> Result<TestSgwConfig, ConfigError> {
        let identity = self
            .identity
            .map(|id| {
                Identity::parse(&id.id_type, &id.value).map_err(|p| match p {
                    Problem::UnknownIdType(_) => ctx.err("identity.type", p),
                    _ => ctx.err("identity.value", p),
                })
            })
            .transpose()?;
        if self.lan.is_empty() {
            return Err(ctx.err("lan", Problem::Empty));
        }
        check_unique(ctx, "lan", &self.lan)?;
        Ok(TestSgwConfig {
            listen: self.listen.validate(ctx, "listen")?,
            identity,
            auth: self.auth.validate(ctx)?,
            proposals: self.proposals.validate(ctx)?,
            lan: self.lan.iter().map(IpNet::trunc).collect(),
            tun: self.tun.validate(ctx)?,
            force_udp_encapsulation: self.force_udp_encapsulation,
            lifetimes: self.lifetimes.validate(ctx)?,
        })
    }
}
