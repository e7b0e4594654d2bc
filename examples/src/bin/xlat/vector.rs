//! `xlat vector check FILE...`: run ESP/AH known-answer vectors (the format of
//! `tests/data/vectors/README.md`) through our SA code and say, per vector, what passed.
//!
//! For each vector: open `outer_hex` (must give `inner_hex`); seal `inner_hex` with the SA's IV
//! and sequence number (must give `outer_hex` byte for byte); `relay_side_outer_hex` must fail
//! as it stands — also with the SPI check out of the way, on the ICV alone — and open after
//! the client's post-translation; the client's pre-translation must produce exactly
//! `relay_side_outer_hex`; for AH, `in_transit_mutated.outer_hex` must open.

use ipsec_xlat_io::Timestamp;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use ipsec_xlat::sa::{
    AhConfig, ClientInboundSa, ClientOutboundSa, Encryption, EspConfig, EspSuite, InboundSa,
    Integrity, Lifetime, Mode, OutboundSa, SaConfig, SaError, SecretKey, SideValues, Translation,
    TunnelHeader, TunnelV4, TunnelV6, UdpEncap, DEFAULT_REPLAY_WINDOW,
};
use serde_json::Value;

/// `xlat vector ...`
#[derive(Subcommand)]
pub enum VectorCommand {
    /// Check known-answer vectors; directories are searched for *.json recursively. Prints one
    /// line per vector and `N passed, M failed`; exits non-zero if any failed.
    Check {
        /// Vector files or directories.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// Runs a `vector` subcommand.
pub fn run(cmd: VectorCommand) -> ExitCode {
    match cmd {
        VectorCommand::Check { files } => check_all(&files),
    }
}

fn check_all(args: &[PathBuf]) -> ExitCode {
    let mut files = Vec::new();
    for a in args {
        if a.is_dir() {
            collect(a, &mut files);
        } else {
            files.push(a.clone());
        }
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in &files {
        let (name, result) = match load(f) {
            Ok(v) => (v.name.clone(), check(&v)),
            Err(e) => (f.display().to_string(), vec![format!("unreadable: {e}")]),
        };
        if result.is_empty() {
            passed += 1;
            println!("{name}: ok");
        } else {
            failed += 1;
            println!("{name}: FAILED {}", result.join("; "));
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        out.push(dir.to_path_buf());
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

/// A vector, parsed.
struct Vector {
    name: String,
    config: SaConfig,
    iv: Vec<u8>,
    esp_seq: u64,
    ah_seq: u64,
    inner: Vec<u8>,
    outer: Vec<u8>,
    relay_side: Option<Vec<u8>>,
    translation: Option<Translation>,
    mutated: Option<Vec<u8>>,
}

impl Vector {
    fn highest_before(&self) -> u64 {
        [self.esp_seq, self.ah_seq]
            .into_iter()
            .filter(|&s| s > 0)
            .min()
            .unwrap_or(1)
            .saturating_sub(1)
    }
}

type Res<T> = Result<T, String>;

/// Runs every check; returns what failed (empty: all passed).
fn check(v: &Vector) -> Vec<String> {
    let mut failures = Vec::new();
    let now = Timestamp::ZERO;
    let open_with = |cfg: &SaConfig, bytes: &[u8]| -> Res<Result<Vec<u8>, SaError>> {
        let mut sa = InboundSa::new(cfg, now).map_err(|e| format!("SA: {e}"))?;
        sa.resume_replay_at(v.highest_before());
        let mut buf = bytes.to_vec();
        Ok(sa.open(&mut buf, now).map(|o| o.packet.to_vec()))
    };
    let outbound = || -> Res<OutboundSa> {
        let mut sa = OutboundSa::new(&v.config, now).map_err(|e| format!("SA: {e}"))?;
        sa.resume_sequences_at(v.esp_seq, v.ah_seq);
        Ok(sa)
    };
    let transport = v.config.mode == Mode::Transport;

    // 1. open
    match open_with(&v.config, &v.outer) {
        Err(e) => failures.push(e),
        Ok(Err(e)) => failures.push(format!("open: {e}")),
        Ok(Ok(got)) if !same_packet(&got, &v.inner, transport) => {
            failures.push(format!("open: {}", diff(&got, &v.inner)))
        }
        Ok(Ok(_)) => {}
    }
    // 2. seal
    match outbound() {
        Err(e) => failures.push(e),
        Ok(mut sa) => {
            let mut buf = vec![0u8; v.inner.len() + 512];
            match sa.seal(&v.inner, &v.iv, now, &mut buf) {
                Err(e) => failures.push(format!("seal: {e}")),
                Ok(s) if buf.get(..s.len) != Some(&v.outer[..]) => failures.push(format!(
                    "seal: {}",
                    diff(buf.get(..s.len).unwrap_or_default(), &v.outer)
                )),
                Ok(_) => {}
            }
        }
    }
    // 3.-5. relay side
    if let (Some(relay), Some(t)) = (&v.relay_side, &v.translation) {
        match open_with(&v.config, relay) {
            Ok(Ok(_)) => failures.push("relay-side: opened as it stands".into()),
            Err(e) => failures.push(e),
            Ok(Err(_)) => {}
        }
        let mut relabelled = v.config.clone();
        if let (Some(e), Some(spi)) = (&mut relabelled.esp, t.c_side.esp_spi) {
            e.spi = spi;
        }
        if let (Some(a), Some(spi)) = (&mut relabelled.ah, t.c_side.ah_spi) {
            a.spi = spi;
        }
        match open_with(&relabelled, relay) {
            Ok(Err(SaError::BadIcv)) => {}
            Ok(Err(e)) => failures.push(format!("relay-side with its own SPI: {e}, not a bad ICV")),
            Ok(Ok(_)) => failures.push("relay-side: ICV verified without translation".into()),
            Err(e) => failures.push(e),
        }
        match InboundSa::new(&v.config, now).map(|mut sa| {
            sa.resume_replay_at(v.highest_before());
            ClientInboundSa::new(sa, *t)
        }) {
            Ok(Ok(mut client)) => {
                let mut buf = relay.clone();
                match client.open(&mut buf, now) {
                    Ok(o) if same_packet(o.packet, &v.inner, transport) => {}
                    Ok(o) => {
                        failures.push(format!("post-translation: {}", diff(o.packet, &v.inner)))
                    }
                    Err(e) => failures.push(format!("post-translation: {e}")),
                }
            }
            Ok(Err(e)) | Err(e) => failures.push(format!("post-translation SA: {e}")),
        }
        match outbound().and_then(|sa| ClientOutboundSa::new(sa, *t).map_err(|e| e.to_string())) {
            Ok(mut client) => {
                let mut buf = vec![0u8; v.inner.len() + 512];
                match client.seal(&v.inner, &v.iv, now, &mut buf) {
                    Ok(s) if buf.get(..s.len) == Some(&relay[..]) => {}
                    Ok(s) => failures.push(format!(
                        "pre-translation: {}",
                        diff(buf.get(..s.len).unwrap_or_default(), relay)
                    )),
                    Err(e) => failures.push(format!("pre-translation: {e}")),
                }
            }
            Err(e) => failures.push(format!("pre-translation SA: {e}")),
        }
    }
    // 6. AH mutable fields
    if let Some(m) = &v.mutated {
        match open_with(&v.config, m) {
            Ok(Ok(got)) if same_packet(&got, &v.inner, transport) => {}
            Ok(Ok(got)) => failures.push(format!("in-transit-mutated: {}", diff(&got, &v.inner))),
            Ok(Err(e)) => failures.push(format!("in-transit-mutated: {e}")),
            Err(e) => failures.push(e),
        }
    }
    failures
}

/// Tunnel mode: identical. Transport mode: the payload after the IP header is identical (the
/// header keeps what it arrived with: mutable fields, c-side addresses after ESP
/// post-translation).
fn same_packet(got: &[u8], want: &[u8], transport: bool) -> bool {
    if !transport {
        return got == want;
    }
    let hl = match want.first().map(|b| b >> 4) {
        Some(4) => usize::from(want[0] & 0x0f) * 4,
        _ => 40,
    };
    got.len() == want.len() && got.get(hl..) == want.get(hl..)
}

fn diff(got: &[u8], want: &[u8]) -> String {
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(i) => format!(
            "differs at byte {i}: got {:#04x}, want {:#04x}",
            got[i], want[i]
        ),
        None => format!("length {} but want {}", got.len(), want.len()),
    }
}

// ---- parsing ---------------------------------------------------------------------------------

fn hex_field(v: &Value, key: &str) -> Res<Vec<u8>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => {
            hex::decode(s.split_whitespace().collect::<String>()).map_err(|e| format!("{key}: {e}"))
        }
        Some(other) => Err(format!("{key}: not a hex string: {other}")),
    }
}

fn int(v: &Value, what: &str) -> Res<u64> {
    match v {
        Value::Number(n) => n.as_u64().ok_or(format!("{what}: not an unsigned integer")),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or(s.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            }
            .map_err(|e| format!("{what}: {e}"))
        }
        other => Err(format!("{what}: not an integer: {other}")),
    }
}

fn int_or(v: &Value, key: &str, default: u64) -> Res<u64> {
    v.get(key).map_or(Ok(default), |x| int(x, key))
}

fn small<T: TryFrom<u64>>(x: u64, what: &str) -> Res<T> {
    T::try_from(x).map_err(|_| format!("{what}: {x} out of range"))
}

fn spi(v: &Value) -> Res<u32> {
    small(int(v, "spi")?, "spi")
}

fn addr(v: &Value, key: &str) -> Res<IpAddr> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or(format!("{key} missing"))?
        .parse()
        .map_err(|e| format!("{key}: {e}"))
}

fn integrity(v: &Value) -> Res<Integrity> {
    let name = v
        .get("auth_algo")
        .and_then(Value::as_str)
        .ok_or("auth_algo missing")?;
    match name.to_ascii_uppercase().as_str() {
        "HMAC-SHA256-128" | "SHA2-256-128" | "HMAC-SHA2-256-128" => Ok(Integrity::HmacSha256_128),
        "HMAC-SHA1-96" | "SHA1-96" => Ok(Integrity::HmacSha1_96),
        other => Err(format!("unsupported auth_algo {other}")),
    }
}

fn tunnel(outer: &Value) -> Res<TunnelHeader> {
    match (addr(outer, "src")?, addr(outer, "dst")?) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let dont_frag = match outer.get("flags") {
                Some(Value::String(s)) => s.split(['+', '|', ' ']).any(|f| f == "DF"),
                Some(Value::Number(n)) => n.as_u64().unwrap_or(0) & 2 != 0,
                _ => false,
            };
            Ok(TunnelHeader::V4(TunnelV4 {
                src,
                dst,
                ttl: small(int_or(outer, "ttl", 64)?, "ttl")?,
                tos: small(int_or(outer, "tos", 0)?, "tos")?,
                dont_frag,
                ident: small(int_or(outer, "id", 0)?, "id")?,
                ident_increments: false,
            }))
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => Ok(TunnelHeader::V6(TunnelV6 {
            src,
            dst,
            hop_limit: small(int_or(outer, "hlim", 64)?, "hlim")?,
            traffic_class: small(int_or(outer, "tc", 0)?, "tc")?,
            flow_label: small(int_or(outer, "fl", 0)?, "fl")?,
        })),
        _ => Err("outer src and dst of different IP versions".into()),
    }
}

