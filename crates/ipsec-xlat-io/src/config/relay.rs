//! `xlat-relay`'s configuration.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use super::common::{
    check_ports, check_unique, ike_port, natt_port, parse_toml, read_toml, Ctx, LegFile,
    ListenConfig,
};
use super::error::{ConfigError, Problem};
use super::identification::{IdPattern, IdType, IdentificationRule, IdentificationTable};
use super::secret::{decode_key32, read_noise_private_key, NoisePrivateKey, NoisePublicKey};

/// Most surrogate addresses a pool may expand to (each gets its own sockets).
pub const MAX_POOL_ADDRESSES: usize = 1024;

/// The relay's validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// The file it came from (re-read by [`RelayConfig::reload`]).
    pub source: PathBuf,
    /// Sockets toward clients.
    pub c_side: ListenConfig,
    /// Sockets toward SGWs, and how s-side addresses are chosen.
    pub s_side: SSideConfig,
    /// The relay's Noise static private key.
    pub noise_private_key: NoisePrivateKey,
    /// Clients allowed to use the relay, by Noise static public key.
    pub authorized_clients: Vec<AuthorizedClient>,
    /// Which SGW serves which user.
    pub identification: IdentificationTable,
    /// Resource limits.
    pub limits: Limits,
}

/// How the relay picks its s-side address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SSideAddressing {
    /// Always this address.
    Single(IpAddr),
    /// One surrogate address per user from this pool.
    Pool(Vec<IpAddr>),
}

impl SSideAddressing {
    /// Every s-side address.
    pub fn addresses(&self) -> &[IpAddr] {
        match self {
            Self::Single(address) => core::slice::from_ref(address),
            Self::Pool(addresses) => addresses,
        }
    }
}

/// The s-side: addressing plus socket settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SSideConfig {
    /// Single address or pool.
    pub addressing: SSideAddressing,
    /// The sockets to open (one set per s-side address).
    pub listen: ListenConfig,
}

/// A client the relay serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedClient {
    /// A name for logs.
    pub name: String,
    /// Its Noise static public key.
    pub public_key: NoisePublicKey,
}

/// Resource limits against overload and abuse, each enforced and each refusal counted by
/// reason (`ipsec_xlat::ike::AdmissionLimits` for the four on new IKE sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most IKE translation entries.
    pub max_ike_entries: u32,
    /// Most IPsec translation entries.
    pub max_ipsec_entries: u32,
    /// Most IKE exchanges begun and not yet complete.
    pub max_half_open: u32,
    /// Seconds a half-open exchange is kept.
    pub half_open_timeout_seconds: u32,
    /// New IKE exchanges accepted per second, all clients together.
    pub new_exchanges_per_second: u32,
    /// New IKE exchanges accepted per second from one client address.
    pub new_exchanges_per_second_per_client: u32,
}

