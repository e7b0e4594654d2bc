//! Our main mode and quick mode initiator cores against a real, unmodified strongSwan SGW.
//!
//! Ignored by default: it needs root, strongSwan 5.9.8 and network namespaces. Run it with
//! `tests/ike_captures/interop.sh`, which starts the SGW in a namespace and this test in
//! another. It drives the cores over real UDP sockets (ports 500 and 4500, floating to 4500
//! with the non-ESP marker when NAT is detected, which Debian's strongSwan always forces), then
//! compares the ESP keys we derived with the ones the SGW logged. With `ROLE=responder`,
//! strongSwan initiates and our responder cores (the test-SGW's) answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod ike_support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use ike_support::log_values;
use std::sync::Arc;

use ipsec_xlat::ike::crypto::{
    Certificate, HashAlgorithm, IkeCipherAlgorithm, RsaSigningKey, SaKeys, SecretBytes,
};
use ipsec_xlat::ike::dh::DhGroup;
use ipsec_xlat::ike::phase1::*;
use ipsec_xlat::ike::phase2::*;
use ipsec_xlat::wire::isakmp::IdRepr;
use rand::rngs::StdRng;
use rand::SeedableRng;

const PSK: &[u8] = b"lab-only-preshared-key-0123456789";

struct Link {
    ike: UdpSocket,
    natt: UdpSocket,
    sgw: Ipv4Addr,
    floated: bool,
}

impl Link {
    fn send(&self, msg: &[u8]) {
        if self.floated {
            let mut d = vec![0u8; 4];
            d.extend_from_slice(msg);
            self.natt.send_to(&d, (self.sgw, 4500)).unwrap();
        } else {
            self.ike.send_to(msg, (self.sgw, 500)).unwrap();
        }
    }

    fn recv(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 65536];
        let sock = if self.floated { &self.natt } else { &self.ike };
        let (n, _) = sock.recv_from(&mut buf).expect("SGW answered in time");
        buf.truncate(n);
        if self.floated {
            assert_eq!(&buf[..4], &[0, 0, 0, 0], "non-ESP marker");
            buf.drain(..4);
        }
        buf
    }
}

/// Our credentials and ID for `name` ("client" or "sgw", playing that role), per
/// `IKE_INTEROP_AUTH` (psk or rsa), with the suite's authentication method set to match.
fn credentials(
    name: &str,
    ip: Ipv4Addr,
    suite: &mut Phase1Proposal,
) -> (Phase1Credentials, IdRepr) {
    if std::env::var("IKE_INTEROP_AUTH").as_deref() == Ok("rsa") {
        suite.auth = Phase1Auth::RsaSignatures;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ike_captures/pki");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let creds = RsaCredentials {
            key: RsaSigningKey::from_pem(&read(&format!("{name}.key"))).unwrap(),
            cert: Certificate::from_pem(&read(&format!("{name}.crt"))).unwrap(),
            trusted_cas: vec![Certificate::from_pem(&read("ca.crt")).unwrap()],
            now_unix_secs: now,
        };
        (
            Phase1Credentials::Rsa(Arc::new(creds)),
            IdRepr::fqdn(&format!("{name}.lab.test")),
        )
    } else {
        (
            Phase1Credentials::PreSharedKey(SecretBytes::from_slice(PSK)),
            IdRepr::address(ip.into()),
        )
    }
}

/// Checks that the strongSwan peer's charon log shows the ESP keys we derived: `initiator`
/// for the quick mode initiator's direction, `responder` for the other; integrity keys only
/// when the suite has an integrity algorithm (not with GCM).
fn assert_logged_esp_keys(
    log: &str,
    initiator: &SaKeys,
    responder: &SaKeys,
    child: &ChildProposal,
) {
    let mut keys = vec![
        ("encryption initiator key", initiator.encryption.expose()),
        ("encryption responder key", responder.encryption.expose()),
    ];
    if child.esp.and_then(|(_, i)| i).is_some() {
        keys.push(("integrity initiator key", initiator.integrity.expose()));
        keys.push(("integrity responder key", responder.integrity.expose()));
    }
    for (name, ours) in keys {
        assert_eq!(log_values(log, name)[0], ours, "{name}");
    }
}

