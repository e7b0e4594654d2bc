//! Loads the ESP/AH known-answer vectors (format: `tests/data/vectors/README.md`) into SA
//! configurations. Shared by the `sa_*` integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipsec_xlat::sa::{
    AhConfig, Encryption, EspConfig, EspSuite, Integrity, Lifetime, Mode, SaConfig, SecretKey,
    SideValues, TunnelHeader, TunnelV4, TunnelV6, UdpEncap,
};
use serde_json::Value;

pub const VECTOR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/vectors");

/// One vector, ready to use.
pub struct Vector {
    pub name: String,
    pub path: PathBuf,
    pub config: SaConfig,
    pub iv: Vec<u8>,
    /// Full (ESN-extended) sequence numbers of the vector's packet.
    pub esp_seq: u64,
    pub ah_seq: u64,
    pub inner: Vec<u8>,
    pub outer: Vec<u8>,
    pub relay_side: Vec<u8>,
    pub sgw_side: SideValues,
    pub relay_side_values: SideValues,
    pub mutated: Option<Vec<u8>>,
}

impl Vector {
    /// The highest sequence number an inbound SA must believe it has seen so that the
    /// vector's packet is new and its ESN high bits are inferred right.
    pub fn highest_before(&self) -> u64 {
        let seqs = [self.esp_seq, self.ah_seq];
        seqs.into_iter()
            .filter(|&s| s > 0)
            .min()
            .unwrap_or(1)
            .saturating_sub(1)
    }

    pub fn is_transport(&self) -> bool {
        self.config.mode == Mode::Transport
    }

    /// IP header length of the inner (transport mode: the unprotected) packet.
    pub fn inner_header_len(&self) -> usize {
        if self.inner[0] >> 4 == 4 {
            usize::from(self.inner[0] & 0x0f) * 4
        } else {
            40
        }
    }

    pub fn has_ah(&self) -> bool {
        self.config.ah.is_some()
    }

    pub fn relay_spis(&self) -> (Option<u32>, Option<u32>) {
        (
            self.relay_side_values.esp_spi,
            self.relay_side_values.ah_spi,
        )
    }

    /// The same SA (same keys) with other SPIs.
    pub fn config_with_spis(&self, (esp, ah): (Option<u32>, Option<u32>)) -> SaConfig {
        let mut c = self.config.clone();
        if let (Some(e), Some(spi)) = (&mut c.esp, esp) {
            e.spi = spi;
        }
        if let (Some(a), Some(spi)) = (&mut c.ah, ah) {
            a.spi = spi;
        }
        c
    }

    /// Length of the IP header (+ UDP) in front of the first IPsec header of `outer`.
    pub fn header_len(&self) -> usize {
        let b = &self.outer;
        let (hl, proto) = if b[0] >> 4 == 4 {
            (usize::from(b[0] & 0x0f) * 4, b[9])
        } else {
            (40, b[6])
        };
        if proto == 17 {
            hl + 8
        } else {
            hl
        }
    }

    /// Bytes from the first IPsec header to the end.
    pub fn protected_len(&self) -> usize {
        self.outer.len() - self.header_len()
    }

    /// Bytes from the ESP SPI to the end.
    pub fn esp_len(&self) -> usize {
        let start = self.header_len();
        if self.has_ah() {
            let ah_len = (usize::from(self.outer[start + 1]) + 2) * 4;
            self.outer.len() - start - ah_len
        } else {
            self.outer.len() - start
        }
    }
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    match v.get(key).and_then(Value::as_str) {
        Some(s) => hex::decode(s.split_whitespace().collect::<String>()).unwrap(),
        None => Vec::new(),
    }
}

fn int(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or(s.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16).unwrap(),
                None => s.parse().unwrap(),
            }
        }
        other => panic!("not an integer: {other}"),
    }
}

fn int_or(v: &Value, key: &str, default: u64) -> u64 {
    v.get(key).map(int).unwrap_or(default)
}