/// The outcome of [`RelayConfig::reload`]: what a running relay takes over without dropping
/// sessions, and which changed keys it cannot apply until restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    /// The new identification table.
    pub identification: IdentificationTable,
    /// The new list of authorised clients (existing sessions are kept).
    pub authorized_clients: Vec<AuthorizedClient>,
    /// Sections that changed but need a restart (`c_side`, `s_side`, `noise_private_key_file`,
    /// `limits`); the running values stay in force.
    pub needs_restart: Vec<&'static str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelayFile {
    c_side: LegFile,
    s_side: SSideFile,
    noise_private_key_file: PathBuf,
    #[serde(default)]
    authorized_clients: Vec<AuthorizedClientFile>,
    #[serde(default)]
    identification: Vec<RuleFile>,
    #[serde(default)]
    limits: LimitsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SSideFile {
    address: Option<IpAddr>,
    pool: Option<Vec<String>>,
    #[serde(default = "ike_port")]
    ike_port: u16,
    #[serde(default = "natt_port")]
    natt_port: u16,
    #[serde(default)]
    raw_esp: bool,
    #[serde(default)]
    raw_ah: bool,
    #[serde(default)]
    raw_header_included: bool,
    #[serde(default)]
    freebind: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizedClientFile {
    name: String,
    public_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id_type: String,
    id: String,
    sgw: IpAddr,
    #[serde(default = "ike_port")]
    sgw_ike_port: u16,
    #[serde(default = "natt_port")]
    sgw_natt_port: u16,
    s_side_address: Option<IpAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    #[serde(default = "d_max_ike")]
    max_ike_entries: u32,
    #[serde(default = "d_max_ipsec")]
    max_ipsec_entries: u32,
    #[serde(default = "d_half_open")]
    max_half_open: u32,
    #[serde(default = "d_half_open_timeout")]
    half_open_timeout_seconds: u32,
    #[serde(default = "d_rate")]
    new_exchanges_per_second: u32,
    #[serde(default = "d_rate_client")]
    new_exchanges_per_second_per_client: u32,
}

const fn d_max_ike() -> u32 {
    10_000
}
const fn d_max_ipsec() -> u32 {
    40_000
}
const fn d_half_open() -> u32 {
    1_000
}
const fn d_half_open_timeout() -> u32 {
    30
}
const fn d_rate() -> u32 {
    200
}
const fn d_rate_client() -> u32 {
    5
}

impl Default for LimitsFile {
    fn default() -> Self {
        Self {
            max_ike_entries: d_max_ike(),
            max_ipsec_entries: d_max_ipsec(),
            max_half_open: d_half_open(),
            half_open_timeout_seconds: d_half_open_timeout(),
            new_exchanges_per_second: d_rate(),
            new_exchanges_per_second_per_client: d_rate_client(),
        }
    }
}

impl RelayConfig {
    /// Read and validate `path`; key files named in it are read too, relative to its
    /// directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let (file, ctx) = read_toml::<RelayFile>(path)?;
        file.validate(&ctx)
    }

    /// Validate TOML `text` as if read from `path`, resolving files against `base`.
    pub fn from_toml(text: &str, path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let (file, ctx) = parse_toml::<RelayFile>(text, path, base)?;
        file.validate(&ctx)
    }

    /// Re-read [`source`](Self::source) (on SIGHUP) and return what a running relay can take
    /// over without dropping sessions: the identification table and the authorised clients.
    /// The new file is validated whole; on error the running configuration stays as it is.
    /// Rules are checked against the s-side addresses this relay already has sockets for.
    pub fn reload(&self) -> Result<Reload, ConfigError> {
        let mut fresh = Self::load(&self.source)?;
        for (index, rule) in fresh.identification.rules().iter().enumerate() {
            if let Some(address) = rule.s_side_address {
                if !self.s_side.addressing.addresses().contains(&address) {
                    return Err(ConfigError::Invalid {
                        path: self.source.clone(),
                        key: format!("identification[{index}].s_side_address"),
                        problem: Problem::Other(format!(
                            "{address} is not among the running relay's s-side addresses; \
                             adding s-side addresses needs a restart"
                        )),
                    });
                }
            }
        }
        let mut needs_restart = Vec::new();
        if fresh.c_side != self.c_side {
            needs_restart.push("c_side");
        }
        if fresh.s_side != self.s_side {
            needs_restart.push("s_side");
        }
        if fresh.noise_private_key != self.noise_private_key {
            needs_restart.push("noise_private_key_file");
        }
        if fresh.limits != self.limits {
            needs_restart.push("limits");
        }
        Ok(Reload {
            identification: std::mem::take(&mut fresh.identification),
            authorized_clients: std::mem::take(&mut fresh.authorized_clients),
            needs_restart,
        })
    }
}

impl RelayFile {
    fn validate(self, ctx: &Ctx) -> Result<RelayConfig, ConfigError> {
        let c_side = self.c_side.validate(ctx, "c_side")?;
        let s_side = self.s_side.validate(ctx)?;
        let noise_private_key = read_noise_private_key(&ctx.file(&self.noise_private_key_file))
            .map_err(|p| ctx.err("noise_private_key_file", p))?;
        let authorized_clients = validate_clients(ctx, self.authorized_clients)?;
        let identification = validate_rules(ctx, self.identification, &s_side.addressing)?;
        Ok(RelayConfig {
            source: ctx.path.clone(),
            c_side,
            s_side,
            noise_private_key,
            authorized_clients,
            identification,
            limits: self.limits.validate(ctx)?,
        })
    }
}

