//! `xlat decode` against independent references: every packet of the strongSwan captures,
//! checked field by field against the captures' summaries (written from tshark's dissection
//! when the captures were made), and the ESP/AH/bundle vectors made by scapy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data");

fn xlat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xlat"))
        .arg("decode")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The decode of each packet of a pcap, by number.
fn decode_pcap(path: &Path) -> BTreeMap<usize, String> {
    let out = xlat(&["--pcap", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut packets = BTreeMap::new();
    let mut current: Option<(usize, String)> = None;
    for line in text(&out).lines() {
        if let Some(rest) = line.strip_prefix("packet ") {
            if let Some((n, body)) = current.take() {
                packets.insert(n, body);
            }
            let n = rest.split_whitespace().next().unwrap().parse().unwrap();
            current = Some((n, String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line.trim_start());
            body.push('\n');
        }
    }
    if let Some((n, body)) = current {
        packets.insert(n, body);
    }
    packets
}

/// One line of a capture summary (see tests/data/captures/*/*.summary.txt).
#[derive(Debug)]
struct Summary {
    number: usize,
    src_port: u16,
    dst_port: u16,
    ip_len: usize,
    udp_len: usize,
    non_esp_marker: bool,
    what: String,
}

fn summaries(path: &Path) -> BTreeMap<&'static str, Vec<Summary>> {
    let mut out: BTreeMap<&'static str, Vec<Summary>> = BTreeMap::new();
    let mut side = "";
    for line in std::fs::read_to_string(path).unwrap().lines() {
        if line.starts_with("## client side") {
            side = "client-side";
            continue;
        }
        if line.starts_with("## SGW side") {
            side = "sgw-side";
            continue;
        }
        if side.is_empty() || line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let number = words.next().unwrap().parse().unwrap();
        let _time = words.next();
        let src = words.next().unwrap();
        let _gt = words.next();
        let dst = words.next().unwrap();
        let ip_len = words
            .next()
            .unwrap()
            .trim_start_matches("ip=")
            .parse()
            .unwrap();
        let udp_len = words
            .next()
            .unwrap()
            .trim_start_matches("udp=")
            .parse()
            .unwrap();
        let rest: Vec<&str> = words.collect();
        let non_esp_marker = rest.first() == Some(&"NEM");
        let what = rest
            .iter()
            .skip(usize::from(non_esp_marker))
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let port = |a: &str| a.rsplit(':').next().unwrap().parse().unwrap();
        out.entry(side).or_default().push(Summary {
            number,
            src_port: port(src),
            dst_port: port(dst),
            ip_len,
            udp_len,
            non_esp_marker,
            what,
        });
    }
    out
}

/// The payload names of an unencrypted summary (`SA[...] VID(...) KE NONCE NAT-D`), as the
/// decoder names them.
fn payload_names(list: &str) -> Vec<&'static str> {
    let mut names = Vec::new();
    let mut depth = 0i32;
    let mut word = String::new();
    let flush = |word: &mut String, names: &mut Vec<&'static str>| {
        let base = word.split(['[', '(']).next().unwrap_or_default().to_owned();
        if !base.is_empty() {
            names.push(match base.as_str() {
                "SA" => "SECURITY_ASSOCIATION",
                "KE" => "KEY_EXCHANGE",
                "NONCE" => "NONCE",
                "NAT-D" => "NAT_DISCOVERY",
                "VID" => "VENDOR_ID",
                "CERTREQ" => "CERTIFICATE_REQUEST",
                "CERT" => "CERTIFICATE",
                "ID" => "IDENTIFICATION",
                "HASH" => "HASH",
                "SIG" => "SIGNATURE",
                "N" => "NOTIFICATION",
                "D" => "DELETE",
                other => panic!("unknown payload {other} in summary"),
            });
        }
        word.clear();
    };
    for c in list.chars() {
        match c {
            '[' | '(' => {
                depth += 1;
                word.push(c);
            }
            ']' | ')' => {
                depth -= 1;
                word.push(c);
            }
            ' ' if depth == 0 => flush(&mut word, &mut names),
            _ => word.push(c),
        }
    }
    flush(&mut word, &mut names);
    names
}

