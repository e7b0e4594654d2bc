//! Diffie-Hellman known answers and validation.
//!
//! The vectors are strongSwan's own key-exchange test vectors
//! (src/libstrongswan/plugins/test_vectors/test_vectors/{modp,ecp,curve25519}.c): strongSwan's
//! crypto tester feeds `seed[..len/2]` and `seed[len/2..]` as the two private values and
//! checks both public values and the shared secret. Matching them proves our encodings are
//! the ones strongSwan puts in (and expects from) KE payloads and feeds into SKEYID: MODP
//! fixed-length big-endian, ECP x|y with an x-only shared secret, raw X25519. The Curve25519
//! vectors are those of RFC 7748 section 6.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use ipsec_xlat::ike::dh::{DhError, DhGroup, DhPrivate};
use rand::rngs::StdRng;
use rand::SeedableRng;

struct Vector {
    group: DhGroup,
    seed: &'static str,
    pub_i: &'static str,
    pub_r: &'static str,
    shared: &'static str,
}

const MODP2048: Vector = Vector {
    group: DhGroup::MODP_2048,
    seed: concat!(
        "af3bfd3862caa11774ce2b74840807c1de5cd6a7619bb3a0c7af39eedaa6eb89",
        "e2e9c144b3625b2731879cb58fa3766d77a48e4772e23e284ce4af81399dcd58",
        "9beb7cefbcc9d196f06dcfdfc3a88e3b4c1c82befec0e64ba495ccde329936ce",
    ),
    pub_i: concat!(
        "1a27c5a7237ae8fe0a71c0af6494faeccdd4a5031d47a1a6b7162dfcdf03bb17",
        "b7bb089bd652a5f31b3661bb114d7c48d83d244f46db64870c9c8327f1a830ab",
        "f531e518dd521a2e94e7061e944209ba5331012b3dff00849eaab58c7c7af152",
        "65210fbcf0f87b9dd932f8ba4e9a9f91b63294530a1200b88b3a03e1a0c7fd34",
        "deec6fad501ede06ce7ec9e291d47b69b3a4b61bb08763b6d46bfbdab97bdece",
        "a0ff09a872221fb4b6ccca6b5c6faad8eb873b9a2f39b63e62cfadd47607e68e",
        "2c290583f7268fb43fc00a7dc8810ecdac1a59bd1b477aaf41cb4b24ada3e5f7",
        "b8cb986f1ae476afc7677aa62570a1b1838dda26be7863ee2f40b5e538a4e181",
    ),
    pub_r: concat!(
        "667282318d65cb05cd323c25091e664cc75a3a20c014b2f6389d3b27f5c1e908",
        "e0d40ff8552bd587752550302285b49f75f8ffaec937fb2e69c8150f88d6508b",
        "f0fb1f16e9676f5ecf718f874f3d8de3c8688749dbcf1affd4d62ff9ea5d9e30",
        "35b2ce4a6eae281c408fc8084ae235d998a037610a8cb48c878cd0635fa1369f",
        "c90b864c532367384597fdeefdb6742b006adedae2015bc4ce2f9c5451c9636a",
        "16ed7d10b4e40d825b50aa7633a0e8fb813bebc049f7ff6a71ecfb14e880f509",
        "d38b571a809808a496b451b5b5567a3608b01a22e4998355f181b879de262304",
        "f29de142ff5e52cc564f3a2d1e84a0c33d8f3da7bf6412b3f018e00d90fa5b94",
    ),
    shared: concat!(
        "26f9e8457cf2d7d56dd819c2a867d7c3a90aa2b944e20b8bded3a5bf91aa1ff8",
        "1a7ea89d524c365f3823510835cd8644c4d5dacf893e610d2c1a140616d1c8c1",
        "d35f46de2c5faad9aecec6b677acd984098142a8aa0c8542e9ac98b3bc7b577c",
        "59b8ec53346e1567a90039ac92b224635ab216731b06353925642c330a201ba4",
        "b31284a9515860f35e9308f5515a779984fbd9f5ce4177db78d1cb0384b63c73",
        "9c6d744ad7a700b95a531b29f3b744ed38e69aee67072c45a91cee6b14215e04",
        "f27c31358c86dce448d60a223bdc554edaa3e4072ef603a0f4619f8db39cec29",
        "1c860174155d8abf9e1082931df58ed9ee9c1215dd2393de02f5c1767f070e28",
    ),
};

