//! `xlat quickstart` as a user runs it: exit status and what it prints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::{Command, Output};

fn quickstart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xlat"))
        .arg("quickstart")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn quickstart_passes_and_shows_the_relay_tables() {
    let out = quickstart(&["--timeout", "60"]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "output:\n{text}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "[ok] relay: IKE translation entry for alice@example.com",
        "[ok] client: IKE SA with the test-SGW through the relay",
        "[ok] client: IPsec SA installed: ESP aes128gcm16",
        "[ok] test-SGW: IPsec SA with 127.0.0.2:",
        "IKE translation entries: 1",
        "IPsec translation entries: 1",
        "traffic: client->SGW 100 packets",
        "SGW->client 100 packets",
        "Datapath: forwarded to SGW 100, to client 100, dropped 0",
        "[ok] 100/100 echo requests client -> LAN host arrived intact",
        "[ok] 100/100 echo replies LAN host -> client arrived intact",
        "PASS:",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("FAIL"), "{text}");
    // The relay's entry has a c-side and an s-side partition with different SPIs: the client's
    // SA numbers are not the SGW's.
    let c_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("c-side: relay"))
        .unwrap();
    let s_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("s-side: relay"))
        .unwrap();
    let spis = |line: &str| -> Vec<String> {
        line.split("esp ")
            .skip(1)
            .map(|s| s[..10].to_string())
            .collect()
    };
    let (c, s) = (spis(c_line), spis(s_line));
    assert_eq!((c.len(), s.len()), (2, 2), "{c_line}\n{s_line}");
    assert!(
        c.iter().all(|spi| !s.contains(spi)),
        "SPIs must be translated:\n{c_line}\n{s_line}"
    );
}

#[test]
fn quickstart_other_suites_and_counts() {
    let out = quickstart(&[
        "--ike",
        "aes256-sha1-ecp256",
        "--esp",
        "aes256-sha256-modp2048",
        "--count",
        "250",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("ESP aes256-sha256 (PFS group 14), UDP-encapsulated"),
        "{text}"
    );
    assert!(text.contains("[ok] 250/250 echo requests"), "{text}");
    assert!(text.contains("[ok] 250/250 echo replies"), "{text}");
}

#[test]
fn quickstart_refuses_what_the_core_cannot_run_with_exit_3() {
    let out = quickstart(&["--esp", "aes128gcm16-esn"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("extended sequence numbers"),
        "{}",
        stdout(&out)
    );
    let out = quickstart(&["--ike", "aes128gcm16-sha256-modp2048"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let out = quickstart(&["--count", "0"]);
    assert_eq!(out.status.code(), Some(2), "usage error");
}