/// Parses the strongSwan proposal strings interop.sh gave the SGW (`IKE_INTEROP_IKE`,
/// `IKE_INTEROP_ESP`, e.g. `aes256-sha1-modp3072`, `aes128gcm16-ecp256`) into our suites.
fn suites_from_env(float: bool) -> (Phase1Proposal, ChildProposal) {
    let ike = std::env::var("IKE_INTEROP_IKE").unwrap_or_else(|_| "aes128-sha256-modp2048".into());
    let esp = std::env::var("IKE_INTEROP_ESP").unwrap_or_else(|_| "aes128-sha256".into());
    let group = |s: &str| match s {
        "modp2048" => DhGroup::MODP_2048,
        "modp3072" => DhGroup::MODP_3072,
        "ecp256" => DhGroup::ECP_256,
        "curve25519" => DhGroup::CURVE25519,
        other => panic!("group {other}"),
    };
    let p: Vec<&str> = ike.split('-').collect();
    let p1 = Phase1Proposal {
        cipher: match p[0] {
            "aes128" => IkeCipherAlgorithm::Aes128Cbc,
            "aes192" => IkeCipherAlgorithm::Aes192Cbc,
            "aes256" => IkeCipherAlgorithm::Aes256Cbc,
            other => panic!("cipher {other}"),
        },
        hash: match p[1] {
            "sha1" => HashAlgorithm::Sha1,
            "sha256" => HashAlgorithm::Sha256,
            "sha384" => HashAlgorithm::Sha384,
            "sha512" => HashAlgorithm::Sha512,
            other => panic!("hash {other}"),
        },
        group: group(p[2]),
        auth: Phase1Auth::PreSharedKey,
        lifetime_secs: 15840,
    };
    let e: Vec<&str> = esp.split('-').collect();
    let (cipher, rest) = match e[0] {
        "aes128" => (EspCipher::AesCbc128, &e[1..]),
        "aes256" => (EspCipher::AesCbc256, &e[1..]),
        "aes128gcm16" => (EspCipher::AesGcm16_128, &e[1..]),
        "aes256gcm16" => (EspCipher::AesGcm16_256, &e[1..]),
        other => panic!("esp cipher {other}"),
    };
    let (integ, rest) = match rest.first().copied() {
        Some("sha1") => (Some(ChildIntegrity::HmacSha1_96), &rest[1..]),
        Some("sha256") => (Some(ChildIntegrity::HmacSha256_128), &rest[1..]),
        _ => (None, rest),
    };
    let child = ChildProposal {
        esp: Some((cipher, integ)),
        ah: None,
        pfs: rest.first().map(|g| group(g)),
        mode: if float {
            Encapsulation::UdpTunnel
        } else {
            Encapsulation::Tunnel
        },
        lifetime_secs: 3960,
    };
    (p1, child)
}

#[test]
#[ignore = "needs root, strongSwan and namespaces: run tests/ike_captures/interop.sh"]
fn initiator_cores_against_strongswan() {
    let local = Ipv4Addr::new(198, 51, 100, 10);
    let sgw = Ipv4Addr::new(203, 0, 113, 1);
    let ike = UdpSocket::bind((local, 500)).unwrap();
    let natt = UdpSocket::bind((local, 4500)).unwrap();
    for s in [&ike, &natt] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    let mut link = Link {
        ike,
        natt,
        sgw,
        floated: false,
    };
    let mut rng = StdRng::seed_from_u64(0x1ce);
    let (mut suite, _) = suites_from_env(false);
    let (credentials, local_id) = credentials("client", local, &mut suite);
    let config = Phase1Config {
        suites: vec![suite],
        credentials,
        local_id,
        local_addr: SocketAddr::from((local, 500)),
        initial_contact: true,
    };
    let (mut mm, mm1) =
        MainModeInitiator::start(config, SocketAddr::from((sgw, 500)), &mut rng).unwrap();
    link.send(&mm1);
    let mm3 = mm.handle_mm2(&link.recv(), &mut rng).unwrap();
    link.send(&mm3);
    let mm5 = mm.handle_mm4(&link.recv(), &mut rng).unwrap();
    let nat = mm.nat().unwrap();
    println!("NAT detection: {nat:?}");
    link.floated = nat.float();
    link.send(&mm5);
    let p1 = mm
        .handle_mm6(&link.recv())
        .expect("HASH_R from strongSwan verifies");
    println!("phase 1 established, cookies {:02x?}", p1.cookies);

    let (_, child) = suites_from_env(nat.float());
    let cfg = ChildConfig {
        proposals: vec![child],
        local_ts: IdRepr::address(Ipv4Addr::new(10, 8, 0, 1).into()),
        remote_ts: IdRepr::ipv4_subnet(Ipv4Addr::new(10, 9, 0, 0), Ipv4Addr::new(255, 255, 255, 0)),
    };
    let spis = BundleSpis {
        esp: Some(0xc1a0_0001),
        ah: None,
    };
    let (mut qm, qm1) = QuickModeInitiator::start(&p1, cfg, spis, &mut rng).unwrap();
    link.send(&qm1);
    let (qm3, child_sa) = qm.handle_qm2(&p1, &link.recv()).expect("HASH(2) verifies");
    link.send(&qm3);
    std::thread::sleep(Duration::from_millis(500));

    // The SGW logged the same ESP keys.
    let log = std::fs::read_to_string(std::env::var("IKE_INTEROP_SGW_LOG").unwrap()).unwrap();
    assert!(
        log.contains("CHILD_SA lab{1} established"),
        "SGW installed the child SA"
    );
    // We are the initiator: our outbound keys are the "initiator" ones.
    assert_logged_esp_keys(
        &log,
        child_sa.esp_out.as_ref().unwrap(),
        child_sa.esp_in.as_ref().unwrap(),
        &child,
    );
    assert_eq!(child_sa.inbound_spis.esp, Some(0xc1a0_0001));
    println!(
        "child SA established: our SPI {:08x}, SGW SPI {:08x}",
        child_sa.inbound_spis.esp.unwrap(),
        child_sa.outbound_spis.esp.unwrap()
    );
}