const MODP3072: Vector = Vector {
    group: DhGroup::MODP_3072,
    seed: concat!(
        "51f8aab663201eb286bad29932b2e58a9296bf2aa77879cc8c6429d5a668adf7",
        "6057adc377cc75fd864796b8fa7b428caf7f44290baac8815e70759b6b274227",
        "122250ea8d5a12ef4b0a82cfe91d52989d96c1a840892a9ffa9f3a65c77c8cd9",
    ),
    pub_i: concat!(
        "ae9827a07a372e160167206372c55b615cd49e8c43f71a6e6b22838c0f9b9d90",
        "3ae59797f395c9ca7c780fa88d7927a3ac48f1b505e67a0db1ebad578eb1572b",
        "86525e840c4ce2435ed4cde17568a2cb270885c9d3a724f87346e519a94784ee",
        "88afec2786689f0bc123e0e4657957b4f75f24b52dd48039093ae8eb5da40d1e",
        "31fc53fd98a058b0389bd5c7af5b0df449d613901ca271b58e470f88d345931f",
        "3f64e81f031de95adaef78f60e645eca7dd5618aa6edd39fa891224639a9ae42",
        "a8a9374d683fd3f4826b974c8d00392f311245a71c86db4eb5efc47834ce6baf",
        "b208aabac68c35e34f791578401c7b750115b16e5c3ac36242f4a90a99734c08",
        "368d48ab5d50ec92f3f1267e54b93334a50b00d7571d1ceb1e662158d5663620",
        "d1f0228a64f492ea8e1fe1817e3583577f1e48a58491c10d98ffa0eaa86405d0",
        "2c94b49f99fddc6a3b7bd6e3bce2261ea3cbbd821f495a2aa71ae909b3cd0d2c",
        "9bec0b068ba72620ff06324cdb800bf8565e4b782184610ef077bc4e8fc517f7",
    ),
    pub_r: concat!(
        "2b270c8e6674093145ef84ab0c34560f5c4f9482a50f2f4472fde987b46eb840",
        "340203d631102f2c7f9eb48d207444fb21717daf76f66004a79ea8eee77cc980",
        "19ba1234f16fbff7dda945a446811d285d31afd331dfa80c870efb199668bb38",
        "7618e11621f53292908fd329aadb91635e475f33004d9effca65e73fdfe558f3",
        "4ba9eef3cf961dab565c5a722afb228c26bf38d39c84f7ca70f851bf218a7e2c",
        "2db5d356937a015a65503113f6c0d52d3b2a2121a0ca42c6ccdebb0b2cfc68aa",
        "662f3e08dd6982427a0a11b2e144e0f1a347d1d27ff896ee56f5d9fb25f740b5",
        "c70988fcdc9112dfcea2de117c1287d32da8427049ceef097bf45781846a021d",
        "383e731aa6e5c3dc0a46226e54c5a6367ad8900b8eadba54093ec6f71c29744a",
        "dc7302e81185ed80db14b3e43f29361af4e61c331e5d774d7617bf3155713b0d",
        "4f9038976f2ff85199c1d70dcb3efa2b63e0c77cee789fa0058fdf5267c6b1bd",
        "edc1d1ef47ca08222a9a27e65f892eefde0612f46b51be1a14774d4514d7e7ca",
    ),
    shared: concat!(
        "453caf89d6bff39bdae185461761d6def589a582669c1ac86b0b7ee46956c9f9",
        "4d7477ddd81cde127576daebd3529515f06aa7df5eb13127675ce1b4dca2acb6",
        "47e35576b94050bcc385b3b48944dd1ecabe6c767045cdcddd3a1d65838cccb0",
        "82f544f0fd9be6c3d4ffe755e4d56dfbb42093523f45d2415eadf36a185c87a6",
        "e01427bbcc989568a29366b1c691724d810e99fb0583002672a53e499ff2304a",
        "4bcc10a3b80bf48a9e315be998bf170ce90ec4eb8705570e5ec480c21c4dd0a5",
        "3a1cb206a342452ea8a684d569d810f8e98fead7039c64efef593524f5075cb8",
        "7e7563a42ad1b57819c7b019963d070b4cefe22c596b3a96a8ba41bdabe054a9",
        "a9b4d1c4278a8364ead996a039e8bddc00601ecf102d20d6abced2ff192949f5",
        "f81c36fb47964439cd44036a23ac30868ca52325847b3100d3d4281676bf9484",
        "a00566f13b6ae89c57b7732f8e60434e8e4885cb1bf947ced14d3153e1b6c81b",
        "33120ffbd8459491d2c578aab0a97e83dc87875be588c0cdeeeefd19cc4f1d40",
    ),
};

