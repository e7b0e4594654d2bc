//! Every example in examples/config/ loads and means what its comments say; broken
//! configurations fail with the key and the problem.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipsec_xlat_io::config::{
    Auth, ClientConfig, ConfigError, DhGroup, Encryption, IdType, Integrity, Problem,
    ProposalError, RelayConfig, SSideAddressing, TestSgwConfig,
};

fn examples() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/config"
    ))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn relay_example_loads() {
    let config = RelayConfig::load(&examples().join("relay.toml")).unwrap();
    assert_eq!(config.c_side.addresses, vec![ip("192.0.2.1")]);
    assert_eq!(
        (config.c_side.ike_port, config.c_side.natt_port),
        (500, 4500)
    );
    assert!(config.c_side.raw_esp && !config.c_side.raw_ah);
    assert_eq!(
        config.s_side.addressing,
        SSideAddressing::Single(ip("198.51.100.1"))
    );
    assert!(config.s_side.listen.raw_header_included);
    assert_eq!(config.authorized_clients.len(), 1);
    assert_eq!(config.authorized_clients[0].name, "alice-laptop");
    assert_eq!(config.limits.max_half_open, 1000);

    let table = &config.identification;
    assert_eq!(table.rules().len(), 4);
    let sgw_for = |t, v: &[u8]| table.lookup(t, v).map(|r| r.sgw_ike);
    let at = |s: &str| Some(SocketAddr::new(ip(s), 500));
    assert_eq!(
        sgw_for(IdType::USER_FQDN, b"ceo@example.com"),
        at("203.0.113.20")
    );
    assert_eq!(
        sgw_for(IdType::USER_FQDN, b"bob@example.com"),
        at("203.0.113.10")
    );
    assert_eq!(
        sgw_for(IdType::FQDN, b"gw1.branch.example.com"),
        at("203.0.113.30")
    );
    assert_eq!(
        sgw_for(IdType::IPV4_ADDR, &[10, 1, 9, 9]),
        at("203.0.113.10")
    );
    assert_eq!(sgw_for(IdType::USER_FQDN, b"bob@example.org"), None);
    assert_eq!(table.rules()[0].s_side_address, Some(ip("198.51.100.1")));
}

#[test]
fn client_example_loads() {
    let config = ClientConfig::load(&examples().join("client.toml")).unwrap();
    assert_eq!(config.identity.id_type, IdType::USER_FQDN);
    assert_eq!(config.identity.value, b"alice@example.com");
    assert_eq!(config.relay.ike, SocketAddr::new(ip("192.0.2.1"), 500));
    assert_eq!(config.relay.natt_port, 4500);
    assert!(
        matches!(&config.auth, Auth::Psk(psk) if psk.expose() == b"demo pre-shared key: replace me")
    );
    assert_eq!(config.proposals.ike.len(), 2);
    assert_eq!(config.proposals.ike[1].group, DhGroup::Curve25519);
    assert_eq!(config.proposals.esp[0].encryption, Encryption::AesGcm16_128);
    assert_eq!(config.proposals.esp[1].integrity, Some(Integrity::Sha256));
    assert_eq!(config.proposals.esp[1].pfs_group, Some(DhGroup::Modp2048));
    assert_eq!(
        config.traffic_selectors.remote,
        vec!["10.2.0.0/16".parse().unwrap()]
    );
    assert_eq!(config.tun.name, "xlat0");
    assert_eq!(config.tun.mtu, 1400);
    assert_eq!(config.lifetimes.ipsec_seconds, 3600);
    // The relay example authorises this client's key, and this client trusts the relay's.
    let relay = RelayConfig::load(&examples().join("relay.toml")).unwrap();
    let key_text = std::fs::read_to_string(examples().join("keys/README.md")).unwrap();
    assert!(key_text.contains("I8E5HMZ4BsDvYsdYBsR8zLuHDPuswo7NROG947cytAQ="));
    assert_eq!(
        format!("{:?}", relay.authorized_clients[0].public_key),
        "NoisePublicKey(veWl0T0rcf7r4T/kPfKE2oW3crNgufVLsvqyMSBrWAk=)"
    );
    assert_eq!(
        format!("{:?}", config.relay.noise_public_key),
        "NoisePublicKey(I8E5HMZ4BsDvYsdYBsR8zLuHDPuswo7NROG947cytAQ=)"
    );
    assert!(
        !format!("{config:?}").contains("replace me"),
        "secrets never print"
    );
}

