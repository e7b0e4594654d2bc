//! `xlat vector check` on the committed vectors, and on vectors broken on purpose.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/vectors");

fn xlat(args: &[&Path]) -> (i32, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .arg("vector")
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    (out.status.code().unwrap(), lines)
}

fn vector_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            vector_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[test]
fn all_committed_vectors_pass() {
    let mut files = Vec::new();
    vector_files(Path::new(VECTORS), &mut files);
    assert!(files.len() >= 37);
    let (code, lines) = xlat(&[Path::new(VECTORS)]);
    assert_eq!(lines.len(), files.len() + 1, "{lines:#?}");
    for l in &lines[..files.len()] {
        assert!(l.ends_with(": ok"), "{l}");
    }
    assert_eq!(
        lines.last().unwrap(),
        &format!("{} passed, 0 failed", files.len())
    );
    assert_eq!(code, 0);
}

#[test]
fn broken_vectors_fail_and_say_why() {
    let dir = std::env::temp_dir().join(format!("xlat-vector-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = Path::new(VECTORS).join("esp-aes128gcm16-ipv4.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    // One wrong ciphertext byte: neither opens nor matches what we seal.
    let mut outer = hex::decode(v["outer_hex"].as_str().unwrap()).unwrap();
    outer[60] ^= 1;
    v["outer_hex"] = hex::encode(&outer).into();
    v["name"] = "tampered".into();
    let tampered = dir.join("tampered.json");
    std::fs::write(&tampered, v.to_string()).unwrap();
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{ not json").unwrap();

    let (code, lines) = xlat(&[&good, &tampered, &junk]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 1);
    assert_eq!(lines[0], "esp-aes128gcm16-ipv4: ok");
    assert!(
        lines[1].starts_with("tampered: FAILED open: integrity check failed"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("seal: differs at byte 60"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("FAILED unreadable"), "{}", lines[2]);
    assert_eq!(lines[3], "1 passed, 2 failed");
}