/// Waits for a datagram on either socket; strips the non-ESP marker from port 4500.
fn recv_any(ike: &UdpSocket, natt: &UdpSocket) -> (Vec<u8>, SocketAddr, bool) {
    let mut buf = vec![0u8; 65536];
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        for (sock, floated) in [(ike, false), (natt, true)] {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let mut d = buf[..n].to_vec();
                if floated {
                    assert_eq!(&d[..4], &[0, 0, 0, 0], "non-ESP marker");
                    d.drain(..4);
                }
                return (d, from, floated);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "strongSwan sent nothing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn reply(ike: &UdpSocket, natt: &UdpSocket, to: SocketAddr, floated: bool, msg: &[u8]) {
    if floated {
        let mut d = vec![0u8; 4];
        d.extend_from_slice(msg);
        natt.send_to(&d, to).unwrap();
    } else {
        ike.send_to(msg, to).unwrap();
    }
}

#[test]
#[ignore = "needs root, strongSwan and namespaces: run ROLE=responder tests/ike_captures/interop.sh"]
fn responder_cores_against_strongswan() {
    let local = Ipv4Addr::new(203, 0, 113, 1);
    let ike = UdpSocket::bind((local, 500)).unwrap();
    let natt = UdpSocket::bind((local, 4500)).unwrap();
    for s in [&ike, &natt] {
        s.set_nonblocking(true).unwrap();
    }
    let mut rng = StdRng::seed_from_u64(0x5e1);
    let (mut suite, child) = suites_from_env(true);
    let (credentials, local_id) = credentials("sgw", local, &mut suite);
    let config = Phase1Config {
        suites: vec![suite],
        credentials,
        local_id,
        local_addr: SocketAddr::from((local, 500)),
        initial_contact: false,
    };
    let (mm1, from, _) = recv_any(&ike, &natt);
    let (mut mm, mm2) = MainModeResponder::handle_mm1(config, &mm1, from, &mut rng).unwrap();
    reply(&ike, &natt, from, false, &mm2);
    let (mm3, from, _) = recv_any(&ike, &natt);
    let mm4 = mm.handle_mm3(&mm3, from, &mut rng).unwrap();
    reply(&ike, &natt, from, false, &mm4);
    let (mm5, from, floated) = recv_any(&ike, &natt);
    println!("mm5 from {from} (floated: {floated})");
    let (mm6, p1) = mm
        .handle_mm5(&mm5, &mut rng)
        .expect("HASH_I from strongSwan verifies");
    reply(&ike, &natt, from, floated, &mm6);
    println!("phase 1 established, NAT {:?}", p1.nat);

    let cfg = ChildConfig {
        proposals: vec![
            child,
            ChildProposal {
                mode: Encapsulation::Tunnel,
                ..child
            },
        ],
        local_ts: IdRepr::ipv4_subnet(Ipv4Addr::new(10, 9, 0, 0), Ipv4Addr::new(255, 255, 255, 0)),
        remote_ts: IdRepr::address(Ipv4Addr::new(10, 8, 0, 1).into()),
    };
    let spis = BundleSpis {
        esp: Some(0x5e10_0001),
        ah: None,
    };
    let (qm1, from, floated) = recv_any(&ike, &natt);
    let (mut qm, qm2) =
        QuickModeResponder::handle_qm1(&p1, &cfg, spis, &qm1, &mut rng).expect("HASH(1) verifies");
    reply(&ike, &natt, from, floated, &qm2);
    let (qm3, _, _) = recv_any(&ike, &natt);
    let child_sa = qm.handle_qm3(&p1, &qm3).expect("HASH(3) verifies");
    std::thread::sleep(Duration::from_millis(500));

    let log = std::fs::read_to_string(std::env::var("IKE_INTEROP_CLIENT_LOG").unwrap()).unwrap();
    assert!(
        log.contains("CHILD_SA lab{1} established"),
        "client installed the child SA"
    );
    // The client is the initiator: its "initiator" keys are our inbound ones.
    assert_logged_esp_keys(
        &log,
        child_sa.esp_in.as_ref().unwrap(),
        child_sa.esp_out.as_ref().unwrap(),
        &child,
    );
    println!(
        "child SA established: our SPI {:08x}, client SPI {:08x}, {:?}",
        child_sa.inbound_spis.esp.unwrap(),
        child_sa.outbound_spis.esp.unwrap(),
        child_sa.proposal.mode
    );
}

/// Our `Client` and `Relay` state machines (tails, cookie and SPI translation) against an
/// unmodified strongSwan SGW: the SGW must see an ordinary exchange from the relay's s-side
/// address, install the child SA, and hold the same ESP keys as the client, with the SPIs of
/// the relay's translation entry.
#[test]
#[ignore = "needs root, strongSwan and namespaces: run ROLE=relay tests/ike_captures/interop.sh"]
fn client_through_relay_against_strongswan() {
    use ipsec_xlat::ike::tail_content::UserId;
    use ipsec_xlat::ike::tail_crypto::StaticKeypair;
    use ipsec_xlat::ike::*;
    use ipsec_xlat::wire::isakmp::IdType;
    use std::net::IpAddr;

    let client_ip = Ipv4Addr::new(198, 51, 100, 10);
    let relay_c = Ipv4Addr::new(198, 51, 100, 1);
    let relay_s = Ipv4Addr::new(203, 0, 113, 254);
    let sgw = Ipv4Addr::new(203, 0, 113, 1);
    let bind = |ip: Ipv4Addr, port: u16| {
        let s = UdpSocket::bind((ip, port)).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    };
    let sockets: Vec<(SocketAddr, UdpSocket)> = [
        (client_ip, 500),
        (relay_c, 500),
        (relay_s, 500),
        (relay_s, 4500),
    ]
    .into_iter()
    .map(|(ip, port)| (SocketAddr::from((ip, port)), bind(ip, port)))
    .collect();

    let mut rng = StdRng::seed_from_u64(0x7e1a);
    let relay_key = StaticKeypair::generate(&mut rng);
    let client_key = StaticKeypair::generate(&mut rng);
    let mut relay = IkeRelay::new(
        IkeRelayConfig {
            c_side: SocketAddr::from((relay_c, 500)),
            s_side: IpAddr::V4(relay_s),
            static_key: relay_key.clone(),
            authorised_clients: vec![client_key.public()],
            identities: vec![IdentityRule {
                id_type: Some(IdType::USER_FQDN),
                pattern: "*@example.com".into(),
                sgw: SocketAddr::from((sgw, 500)),
                s_side: None,
            }],
            half_open_timeout: core::time::Duration::from_secs(30),
        },
        &mut rng,
    );
    let mut spis = ipsec_xlat::relay::StandaloneSpis::new(0x7e1a);
    let (mut suite, child) = suites_from_env(false);
    let (credentials, local_id) = credentials("client", relay_s, &mut suite);
    let mut client = IkeClient::new(
        IkeClientConfig {
            local: SocketAddr::from((client_ip, 500)),
            relay: SocketAddr::from((relay_c, 500)),
            static_key: client_key,
            relay_key: relay_key.public(),
            user_id: UserId {
                id_type: IdType::USER_FQDN,
                value: b"alice@example.com".to_vec(),
            },
            phase1: Phase1Config {
                suites: vec![suite],
                credentials,
                local_id,
                local_addr: SocketAddr::from((client_ip, 500)),
                initial_contact: true,
            },
            child: ChildConfig {
                proposals: vec![child],
                local_ts: IdRepr::address(Ipv4Addr::new(10, 8, 0, 1).into()),
                remote_ts: IdRepr::ipv4_subnet(
                    Ipv4Addr::new(10, 9, 0, 0),
                    Ipv4Addr::new(255, 255, 255, 0),
                ),
            },
            c_udp_encap: true,
            retransmit: RetransmitPolicy::default(),
            auto_rekey: false,
        },
        now_ts(),
        &mut rng,
    )
    .unwrap();

    let send = |t: IkeDatagram| {
        let (_, s) = sockets
            .iter()
            .find(|(a, _)| *a == t.local)
            .unwrap_or_else(|| panic!("no socket for {}", t.local));
        s.send_to(&t.payload, t.remote).unwrap();
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut children = Vec::new();
    let mut entries = Vec::new();
    let mut buf = vec![0u8; 65536];
    // Two quick modes: the first, then our rekey under the same IKE SA; with SGW_REKEY set, a
    // third that the SGW starts.
    let want = if std::env::var("IKE_INTEROP_SGW_REKEY").is_ok_and(|v| !v.is_empty()) {
        3
    } else {
        2
    };
    // With a short SGW lifetime, also wait for the SGW's DELETE of an expired bundle.
    let want_delete = std::env::var("IKE_INTEROP_SGW_LIFE").is_ok_and(|v| v == "8s");
    let mut deleted = Vec::new();
    let mut retired = Vec::new();
    while std::time::Instant::now() < deadline
        && (children.len() < want
            || entries.len() < want
            || (want_delete && (deleted.is_empty() || retired.is_empty())))
    {
        let now = now_ts();
        client.handle_timeout(now);
        while let Some(t) = client.poll_transmit() {
            send(t);
        }
        while let Some(t) = relay.poll_transmit() {
            send(t);
        }
        while let Some(e) = client.poll_event() {
            println!("client: {e:?}");
            match e {
                IkeClientEvent::ChildEstablished(c) => {
                    children.push(c);
                    if children.len() == 1 {
                        client
                            .rekey(now)
                            .expect("rekey with the relay's next grant");
                    }
                }
                IkeClientEvent::ChildDeleted {
                    s_spis_out,
                    by_peer: true,
                    ..
                } => deleted.push(s_spis_out),
                IkeClientEvent::Failed(f) => panic!("client failed: {f}"),
                _ => {}
            }
        }
        while let Some(e) = relay.poll_event() {
            println!("relay: {e:?}");
            match e {
                IkeRelayEvent::IpsecTranslation(t) => entries.push(t),
                IkeRelayEvent::IpsecRetired { s_spi_2, .. } => retired.push(s_spi_2),
                _ => {}
            }
        }
        let mut got = false;
        for (local, s) in &sockets {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                got = true;
                if local.ip() == IpAddr::V4(client_ip) {
                    client.handle_datagram(now, *local, from, &buf[..n]);
                } else {
                    relay.handle_datagram(now, *local, from, &buf[..n], &mut spis);
                }
            }
        }
        if !got {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert_eq!(children.len(), want, "first child and rekeyed children");
    assert_eq!(entries.len(), want, "one relay entry each");
    let log = {
        std::thread::sleep(Duration::from_millis(500));
        std::fs::read_to_string(std::env::var("IKE_INTEROP_SGW_LOG").unwrap()).unwrap()
    };
    for (n, (child, entry)) in children.iter().zip(&entries).enumerate() {
        // The SGW installed SPIs: its inbound is s-SPI-3, its outbound s-SPI-2.
        let installed = format!(
            "established with SPIs {:08x}_i {:08x}_o",
            entry.s_spi_3.esp.unwrap(),
            entry.s_spi_2.esp.unwrap()
        );
        assert!(log.contains(&installed), "SGW log lacks: {installed}");
        // The quick mode initiator's keys protect initiator-to-responder traffic: ours when we
        // started it, the SGW's when it rekeyed. Find this child's keys among the logged ones.
        let (out, inb) = (
            child.sa.esp_out.as_ref().unwrap(),
            child.sa.esp_in.as_ref().unwrap(),
        );
        let (i_key, r_key) = if child.we_initiated {
            (out, inb)
        } else {
            (inb, out)
        };
        let initiator_keys = log_values(&log, "encryption initiator key");
        let responder_keys = log_values(&log, "encryption responder key");
        let at = initiator_keys
            .iter()
            .position(|k| k == i_key.encryption.expose())
            .unwrap_or_else(|| panic!("child {n}: initiator key not in the SGW log"));
        assert_eq!(responder_keys[at], r_key.encryption.expose(), "child {n}");
        if child.sa.proposal.esp.and_then(|(_, i)| i).is_some() {
            assert_eq!(
                log_values(&log, "integrity initiator key")[at],
                i_key.integrity.expose()
            );
            assert_eq!(
                log_values(&log, "integrity responder key")[at],
                r_key.integrity.expose()
            );
        }
        assert_eq!(child.sa.outbound_spis, entry.s_spi_3);
        assert_eq!(child.c_spis_out, entry.c_spi_2);
        println!("established through the relay: {installed}");
    }
    assert!(
        log.contains("203.0.113.254"),
        "the SGW talked to the relay's s-side"
    );
    if want_delete {
        // The SGW's DELETE verified at the client (informational IV and HASH(1)); the client's
        // own DELETE verified at the SGW; the relay retired the matching entry.
        let gone = deleted[0];
        let entry = entries
            .iter()
            .find(|e| e.s_spi_3 == gone)
            .expect("deleted bundle was ours");
        assert!(retired.contains(&entry.s_spi_2));
        let heard = format!(
            "received DELETE for ESP CHILD_SA with SPI {:08x}",
            entry.s_spi_2.esp.unwrap()
        );
        assert!(log.contains(&heard), "SGW log lacks: {heard}");
        println!("delete round trip: {heard}");
    }
    if std::env::var("IKE_INTEROP_SGW_DPD").is_ok_and(|v| !v.is_empty()) {
        // The SGW's R-U-THEREs were answered; strongSwan parsed our ACKs (HASH(1) verified:
        // it logs a failed verification otherwise).
        let acks = log.matches("[ HASH N(DPD_ACK) ]").count();
        assert!(acks >= 1, "no DPD_ACK reached the SGW");
        assert!(!log.contains("verification failed"));
        println!("DPD: {acks} R-U-THERE-ACKs accepted by the SGW");
    }
    // Shutdown as the client adapter does it: DELETEs for the bundles, then for the IKE SA.
    // strongSwan must verify the ISAKMP-SA DELETE (SPI = the s-side cookie pair) and drop
    // the IKE SA; the relay must forget its entry.
    client.delete_phase1().expect("IKE SA to delete");
    let mut ike_retired = false;
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < end && !ike_retired {
        while let Some(t) = client.poll_transmit() {
            send(t);
        }
        while let Some(t) = relay.poll_transmit() {
            send(t);
        }
        while let Some(e) = relay.poll_event() {
            println!("relay: {e:?}");
            ike_retired |= matches!(e, IkeRelayEvent::IkeRetired { .. });
        }
        let now = now_ts();
        for (local, s) in &sockets {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                if local.ip() != IpAddr::V4(client_ip) {
                    relay.handle_datagram(now, *local, from, &buf[..n], &mut spis);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    while let Some(t) = relay.poll_transmit() {
        send(t);
    }
    assert!(ike_retired, "the relay retired the IKE entry");
    assert_eq!(relay.sessions(), 0);
    std::thread::sleep(Duration::from_millis(500));
    let log = std::fs::read_to_string(std::env::var("IKE_INTEROP_SGW_LOG").unwrap()).unwrap();
    assert!(
        log.contains("received DELETE for IKE_SA"),
        "the SGW did not accept our ISAKMP-SA DELETE"
    );
    assert!(!log.contains("verification failed"));
    println!("IKE SA delete accepted by the SGW");
    println!("relay counters: {:?}", relay.counters());
}

/// The wall clock as the core's time: milliseconds since the first call (real sockets and a
/// real strongSwan, so real time).
fn now_ts() -> ipsec_xlat::Timestamp {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    let millis = origin.elapsed().as_millis();
    ipsec_xlat::Timestamp::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}