#[test]
fn test_sgw_example_loads() {
    let config = TestSgwConfig::load(&examples().join("test-sgw.toml")).unwrap();
    assert_eq!(config.listen.addresses, vec![ip("203.0.113.10")]);
    assert!(config.listen.raw_esp && config.listen.raw_ah);
    assert_eq!(config.identity.as_ref().unwrap().value, b"sgw.example.com");
    assert_eq!(config.proposals.ike.len(), 3);
    assert_eq!(config.proposals.ah.len(), 1);
    assert_eq!(config.lan, vec!["10.2.0.0/16".parse().unwrap()]);
    assert_eq!(config.tun.routes, vec!["10.1.0.0/16".parse().unwrap()]);
    assert!(!config.force_udp_encapsulation);
}

/// The example relay file with `edit` applied, validated with files resolved in examples/.
fn relay_with(edit: impl Fn(String) -> String) -> Result<RelayConfig, ConfigError> {
    let text = std::fs::read_to_string(examples().join("relay.toml")).unwrap();
    let text = edit(text);
    assert_ne!(
        text,
        std::fs::read_to_string(examples().join("relay.toml")).unwrap(),
        "edit applied"
    );
    RelayConfig::from_toml(&text, Path::new("relay.toml"), &examples())
}

fn client_with(edit: impl Fn(String) -> String) -> Result<ClientConfig, ConfigError> {
    let text = std::fs::read_to_string(examples().join("client.toml")).unwrap();
    let text = edit(text);
    ClientConfig::from_toml(&text, Path::new("client.toml"), &examples())
}

fn sgw_with(edit: impl Fn(String) -> String) -> Result<TestSgwConfig, ConfigError> {
    let text = std::fs::read_to_string(examples().join("test-sgw.toml")).unwrap();
    let text = edit(text);
    TestSgwConfig::from_toml(&text, Path::new("test-sgw.toml"), &examples())
}