fn esn(sa: &Value) -> bool {
    sa.get("esn_en").and_then(Value::as_bool).unwrap_or(false)
}

fn full_seq(sa: &Value) -> Res<u64> {
    let low = int_or(sa, "seq", 1)?;
    Ok(if esn(sa) {
        (int_or(sa, "esn", 0)? << 32) | low
    } else {
        low
    })
}

fn esp_config(sa: &Value) -> Res<EspConfig> {
    let crypt = sa
        .get("crypt_algo")
        .and_then(Value::as_str)
        .unwrap_or("NULL")
        .to_ascii_uppercase();
    let mut key = hex_field(sa, "crypt_key")?;
    let (encryption, integrity_alg) = match crypt.as_str() {
        "AES-GCM-16" | "AES-GCM" | "AES-GCM-128" => {
            key.extend(hex_field(sa, "salt")?);
            (Encryption::AesGcm16, None)
        }
        "AES-CBC" => (Encryption::AesCbc, Some(integrity(sa)?)),
        "NULL" | "ENCR_NULL" => (Encryption::Null, Some(integrity(sa)?)),
        other => return Err(format!("unsupported crypt_algo {other}")),
    };
    Ok(EspConfig {
        spi: spi(sa.get("spi").ok_or("spi missing")?)?,
        suite: EspSuite {
            encryption,
            integrity: integrity_alg,
        },
        encryption_key: SecretKey::new(&key),
        integrity_key: SecretKey::new(&hex_field(sa, "auth_key")?),
        esn: esn(sa),
    })
}