fn spi(v: &Value) -> u32 {
    u32::try_from(int(v)).unwrap()
}

fn addr(v: &Value, key: &str) -> IpAddr {
    v[key].as_str().unwrap().parse().unwrap()
}

fn integrity(name: &str) -> Integrity {
    match name.to_ascii_uppercase().as_str() {
        "HMAC-SHA256-128" | "SHA2-256-128" | "HMAC-SHA2-256-128" => Integrity::HmacSha256_128,
        "HMAC-SHA1-96" | "SHA1-96" => Integrity::HmacSha1_96,
        other => panic!("unsupported auth_algo {other}"),
    }
}

fn tunnel(outer: &Value) -> TunnelHeader {
    match (addr(outer, "src"), addr(outer, "dst")) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let dont_frag = match outer.get("flags") {
                Some(Value::String(s)) => s.split(['+', '|', ' ']).any(|f| f == "DF"),
                Some(Value::Number(n)) => n.as_u64().unwrap() & 2 != 0,
                _ => false,
            };
            TunnelHeader::V4(TunnelV4 {
                src,
                dst,
                ttl: int_or(outer, "ttl", 64) as u8,
                tos: int_or(outer, "tos", 0) as u8,
                dont_frag,
                ident: int_or(outer, "id", 0) as u16,
                ident_increments: false,
            })
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => TunnelHeader::V6(TunnelV6 {
            src,
            dst,
            hop_limit: int_or(outer, "hlim", 64) as u8,
            traffic_class: int_or(outer, "tc", 0) as u8,
            flow_label: int_or(outer, "fl", 0) as u32,
        }),
        _ => panic!("mixed address families in outer"),
    }
}

fn full_seq(sa: &Value) -> u64 {
    let low = int_or(sa, "seq", 1);
    if sa.get("esn_en").and_then(Value::as_bool).unwrap_or(false) {
        (int_or(sa, "esn", 0) << 32) | low
    } else {
        low
    }
}

fn esn(sa: &Value) -> bool {
    sa.get("esn_en").and_then(Value::as_bool).unwrap_or(false)
}

fn esp_config(sa: &Value) -> EspConfig {
    let crypt = sa
        .get("crypt_algo")
        .and_then(Value::as_str)
        .unwrap_or("NULL")
        .to_ascii_uppercase();
    let mut key = hex_field(sa, "crypt_key");
    let (encryption, integrity_alg) = match crypt.as_str() {
        "AES-GCM-16" | "AES-GCM" | "AES-GCM-128" => {
            key.extend(hex_field(sa, "salt"));
            (Encryption::AesGcm16, None)
        }
        "AES-CBC" => (
            Encryption::AesCbc,
            Some(integrity(sa["auth_algo"].as_str().unwrap())),
        ),
        "NULL" | "ENCR_NULL" => (
            Encryption::Null,
            Some(integrity(sa["auth_algo"].as_str().unwrap())),
        ),
        other => panic!("unsupported crypt_algo {other}"),
    };
    EspConfig {
        spi: spi(&sa["spi"]),
        suite: EspSuite {
            encryption,
            integrity: integrity_alg,
        },
        encryption_key: SecretKey::new(&key),
        integrity_key: SecretKey::new(&hex_field(sa, "auth_key")),
        esn: esn(sa),
    }
}

fn ah_config(sa: &Value) -> AhConfig {
    AhConfig {
        spi: spi(&sa["spi"]),
        integrity: integrity(sa["auth_algo"].as_str().unwrap()),
        key: SecretKey::new(&hex_field(sa, "auth_key")),
        esn: esn(sa),
    }
}