fn check_packet(s: &Summary, decoded: &str, name: &str) {
    let ctx = format!("{name} packet {}: {}\n{decoded}", s.number, s.what);
    let has = |needle: &str| assert!(decoded.contains(needle), "missing {needle:?} in {ctx}");
    has(&format!("total_length: {}\n", s.ip_len));
    has(&format!("source_port: {}\n", s.src_port));
    has(&format!("destination_port: {}\n", s.dst_port));
    has(&format!("length: {}\n", s.udp_len));
    has("header_checksum: ");
    assert!(!decoded.contains("error:"), "{ctx}");
    if let Some(rest) = s.what.strip_prefix("ISAKMP ") {
        // len=180 MainMode flags=0x00 mid=0x00000000: payloads
        let (head, payloads) = rest.split_once(": ").unwrap();
        let mut f = head.split_whitespace();
        let len = f.next().unwrap().trim_start_matches("len=");
        let exchange = f.next().unwrap();
        let flags = f.next().unwrap().trim_start_matches("flags=");
        let mid = f.next().unwrap().trim_start_matches("mid=");
        has(&format!("length: {len}\n"));
        has(&format!("message_id: {mid}\n"));
        has(&format!("flags: {flags}"));
        has(match exchange {
            "MainMode" => "exchange_type: 2 (IDENTITY_PROTECTION, main mode)",
            "QuickMode" => "exchange_type: 32 (QUICK_MODE)",
            "Informational" => "exchange_type: 5 (INFORMATIONAL)",
            other => panic!("exchange {other}"),
        });
        if s.non_esp_marker {
            has("nat-t: non-ESP marker 00000000, IKE follows");
        }
        if let Some(inner) = payloads.strip_prefix("ENC{") {
            let first = payload_names(inner.trim_end_matches('}'))[0];
            has(&format!("({first}) (IKE keys needed"));
            has("encrypted: ");
        } else {
            let expected = payload_names(payloads);
            let found: Vec<&str> = decoded
                .lines()
                .filter(|l| l.starts_with("payload "))
                .map(|l| l.split(" (").nth(1).unwrap().split(')').next().unwrap())
                .collect();
            assert_eq!(found, expected, "{ctx}");
            if payloads.contains("Life-Duration: 15840") {
                has("12 (LIFE_DURATION): 15840");
            }
            if payloads.contains("Authentication-Method: RSA signatures") {
                has("3 (AUTHENTICATION_METHOD): 3 (RSA_SIGNATURES)");
            }
            if payloads.contains("VID(RFC 3947") {
                has("= RFC 3947 NAT-T");
            }
        }
    } else if let Some(rest) = s.what.strip_prefix("ESP ") {
        let mut f = rest.split_whitespace();
        let spi = f.next().unwrap().trim_start_matches("spi=");
        let seq = f.next().unwrap().trim_start_matches("seq=");
        has(&format!("spi: {spi}\n"));
        has(&format!("sequence: {seq}\n"));
        has("nat-t: ESP in UDP (RFC 3948 2.1)");
    } else {
        panic!("summary line not understood: {ctx}");
    }
}