fn ah_config(sa: &Value) -> Res<AhConfig> {
    Ok(AhConfig {
        spi: spi(sa.get("spi").ok_or("spi missing")?)?,
        integrity: integrity(sa)?,
        key: SecretKey::new(&hex_field(sa, "auth_key")?),
        esn: esn(sa),
    })
}

fn side(t: &Value, config: &SaConfig, encap: Option<UdpEncap>) -> Res<SideValues> {
    let one = t.get("spi").map(spi).transpose()?;
    let pick =
        |key: &str| -> Res<Option<u32>> { t.get(key).map(spi).transpose().map(|s| s.or(one)) };
    Ok(SideValues {
        src: addr(t, "src")?,
        dst: addr(t, "dst")?,
        esp_spi: match config.esp {
            Some(_) => Some(pick("esp_spi")?.ok_or("translation side without an ESP SPI")?),
            None => None,
        },
        ah_spi: match config.ah {
            Some(_) => Some(pick("ah_spi")?.ok_or("translation side without an AH SPI")?),
            None => None,
        },
        udp_encap: encap,
    })
}

fn load(path: &Path) -> Res<Vector> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let sa = v.get("sa").ok_or("no \"sa\"")?;
    let proto = sa
        .get("proto")
        .and_then(Value::as_str)
        .ok_or("sa.proto missing")?
        .to_ascii_uppercase();
    let mode = if sa.get("mode").and_then(Value::as_str) == Some("transport") {
        Mode::Transport
    } else {
        Mode::Tunnel(tunnel(sa.get("outer").ok_or("sa.outer missing")?)?)
    };
    let udp_encap = match sa.get("nat_t") {
        Some(n) => Some(UdpEncap {
            src_port: small(int_or(n, "sport", 4500)?, "sport")?,
            dst_port: small(int_or(n, "dport", 4500)?, "dport")?,
        }),
        None => None,
    };
    let part = |key: &str| sa.get(key).ok_or(format!("sa.{key} missing"));
    let (esp, ah, iv, esp_seq, ah_seq) = match proto.as_str() {
        "ESP" => (
            Some(esp_config(sa)?),
            None,
            hex_field(sa, "iv")?,
            full_seq(sa)?,
            0,
        ),
        "AH" => (None, Some(ah_config(sa)?), Vec::new(), 0, full_seq(sa)?),
        "AH+ESP" => (
            Some(esp_config(part("esp")?)?),
            Some(ah_config(part("ah")?)?),
            hex_field(part("esp")?, "iv")?,
            full_seq(part("esp")?)?,
            full_seq(part("ah")?)?,
        ),
        other => return Err(format!("unsupported proto {other}")),
    };
    let config = SaConfig {
        mode,
        esp,
        ah,
        udp_encap,
        replay_window: DEFAULT_REPLAY_WINDOW,
        lifetime: Lifetime::UNLIMITED,
    };
    let (relay_side, translation) = match v.get("translation") {
        Some(t) => {
            let s_side = side(
                t.get("sgw_side").ok_or("translation.sgw_side missing")?,
                &config,
                udp_encap,
            )?;
            let c_side = side(
                t.get("relay_side")
                    .ok_or("translation.relay_side missing")?,
                &config,
                udp_encap,
            )?;
            (
                Some(hex_field(t, "relay_side_outer_hex")?),
                Some(Translation { s_side, c_side }),
            )
        }
        None => (None, None),
    };
    let mutated = match v.get("in_transit_mutated") {
        Some(m) => Some(hex_field(m, "outer_hex")?),
        None => None,
    };
    Ok(Vector {
        name: v
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| path.display().to_string(), str::to_string),
        config,
        iv,
        esp_seq,
        ah_seq,
        inner: hex_field(&v, "inner_hex")?,
        outer: hex_field(&v, "outer_hex")?,
        relay_side,
        translation,
        mutated,
    })
}