fn invalid<T: std::fmt::Debug>(result: Result<T, ConfigError>) -> (String, Problem, String) {
    let error = result.unwrap_err();
    let message = error.to_string();
    match error {
        ConfigError::Invalid { key, problem, .. } => (key, problem, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn relay_errors_name_the_key_and_the_problem() {
    let (key, problem, message) = invalid(relay_with(|t| {
        t.replace(
            "# pool = [\"198.51.100.16/28\", \"198.51.100.40\"]",
            "pool = [\"198.51.100.16/28\"]",
        )
    }));
    assert_eq!(key, "s_side.pool");
    assert_eq!(
        problem,
        Problem::Conflict {
            other: "s_side.address".into()
        }
    );
    assert!(
        message.contains("relay.toml") && message.contains("`s_side.pool`"),
        "{message}"
    );

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace("\naddress = \"198.51.100.1\"\n", "\n")
    }));
    assert_eq!(key, "s_side.address");
    assert!(matches!(problem, Problem::MissingOneOf { .. }));

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace(
            "s_side_address = \"198.51.100.1\"",
            "s_side_address = \"198.51.100.77\"",
        )
    }));
    assert_eq!(key, "identification[0].s_side_address");
    assert_eq!(problem, Problem::NotAnSSideAddress(ip("198.51.100.77")));

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace("id_type = \"fqdn\"", "id_type = \"dn\"")
    }));
    assert_eq!(key, "identification[2].id_type");
    assert_eq!(problem, Problem::UnknownIdType("dn".into()));

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace("id = \"10.1.0.0/16\"", "id = \"2001:db8::/32\"")
    }));
    assert_eq!(key, "identification[3].id");
    assert!(matches!(problem, Problem::BadIdentification { .. }));

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace("sgw = \"203.0.113.30\"", "sgw = \"2001:db8::30\"")
    }));
    assert_eq!(key, "identification[2].sgw");
    assert_eq!(problem, Problem::NoSSideAddressFor(ip("2001:db8::30")));

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace(
            "public_key = \"veWl0T0rcf7r4T/kPfKE2oW3crNgufVLsvqyMSBrWAk=\"",
            "public_key = \"c2hvcnQ=\"",
        )
    }));
    assert_eq!(key, "authorized_clients[0].public_key");
    assert!(matches!(problem, Problem::BadKey(_)));

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace("keys/relay.noise.key", "keys/missing.key")
    }));
    assert_eq!(key, "noise_private_key_file");
    assert!(matches!(problem, Problem::File { path, .. } if path.ends_with("keys/missing.key")));

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace("max_half_open = 1000", "max_half_open = 20000")
    }));
    assert_eq!(key, "limits.max_half_open");
    assert_eq!(
        problem,
        Problem::OutOfRange {
            value: 20000,
            min: 1,
            max: 10000
        }
    );

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace(
            "addresses = [\"192.0.2.1\"]",
            "addresses = [\"192.0.2.1\", \"192.0.2.1\"]",
        )
    }));
    assert_eq!(key, "c_side.addresses[1]");
    assert_eq!(
        problem,
        Problem::Duplicate {
            first: "c_side.addresses[0]".into()
        }
    );

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace("natt_port = 4500           # default", "natt_port = 500 #")
    }));
    assert_eq!(key, "c_side.natt_port");
    assert_eq!(
        problem,
        Problem::Conflict {
            other: "c_side.ike_port".into()
        }
    );
}

#[test]
fn relay_pool_expands_and_is_bounded() {
    let config = relay_with(|t| {
        t.replace("\naddress = \"198.51.100.1\"\n", "\n").replace(
            "# pool = [\"198.51.100.16/28\", \"198.51.100.40\"]",
            "pool = [\"198.51.100.16/30\", \"198.51.100.1\"]",
        )
    })
    .unwrap();
    let SSideAddressing::Pool(pool) = &config.s_side.addressing else {
        panic!()
    };
    // /30: two usable hosts; plus the single address the example's first rule names.
    assert_eq!(
        pool,
        &vec![ip("198.51.100.17"), ip("198.51.100.18"), ip("198.51.100.1")]
    );
    assert_eq!(config.s_side.listen.addresses, *pool);

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace("\naddress = \"198.51.100.1\"\n", "\n").replace(
            "# pool = [\"198.51.100.16/28\", \"198.51.100.40\"]",
            "pool = [\"2001:db8::/64\"]",
        )
    }));
    assert_eq!(key, "s_side.pool");
    assert!(matches!(problem, Problem::Other(text) if text.contains("1024")));

    let (key, problem, _) = invalid(relay_with(|t| {
        t.replace("\naddress = \"198.51.100.1\"\n", "\n").replace(
            "# pool = [\"198.51.100.16/28\", \"198.51.100.40\"]",
            "pool = [\"not-an-address\"]",
        )
    }));
    assert_eq!(key, "s_side.pool[0]");
    assert_eq!(problem, Problem::BadPoolEntry("not-an-address".into()));
}