const ECP256: Vector = Vector {
    group: DhGroup::ECP_256,
    seed: concat!(
        "814264145f2f56f2e96a8e337a1284993faf432a5abce59e867b7291d507a3af",
        "2ce1788ec197e096db95a200cc0ab26a19ce6bccad562b8eee1b593761cf7f41",
    ),
    pub_i: concat!(
        "2af502f3be8952f2c9b5a8d4160d09e97165be50bc42ae4a5e8d3b4ba83aeb15",
        "eb0faf4ca986c4d38681a0f9872d79d56795bd4bff6e6de3c0f5015ece5efd85",
    ),
    pub_r: concat!(
        "b120de4aa36492795346e8de6c2c8646ae06aaea279fa775b3ab0715f6ce51b0",
        "9f1b7eece20d7b5ed8ec685fa3f071d83727027092a8411385c34dde5708b2b6",
    ),
    shared: "dd0f5396219d1ea393310412d19a08f1f5811e9dc8ec8eea7f80d21c820c2788",
};

const CURVE25519_1: Vector = Vector {
    group: DhGroup::CURVE25519,
    seed: concat!(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    ),
    pub_i: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
    pub_r: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
    shared: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
};

const CURVE25519_2: Vector = Vector {
    group: DhGroup::CURVE25519,
    seed: concat!(
        "751fb4308655b476b6789b7325f9ea8cddd16a58533ff6d9e60009464a5f9d94",
        "0a54645253290d60ddadd0e030bacd9e5501efdc220755a1e978f1b839a05688",
    ),
    pub_i: "48d5ddd4061257ba166fa3f9bbdb74f1a4e81c089384fa77f790709f0dfbc766",
    pub_r: "0be7c1f5aad87d7e448662673298a443478b859745179eaf564c79c0ef6eee25",
    shared: "c74950607a12327f3204d94b6825bfb068b7f8319a9e3708ed3d43ce8130c950",
};

fn check(v: &Vector) {
    let seed = hex::decode(v.seed).unwrap();
    let (a, b) = seed.split_at(seed.len() / 2);
    let a = DhPrivate::from_private_bytes(v.group, a).unwrap();
    let b = DhPrivate::from_private_bytes(v.group, b).unwrap();
    assert_eq!(
        hex::encode(a.public_value()),
        v.pub_i,
        "initiator public value"
    );
    assert_eq!(
        hex::encode(b.public_value()),
        v.pub_r,
        "responder public value"
    );
    assert_eq!(
        v.group.public_value_len(),
        Some(a.public_value().len()),
        "KE body length"
    );
    let ab = a.agree(&b.public_value()).unwrap();
    let ba = b.agree(&a.public_value()).unwrap();
    assert_eq!(hex::encode(ab.expose()), v.shared, "shared secret (i side)");
    assert_eq!(hex::encode(ba.expose()), v.shared, "shared secret (r side)");
}

#[test]
fn modp2048_matches_strongswan_vector() {
    check(&MODP2048);
}

#[test]
fn modp3072_matches_strongswan_vector() {
    check(&MODP3072);
}

#[test]
fn ecp256_matches_strongswan_vector() {
    check(&ECP256);
}

#[test]
fn curve25519_matches_rfc7748_vectors() {
    check(&CURVE25519_1);
    check(&CURVE25519_2);
}

/// Fresh private values from an injected RNG agree with each other in every group, and the
/// same seed gives the same public value (deterministic simulations rely on it).
#[test]
fn generated_values_agree_and_are_deterministic() {
    for group in DhGroup::SUPPORTED {
        let mut rng = StdRng::seed_from_u64(u64::from(group.0));
        let a = DhPrivate::generate(group, &mut rng).unwrap();
        let b = DhPrivate::generate(group, &mut rng).unwrap();
        assert_eq!(a.group(), group);
        assert_eq!(Some(a.public_value().len()), group.public_value_len());
        let ab = a.agree(&b.public_value()).unwrap();
        let ba = b.agree(&a.public_value()).unwrap();
        assert_eq!(ab.expose(), ba.expose(), "group {}", group.0);
        let mut again = StdRng::seed_from_u64(u64::from(group.0));
        let a2 = DhPrivate::generate(group, &mut again).unwrap();
        assert_eq!(a.public_value(), a2.public_value());
        assert_ne!(a.public_value(), b.public_value());
    }
}