fn capture_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(Path::new(DATA).join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_captured_packet_matches_its_summary() {
    let mut checked = 0;
    for dir in capture_dirs() {
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let sums = summaries(&dir.join(format!("{name}.summary.txt")));
        assert_eq!(sums.len(), 2, "{name}: both sides summarised");
        for (side, lines) in sums {
            let pcap = dir.join(format!("{name}.{side}.pcap"));
            let decoded = decode_pcap(&pcap);
            for s in &lines {
                let packet = decoded
                    .get(&s.number)
                    .unwrap_or_else(|| panic!("{name} {side}: no packet {}", s.number));
                check_packet(s, packet, &format!("{name} {side}"));
                checked += 1;
            }
        }
    }
    assert!(checked >= 100, "only {checked} packets checked");
}

#[test]
fn one_packet_of_a_pcap_and_hex_on_stdin_agree() {
    let dir = &capture_dirs()[0];
    let name = dir.file_name().unwrap().to_str().unwrap();
    let pcap = dir.join(format!("{name}.client-side.pcap"));
    let one = xlat(&["--pcap", pcap.to_str().unwrap(), "--packet", "5"]);
    assert_eq!(one.status.code(), Some(0));
    let one = text(&one);
    assert!(one.starts_with("packet 5 ("), "{one}");
    assert!(
        one.contains("payload 1: 4 (KEY_EXCHANGE), length 260"),
        "{one}"
    );
    assert!(one.contains("--full shows all"), "{one}");
    // The same IP packet given as hex: identical fields below the packet line.
    let mut reader = pcap_file::pcap::PcapReader::new(std::fs::File::open(&pcap).unwrap()).unwrap();
    for _ in 0..4 {
        reader.next_packet().unwrap().unwrap();
    }
    let frame = reader.next_packet().unwrap().unwrap();
    let ip_hex = hex::encode(&frame.data[14..]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ip_hex.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let from_hex = text(&out);
    let body: String = one
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", &l[2..]))
        .collect();
    assert_eq!(from_hex, body);
    let full = text(&xlat(&["--full", &ip_hex]));
    assert!(!full.contains("--full shows all"), "{full}");
}

fn vector(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn spi_hex(v: &serde_json::Value) -> String {
    format!(
        "0x{:08x}",
        u32::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    )
}

#[test]
fn esp_ah_and_bundle_vectors_decode_with_their_spis() {
    let mut dirs = vec![Path::new(DATA).join("vectors")];
    let mut checked = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let v = vector(&path);
            let sa = &v["sa"];
            let out = xlat(&[v["outer_hex"].as_str().unwrap()]);
            let decoded = text(&out);
            let ctx = format!("{}:\n{decoded}", path.display());
            assert_eq!(out.status.code(), Some(0), "{ctx}");
            let tunnel = sa["mode"].as_str() != Some("transport");
            if let Some(src) = sa["outer"]["src"].as_str() {
                assert!(decoded.contains(&format!("source: {src}\n")), "{ctx}");
            }
            let (ah, esp) = match sa["proto"].as_str().unwrap() {
                "AH" => (Some((&sa["spi"], &sa["seq"])), None),
                "ESP" => (None, Some((&sa["spi"], &sa["seq"]))),
                _ => (
                    Some((&sa["ah"]["spi"], &sa["ah"]["seq"])),
                    Some((&sa["esp"]["spi"], &sa["esp"]["seq"])),
                ),
            };
            if let Some((spi, seq)) = ah {
                let block = decoded.split("ah:\n").nth(1).expect(&ctx);
                assert!(block.contains(&format!("spi: {}\n", spi_hex(spi))), "{ctx}");
                assert!(
                    block.contains(&format!(
                        "sequence: {}\n",
                        seq.as_u64().unwrap() & 0xffff_ffff
                    )),
                    "{ctx}"
                );
                if esp.is_none() && tunnel {
                    // Tunnel mode: the inner packet is in the clear behind AH.
                    assert!(decoded.contains("inner packet (tunnel mode):"), "{ctx}");
                }
            }
            if let Some((spi, seq)) = esp {
                let block = decoded.split("esp:\n").nth(1).expect(&ctx);
                assert!(block.contains(&format!("spi: {}\n", spi_hex(spi))), "{ctx}");
                assert!(
                    block.contains(&format!(
                        "sequence: {}\n",
                        seq.as_u64().unwrap() & 0xffff_ffff
                    )),
                    "{ctx}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} vectors");
}

#[test]
fn bad_input_exit_codes() {
    let out = xlat(&["zz"]);
    assert_eq!(out.status.code(), Some(2));
    let out = xlat(&["--pcap", "/nonexistent.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    // Well-formed hex, malformed packet: what parsed is shown, then the error, exit 1.
    let out = xlat(&["4500001c00000000401100000a0000010a000002"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("error:"), "{}", text(&out));
    let out = xlat(&["--as", "esp", "000000ff00000001"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("error:"), "{}", text(&out));
    // Several packets in one call are numbered.
    let out = xlat(&["--as", "esp", "0000100000000001", "0000100100000002"]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out);
    assert!(
        t.contains("packet 1 (8 bytes):") && t.contains("packet 2 (8 bytes):"),
        "{t}"
    );
    assert!(t.contains("spi: 0x00001001\n"), "{t}");
}