#[test]
fn typos_and_wrong_types_are_syntax_errors_naming_the_key() {
    let error = relay_with(|t| t.replace("[limits]", "[limits]\nmax_half_opne = 3")).unwrap_err();
    let ConfigError::Syntax { message, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(message.contains("max_half_opne"), "{message}");

    let error = client_with(|t| t.replace("mtu = 1400", "mtu = \"big\"")).unwrap_err();
    let ConfigError::Syntax { message, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(message.contains("mtu"), "{message}");

    let error =
        client_with(|t| t.replace("address = \"192.0.2.1\"", "address = \"192.0.2\"")).unwrap_err();
    assert!(matches!(error, ConfigError::Syntax { .. }), "{error:?}");
}

#[test]
fn client_errors_name_the_key_and_the_problem() {
    let (key, problem, _) = invalid(client_with(|t| {
        t.replace("\"aes128-sha256-modp2048\",", "\"aes128-sha256\",")
    }));
    assert_eq!(key, "proposals.ike[0]");
    assert!(matches!(
        problem,
        Problem::Proposal(ProposalError::Missing {
            what: "DH group",
            ..
        })
    ));

    let (key, problem, message) = invalid(client_with(|t| {
        t.replace("esp = [\"aes128gcm16\",", "esp = [\"aes128gcm16-sha1\",")
    }));
    assert_eq!(key, "proposals.esp[0]");
    assert!(matches!(
        problem,
        Problem::Proposal(ProposalError::AeadWithIntegrity(_))
    ));
    assert!(message.contains("AES-GCM takes no integrity"), "{message}");

    let (key, problem, _) = invalid(client_with(|t| {
        t.replace("value = \"alice@example.com\"", "value = \"alice\"")
    }));
    assert_eq!(key, "identity.value");
    assert!(matches!(problem, Problem::BadIdentification { .. }));

    let (key, problem, _) = invalid(client_with(|t| {
        t.replace(
            "# certificate = \"/etc/ipsec-xlat/alice.crt\"",
            "certificate = \"keys/demo.psk\"",
        )
    }));
    assert_eq!(key, "auth.psk_file");
    assert_eq!(
        problem,
        Problem::Conflict {
            other: "auth.certificate".into()
        }
    );

    let (key, problem, _) = invalid(client_with(|t| {
        t.replace("name = \"xlat0\"", "name = \"a-very-long-interface-name\"")
    }));
    assert_eq!(key, "tun.name");
    assert!(matches!(problem, Problem::Other(_)));

    let (key, problem, _) = invalid(client_with(|t| {
        t.replace("remote = [\"10.2.0.0/16\"]", "remote = []")
    }));
    assert_eq!(key, "traffic_selectors.remote");
    assert_eq!(problem, Problem::Empty);

    let (key, problem, _) = invalid(client_with(|t| {
        t.replace("addresses = [\"0.0.0.0\"]", "addresses = [\"::\"]")
    }));
    assert_eq!(key, "local.addresses");
    assert_eq!(problem, Problem::FamilyMismatch(ip("192.0.2.1")));

    let (key, problem, _) = invalid(client_with(|t| {
        t.replace("ipsec_seconds = 3600", "ipsec_seconds = 5")
    }));
    assert_eq!(key, "lifetimes.ipsec_seconds");
    assert!(matches!(problem, Problem::OutOfRange { value: 5, .. }));
}

#[test]
fn rsa_auth_reads_pem_files_and_rejects_non_pem() {
    let dir = tempfile::tempdir().unwrap();
    let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
    std::fs::write(dir.path().join("c.pem"), cert).unwrap();
    std::fs::write(dir.path().join("k.pem"), key).unwrap();
    let with_rsa = |cert_file: &str| {
        let text = std::fs::read_to_string(examples().join("test-sgw.toml"))
            .unwrap()
            .replace("psk_file = \"keys/demo.psk\"", "")
            .replace(
                "# certificate = \"/etc/ipsec-xlat/sgw.crt\"",
                &format!("certificate = \"{}\"", dir.path().join(cert_file).display()),
            )
            .replace(
                "# private_key = \"/etc/ipsec-xlat/sgw.key\"",
                &format!("private_key = \"{}\"", dir.path().join("k.pem").display()),
            );
        TestSgwConfig::from_toml(&text, Path::new("test-sgw.toml"), &examples())
    };
    let config = with_rsa("c.pem").unwrap();
    let Auth::Rsa {
        certificate,
        private_key,
        ca_certificate,
    } = &config.auth
    else {
        panic!()
    };
    assert_eq!(certificate.expose(), cert.as_bytes());
    assert_eq!(private_key.expose(), key.as_bytes());
    assert!(ca_certificate.is_none());
    // The key file is not a certificate.
    let (key_name, problem, _) = invalid(with_rsa("k.pem"));
    assert_eq!(key_name, "auth.certificate");
    assert!(matches!(
        problem,
        Problem::NotPem {
            expected: "CERTIFICATE",
            ..
        }
    ));
}

#[test]
fn test_sgw_errors_name_the_key_and_the_problem() {
    let (key, problem, _) = invalid(sgw_with(|t| {
        t.replace("lan = [\"10.2.0.0/16\"]", "lan = []")
    }));
    assert_eq!(key, "lan");
    assert_eq!(problem, Problem::Empty);

    let (key, problem, _) = invalid(sgw_with(|t| {
        t.replace("ah = [\"sha256\"]", "ah = [\"aes128-sha256\"]")
    }));
    assert_eq!(key, "proposals.ah[0]");
    assert!(matches!(
        problem,
        Problem::Proposal(ProposalError::NotAllowed { .. })
    ));

    let (key, problem, _) = invalid(sgw_with(|t| {
        t.replace("\"aes128-sha1\"]", "\"aes128gcm16\"]")
    }));
    assert_eq!(key, "proposals.esp[2]");
    assert_eq!(
        problem,
        Problem::Duplicate {
            first: "proposals.esp[0]".into()
        }
    );
}

#[test]
fn reload_takes_the_new_table_and_lists_what_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::copy(
        examples().join("keys/relay.noise.key"),
        dir.path().join("keys/relay.noise.key"),
    )
    .unwrap();
    let original = std::fs::read_to_string(examples().join("relay.toml")).unwrap();
    let path = dir.path().join("relay.toml");
    std::fs::write(&path, &original).unwrap();
    let running = RelayConfig::load(&path).unwrap();

    // Unchanged file: same table, nothing to restart.
    let reload = running.reload().unwrap();
    assert_eq!(reload.identification, running.identification);
    assert!(reload.needs_restart.is_empty());

    // A new first rule and a changed limit.
    let edited = original
        .replace(
            "[[identification]]\nid_type = \"user_fqdn\"\nid = \"ceo@example.com\"",
            "[[identification]]\nid_type = \"user_fqdn\"\nid = \"bob@example.com\"\nsgw = \"203.0.113.99\"\n\n[[identification]]\nid_type = \"user_fqdn\"\nid = \"ceo@example.com\"",
        )
        .replace("max_ike_entries = 10000", "max_ike_entries = 20000");
    std::fs::write(&path, &edited).unwrap();
    let reload = running.reload().unwrap();
    assert_eq!(reload.identification.rules().len(), 5);
    assert_eq!(
        reload
            .identification
            .lookup(IdType::USER_FQDN, b"bob@example.com")
            .unwrap()
            .sgw_ike,
        SocketAddr::new(ip("203.0.113.99"), 500)
    );
    assert_eq!(reload.needs_restart, vec!["limits"]);

    // A broken file is refused whole; the running configuration is untouched.
    std::fs::write(
        &path,
        edited.replace("sgw = \"203.0.113.99\"", "sgw = \"nope\""),
    )
    .unwrap();
    assert!(matches!(running.reload(), Err(ConfigError::Syntax { .. })));
    assert_eq!(running.identification.rules().len(), 4);

    // A rule naming an s-side address the running relay has no socket for is refused.
    std::fs::write(
        &path,
        original
            .replace("\naddress = \"198.51.100.1\"\n", "\n")
            .replace(
                "# pool = [\"198.51.100.16/28\", \"198.51.100.40\"]",
                "pool = [\"198.51.100.1\", \"198.51.100.40\"]",
            )
            .replace(
                "s_side_address = \"198.51.100.1\"",
                "s_side_address = \"198.51.100.40\"",
            ),
    )
    .unwrap();
    let (key, _, _) = invalid(running.reload());
    assert_eq!(key, "identification[0].s_side_address");
}