fn side(t: &Value, config: &SaConfig, encap: Option<UdpEncap>) -> SideValues {
    let one = t.get("spi").map(spi);
    SideValues {
        src: addr(t, "src"),
        dst: addr(t, "dst"),
        esp_spi: config
            .esp
            .as_ref()
            .map(|_| t.get("esp_spi").map(spi).or(one).unwrap()),
        ah_spi: config
            .ah
            .as_ref()
            .map(|_| t.get("ah_spi").map(spi).or(one).unwrap()),
        udp_encap: encap,
    }
}

/// Parses one vector file.
pub fn load(path: &Path) -> Vector {
    let text = std::fs::read_to_string(path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let sa = &v["sa"];
    let proto = sa["proto"].as_str().unwrap().to_ascii_uppercase();
    let mode = if sa.get("mode").and_then(Value::as_str) == Some("transport") {
        Mode::Transport
    } else {
        Mode::Tunnel(tunnel(&sa["outer"]))
    };
    let udp_encap = sa.get("nat_t").map(|n| UdpEncap {
        src_port: int_or(n, "sport", 4500) as u16,
        dst_port: int_or(n, "dport", 4500) as u16,
    });
    let (esp, ah, iv, esp_seq, ah_seq) = match proto.as_str() {
        "ESP" => (
            Some(esp_config(sa)),
            None,
            hex_field(sa, "iv"),
            full_seq(sa),
            0,
        ),
        "AH" => (None, Some(ah_config(sa)), Vec::new(), 0, full_seq(sa)),
        "AH+ESP" => (
            Some(esp_config(&sa["esp"])),
            Some(ah_config(&sa["ah"])),
            hex_field(&sa["esp"], "iv"),
            full_seq(&sa["esp"]),
            full_seq(&sa["ah"]),
        ),
        other => panic!("unsupported proto {other}"),
    };
    let config = SaConfig {
        mode,
        esp,
        ah,
        udp_encap,
        replay_window: 64,
        lifetime: Lifetime::UNLIMITED,
    };
    let t = &v["translation"];
    let sgw_side = side(&t["sgw_side"], &config, udp_encap);
    let relay_side_values = side(&t["relay_side"], &config, udp_encap);
    Vector {
        name: v["name"].as_str().unwrap().to_string(),
        path: path.to_path_buf(),
        iv,
        esp_seq,
        ah_seq,
        inner: hex_field(&v, "inner_hex"),
        outer: hex_field(&v, "outer_hex"),
        relay_side: hex_field(t, "relay_side_outer_hex"),
        sgw_side,
        relay_side_values,
        mutated: v
            .get("in_transit_mutated")
            .map(|m| hex_field(m, "outer_hex")),
        config,
    }
}

/// Every `*.json` under the vector directory, recursively, sorted by path.
pub fn all_vectors() -> Vec<Vector> {
    let mut files = Vec::new();
    collect(Path::new(VECTOR_DIR), &mut files);
    files.sort();
    files.iter().map(|p| load(p)).collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

// ---- builders for tests that make their own SAs -------------------------------------------

/// Every ESP suite we support, with a key length each (AES-128/192/256 spread over them).
pub fn esp_suites() -> Vec<(&'static str, EspSuite, usize)> {
    vec![
        ("aes128-gcm16", EspSuite::AES_GCM_16, 16 + 4),
        ("aes256-gcm16", EspSuite::AES_GCM_16, 32 + 4),
        ("aes128-cbc-sha256", EspSuite::AES_CBC_HMAC_SHA256, 16),
        ("aes256-cbc-sha256", EspSuite::AES_CBC_HMAC_SHA256, 32),
        ("aes128-cbc-sha1", EspSuite::AES_CBC_HMAC_SHA1, 16),
        ("aes192-cbc-sha1", EspSuite::AES_CBC_HMAC_SHA1, 24),
        ("null-sha256", EspSuite::NULL_HMAC_SHA256, 0),
        ("null-sha1", EspSuite::NULL_HMAC_SHA1, 0),
    ]
}

/// Deterministic key bytes.
pub fn key(len: usize, seed: u8) -> SecretKey {
    let bytes: Vec<u8> = (0..len)
        .map(|i| seed.wrapping_add(i as u8).wrapping_mul(7))
        .collect();
    SecretKey::new(&bytes)
}

pub fn esp(spi: u32, suite: EspSuite, enc_key_len: usize, esn: bool) -> EspConfig {
    EspConfig {
        spi,
        suite,
        encryption_key: key(enc_key_len, 1),
        integrity_key: suite
            .integrity
            .map_or_else(SecretKey::default, |i| key(i.key_len(), 2)),
        esn,
    }
}

pub fn ah(spi: u32, integrity: Integrity, esn: bool) -> AhConfig {
    AhConfig {
        spi,
        integrity,
        key: key(integrity.key_len(), 3),
        esn,
    }
}

pub fn tunnel_v4() -> Mode {
    Mode::Tunnel(TunnelHeader::V4(TunnelV4 {
        src: "203.0.113.1".parse().unwrap(),
        dst: "203.0.113.2".parse().unwrap(),
        ttl: 64,
        tos: 0,
        dont_frag: true,
        ident: 0x1234,
        ident_increments: true,
    }))
}

pub fn tunnel_v6() -> Mode {
    Mode::Tunnel(TunnelHeader::V6(TunnelV6 {
        src: "2001:db8:113::1".parse().unwrap(),
        dst: "2001:db8:113::2".parse().unwrap(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }))
}

/// An IPv4 UDP packet of exactly `len` bytes (len >= 28), 10.8.0.1 -> 10.9.0.5.
pub fn inner_v4(len: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len];
    p[..20].copy_from_slice(&[
        0x45,
        0,
        (len >> 8) as u8,
        len as u8,
        0,
        1,
        0x40,
        0,
        64,
        17,
        0,
        0,
        10,
        8,
        0,
        1,
        10,
        9,
        0,
        5,
    ]);
    let sum = ipv4_checksum(&p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    let udp = (len - 20) as u16;
    p[20..28].copy_from_slice(&[0x9c, 0x40, 0, 7, (udp >> 8) as u8, udp as u8, 0, 0]);
    p
}

/// An IPv6 UDP packet of exactly `len` bytes (len >= 48).
pub fn inner_v6(len: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len];
    let plen = (len - 40) as u16;
    p[..8].copy_from_slice(&[0x60, 0, 0, 0, (plen >> 8) as u8, plen as u8, 17, 64]);
    p[8..24].copy_from_slice(
        &"2001:db8:c::10"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p[24..40].copy_from_slice(
        &"2001:db8:c::20"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p[40..48].copy_from_slice(&[0x9c, 0x40, 0, 7, (plen >> 8) as u8, plen as u8, 0, 0]);
    p
}

pub fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in h.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

pub fn sa_config(mode: Mode, esp: Option<EspConfig>, ah: Option<AhConfig>) -> SaConfig {
    SaConfig {
        mode,
        esp,
        ah,
        udp_encap: None,
        replay_window: 64,
        lifetime: Lifetime::UNLIMITED,
    }
}

// ---- a stand-in relay for end-to-end tests ---------------------------------------------------
//
// Written from the RFCs independently of `ipsec_xlat::sa::translate`: what any relay must do
// to a packet it cannot decrypt. Same IP version on both sides: overwrite addresses, SPIs and
// ports, keep every other byte (IPv4 Identification, Total Length, TTL...), fix the IPv4 header
// checksum. Different versions (ESP only): a fresh outer header in front of the ESP bytes.

/// Offsets in a packet: (ip header len, udp offset, ah offset+len, esp offset).
pub type Offsets = (usize, Option<usize>, Option<(usize, usize)>, Option<usize>);

pub fn parse_offsets(p: &[u8]) -> Offsets {
    let (hl, proto) = if p[0] >> 4 == 4 {
        (usize::from(p[0] & 0xf) * 4, p[9])
    } else {
        (40, p[6])
    };
    match proto {
        50 => (hl, None, None, Some(hl)),
        17 => (hl, Some(hl), None, Some(hl + 8)),
        51 => {
            let ah_len = (usize::from(p[hl + 1]) + 2) * 4;
            let esp = (p[hl] == 50).then_some(hl + ah_len);
            (hl, None, Some((hl, ah_len)), esp)
        }
        other => panic!("not IPsec: {other}"),
    }
}

fn udp6_checksum(src: &[u8], dst: &[u8], udp: &[u8]) -> u16 {
    let mut s: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(src);
    add(dst);
    add(&(udp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 17]);
    add(udp);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    match !(s as u16) {
        0 => 0xffff,
        c => c,
    }
}

pub fn relay_rewrite(p: &[u8], to: &SideValues) -> Vec<u8> {
    let (hl, udp, ah, esp) = parse_offsets(p);
    let v4_in = p[0] >> 4 == 4;
    let v4_out = to.src.is_ipv4();
    let mut out;
    if v4_in == v4_out && udp.is_some() == to.udp_encap.is_some() {
        out = p.to_vec();
        match (to.src, to.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                out[12..16].copy_from_slice(&s.octets());
                out[16..20].copy_from_slice(&d.octets());
                out[10..12].fill(0);
                let sum = ipv4_checksum(&out[..hl]);
                out[10..12].copy_from_slice(&sum.to_be_bytes());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                out[8..24].copy_from_slice(&s.octets());
                out[24..40].copy_from_slice(&d.octets());
            }
            _ => panic!("mixed families"),
        }
    } else {
        assert!(ah.is_none(), "AH cannot change IP version");
        let esp_off = esp.unwrap();
        let esp_bytes = &p[esp_off..];
        let udp_len = if to.udp_encap.is_some() { 8 } else { 0 };
        let proto = if udp_len > 0 { 17 } else { 50 };
        let payload_len = udp_len + esp_bytes.len();
        out = match (to.src, to.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let total = 20 + payload_len;
                let mut h = vec![
                    0x45,
                    0,
                    (total >> 8) as u8,
                    total as u8,
                    0,
                    0,
                    0x40,
                    0,
                    64,
                    proto,
                    0,
                    0,
                ];
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                let sum = ipv4_checksum(&h);
                h[10..12].copy_from_slice(&sum.to_be_bytes());
                h
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut h = vec![
                    0x60,
                    0,
                    0,
                    0,
                    (payload_len >> 8) as u8,
                    payload_len as u8,
                    proto,
                    64,
                ];
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                h
            }
            _ => panic!("mixed families"),
        };
        if udp_len > 0 {
            let l = (8 + esp_bytes.len()) as u16;
            out.extend_from_slice(&[0, 0, 0, 0, (l >> 8) as u8, l as u8, 0, 0]);
        }
        out.extend_from_slice(esp_bytes);
    }
    // SPIs and ports at their (possibly new) offsets.
    let (_, udp, ah, esp) = parse_offsets(&out);
    if let (Some((a, _)), Some(spi)) = (ah, to.ah_spi) {
        out[a + 4..a + 8].copy_from_slice(&spi.to_be_bytes());
    }
    if let (Some(e), Some(spi)) = (esp, to.esp_spi) {
        out[e..e + 4].copy_from_slice(&spi.to_be_bytes());
    }
    if let (Some(u), Some(encap)) = (udp, to.udp_encap) {
        out[u..u + 2].copy_from_slice(&encap.src_port.to_be_bytes());
        out[u + 2..u + 4].copy_from_slice(&encap.dst_port.to_be_bytes());
        out[u + 6..u + 8].fill(0);
        if !v4_out {
            let sum = udp6_checksum(&out[8..24], &out[24..40], &out[u..]);
            out[u + 6..u + 8].copy_from_slice(&sum.to_be_bytes());
        }
    }
    out
}