impl SSideFile {
    fn validate(self, ctx: &Ctx) -> Result<SSideConfig, ConfigError> {
        let addressing = match (self.address, self.pool) {
            (Some(_), Some(_)) => {
                return Err(ctx.err(
                    "s_side.pool",
                    Problem::Conflict {
                        other: "s_side.address".into(),
                    },
                ))
            }
            (None, None) => {
                return Err(ctx.err(
                    "s_side.address",
                    Problem::MissingOneOf {
                        alternative: "s_side.pool".into(),
                    },
                ))
            }
            (Some(address), None) => SSideAddressing::Single(address),
            (None, Some(pool)) => SSideAddressing::Pool(expand_pool(ctx, &pool)?),
        };
        check_ports(ctx, "s_side", self.ike_port, self.natt_port)?;
        Ok(SSideConfig {
            listen: ListenConfig {
                addresses: addressing.addresses().to_vec(),
                ike_port: self.ike_port,
                natt_port: self.natt_port,
                raw_esp: self.raw_esp,
                raw_ah: self.raw_ah,
                raw_header_included: self.raw_header_included,
                freebind: self.freebind,
            },
            addressing,
        })
    }
}

/// Addresses and prefixes (all host addresses of a prefix, network and broadcast addresses
/// of IPv4 prefixes shorter than /31 excluded), unique, at most [`MAX_POOL_ADDRESSES`].
fn expand_pool(ctx: &Ctx, pool: &[String]) -> Result<Vec<IpAddr>, ConfigError> {
    if pool.is_empty() {
        return Err(ctx.err("s_side.pool", Problem::Empty));
    }
    let too_many = || {
        ctx.err(
            "s_side.pool",
            Problem::Other(format!(
                "expands to more than {MAX_POOL_ADDRESSES} addresses"
            )),
        )
    };
    let mut addresses = Vec::new();
    for (index, entry) in pool.iter().enumerate() {
        let key = format!("s_side.pool[{index}]");
        if let Ok(address) = entry.parse::<IpAddr>() {
            addresses.push(address);
        } else if let Ok(net) = entry.parse::<IpNet>() {
            let mut hosts = net.hosts();
            for address in hosts.by_ref().take(MAX_POOL_ADDRESSES.saturating_add(1)) {
                addresses.push(address);
            }
        } else {
            return Err(ctx.err(key, Problem::BadPoolEntry(entry.clone())));
        }
        if addresses.len() > MAX_POOL_ADDRESSES {
            return Err(too_many());
        }
    }
    let mut seen = std::collections::HashSet::new();
    for address in &addresses {
        if !seen.insert(*address) {
            return Err(ctx.err(
                "s_side.pool",
                Problem::Other(format!("{address} appears more than once")),
            ));
        }
    }
    Ok(addresses)
}

fn validate_clients(
    ctx: &Ctx,
    clients: Vec<AuthorizedClientFile>,
) -> Result<Vec<AuthorizedClient>, ConfigError> {
    if clients.is_empty() {
        return Err(ctx.err("authorized_clients", Problem::Empty));
    }
    let mut out = Vec::with_capacity(clients.len());
    for (index, client) in clients.into_iter().enumerate() {
        if client.name.trim().is_empty() {
            return Err(ctx.err(format!("authorized_clients[{index}].name"), Problem::Empty));
        }
        let key = decode_key32(&client.public_key)
            .map_err(|p| ctx.err(format!("authorized_clients[{index}].public_key"), p))?;
        out.push(AuthorizedClient {
            name: client.name,
            public_key: NoisePublicKey(key),
        });
    }
    let names: Vec<&str> = out.iter().map(|c| c.name.as_str()).collect();
    check_unique(ctx, "authorized_clients.name", &names)?;
    let keys: Vec<[u8; 32]> = out.iter().map(|c| c.public_key.0).collect();
    check_unique(ctx, "authorized_clients.public_key", &keys)?;
    Ok(out)
}