#[test]
fn unsupported_group_is_a_typed_error() {
    let mut rng = StdRng::seed_from_u64(1);
    assert_eq!(
        DhPrivate::generate(DhGroup(2), &mut rng).unwrap_err(),
        DhError::UnsupportedGroup(2)
    );
    assert!(!DhGroup(5).is_supported());
}

#[test]
fn wrong_length_public_values_are_rejected() {
    let mut rng = StdRng::seed_from_u64(2);
    for group in DhGroup::SUPPORTED {
        let a = DhPrivate::generate(group, &mut rng).unwrap();
        let len = group.public_value_len().unwrap();
        for bad in [0, len - 1, len + 1] {
            assert_eq!(
                a.agree(&vec![7u8; bad]).unwrap_err(),
                DhError::PublicValueLength {
                    group: group.0,
                    expected: len,
                    actual: bad
                }
            );
        }
    }
}

/// RFC 3526 group 14 prime minus one, written out independently of the library's constant.
const MODP2048_P_MINUS_1: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFE",
);

/// y = 0, 1 and p-1 would force the shared value to 0 or +-1; values of p and above are not
/// residues at all. All are refused before any exponentiation.
#[test]
fn degenerate_modp_values_are_rejected() {
    let mut rng = StdRng::seed_from_u64(3);
    let a = DhPrivate::generate(DhGroup::MODP_2048, &mut rng).unwrap();
    let mut one = vec![0u8; 256];
    one[255] = 1;
    let p_minus_1 = hex::decode(MODP2048_P_MINUS_1).unwrap();
    let mut p_minus_2 = p_minus_1.clone();
    p_minus_2[255] = 0xfd;
    for bad in [vec![0u8; 256], one, p_minus_1, vec![0xffu8; 256]] {
        assert_eq!(a.agree(&bad).unwrap_err(), DhError::PublicValueOutOfRange);
    }
    assert!(
        a.agree(&p_minus_2).is_ok(),
        "p-2 is the largest acceptable value"
    );
}

#[test]
fn ecp_point_not_on_curve_is_rejected() {
    let mut rng = StdRng::seed_from_u64(4);
    let a = DhPrivate::generate(DhGroup::ECP_256, &mut rng).unwrap();
    let mut peer = DhPrivate::generate(DhGroup::ECP_256, &mut rng)
        .unwrap()
        .public_value();
    peer[63] ^= 1; // flip a bit of y
    assert_eq!(a.agree(&peer).unwrap_err(), DhError::NotOnCurve);
    assert_eq!(a.agree(&[0u8; 64]).unwrap_err(), DhError::NotOnCurve);
}

/// A low-order Curve25519 point (u = 0, or u = 1) yields an all-zero secret; RFC 8031
/// section 2 says to abort.
#[test]
fn curve25519_low_order_points_are_rejected() {
    let mut rng = StdRng::seed_from_u64(5);
    let a = DhPrivate::generate(DhGroup::CURVE25519, &mut rng).unwrap();
    let mut u1 = [0u8; 32];
    u1[0] = 1;
    for bad in [[0u8; 32], u1] {
        assert_eq!(a.agree(&bad).unwrap_err(), DhError::DegenerateSharedSecret);
    }
}

#[test]
fn private_values_are_validated() {
    // MODP exponent 1 and 0 are refused; so are over-long ones.
    assert!(DhPrivate::from_private_bytes(DhGroup::MODP_2048, &[1]).is_err());
    assert!(DhPrivate::from_private_bytes(DhGroup::MODP_2048, &[0]).is_err());
    assert!(DhPrivate::from_private_bytes(DhGroup::MODP_2048, &[1u8; 257]).is_err());
    assert!(DhPrivate::from_private_bytes(DhGroup::MODP_2048, &[2]).is_ok());
    // ECP scalar 0 is refused; X25519 needs 32 bytes.
    assert!(DhPrivate::from_private_bytes(DhGroup::ECP_256, &[0u8; 32]).is_err());
    assert!(DhPrivate::from_private_bytes(DhGroup::CURVE25519, &[1u8; 31]).is_err());
    // Debug output never shows the private value.
    let p = DhPrivate::from_private_bytes(DhGroup::CURVE25519, &[0x5au8; 32]).unwrap();
    assert!(!format!("{p:?}").contains("5a"));
}