fn validate_rules(
    ctx: &Ctx,
    rules: Vec<RuleFile>,
    addressing: &SSideAddressing,
) -> Result<IdentificationTable, ConfigError> {
    if rules.is_empty() {
        return Err(ctx.err("identification", Problem::Empty));
    }
    let mut out = Vec::with_capacity(rules.len());
    for (index, rule) in rules.into_iter().enumerate() {
        let key = |field: &str| format!("identification[{index}].{field}");
        let id_type = IdType::from_name(&rule.id_type)
            .ok_or_else(|| ctx.err(key("id_type"), Problem::UnknownIdType(rule.id_type.clone())))?;
        let pattern = IdPattern::parse(id_type, &rule.id).map_err(|p| ctx.err(key("id"), p))?;
        check_ports(
            ctx,
            &format!("identification[{index}]"),
            rule.sgw_ike_port,
            rule.sgw_natt_port,
        )?;
        if rule.sgw.is_unspecified() || rule.sgw_ike_port == 0 || rule.sgw_natt_port == 0 {
            return Err(ctx.err(
                key("sgw"),
                Problem::Other("an SGW needs a specific address and non-zero ports".into()),
            ));
        }
        match rule.s_side_address {
            Some(address) if !addressing.addresses().contains(&address) => {
                return Err(ctx.err(key("s_side_address"), Problem::NotAnSSideAddress(address)))
            }
            Some(address) if address.is_ipv4() != rule.sgw.is_ipv4() => {
                return Err(ctx.err(key("s_side_address"), Problem::FamilyMismatch(rule.sgw)))
            }
            Some(_) => {}
            None => {
                if !addressing
                    .addresses()
                    .iter()
                    .any(|a| a.is_ipv4() == rule.sgw.is_ipv4())
                {
                    return Err(ctx.err(key("sgw"), Problem::NoSSideAddressFor(rule.sgw)));
                }
            }
        }
        out.push(IdentificationRule {
            id_type,
            pattern,
            sgw_ike: SocketAddr::new(rule.sgw, rule.sgw_ike_port),
            sgw_natt_port: rule.sgw_natt_port,
            s_side_address: rule.s_side_address,
        });
    }
    Ok(IdentificationTable::new(out))
}

impl LimitsFile {
    fn validate(self, ctx: &Ctx) -> Result<Limits, ConfigError> {
        let check = |key: &str, value: u32, max: u32| {
            if value == 0 || value > max {
                return Err(ctx.err(
                    format!("limits.{key}"),
                    Problem::OutOfRange {
                        value: value.into(),
                        min: 1,
                        max: max.into(),
                    },
                ));
            }
            Ok(())
        };
        check("max_ike_entries", self.max_ike_entries, 10_000_000)?;
        check("max_ipsec_entries", self.max_ipsec_entries, 40_000_000)?;
        check("max_half_open", self.max_half_open, self.max_ike_entries)?;
        check(
            "half_open_timeout_seconds",
            self.half_open_timeout_seconds,
            3_600,
        )?;
        check(
            "new_exchanges_per_second",
            self.new_exchanges_per_second,
            1_000_000,
        )?;
        check(
            "new_exchanges_per_second_per_client",
            self.new_exchanges_per_second_per_client,
            self.new_exchanges_per_second,
        )?;
        Ok(Limits {
            max_ike_entries: self.max_ike_entries,
            max_ipsec_entries: self.max_ipsec_entries,
            max_half_open: self.max_half_open,
            half_open_timeout_seconds: self.half_open_timeout_seconds,
            new_exchanges_per_second: self.new_exchanges_per_second,
            new_exchanges_per_second_per_client: self.new_exchanges_per_second_per_client,
        })
    }
}
