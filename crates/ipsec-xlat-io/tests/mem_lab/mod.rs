//! What the tests running client, relay and test-SGW on the in-memory network share: each
//! daemon's ports and endpoint built from its configuration as the daemons build them, a
//! port recording the IKE exchanges the SGW receives, and the inner packets sent through the
//! tunnel. Each test file is its own crate and uses only part of this, hence `dead_code`
//! allowed.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat::wire::ipv4::{Ipv4Options, Ipv4Repr};
use ipsec_xlat::wire::IpProtocol;
use ipsec_xlat_io::adapters::{
    leg_port_pair, relay_listen, ClientEndpoint, RelayEndpoint, TestSgwEndpoint,
};
use ipsec_xlat_io::config::{ClientConfig, RelayConfig, TestSgwConfig};
use ipsec_xlat_io::mem::{MemNetwork, MemTun};
use ipsec_xlat_io::setup::open_mem_leg;
use ipsec_xlat_io::{
    Driver, DriverConfig, Leg, MemReactor, OutDatagram, PacketPort, PortKind, RecvBatch,
};
use rand::rngs::StdRng;

/// ISAKMP exchange type of an informational exchange (DELETEs travel in one).
pub const INFORMATIONAL: u8 = 5;

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The configurations of the in-memory lab on IPv4 documentation addresses, standard ports,
/// no NAT between relay and SGW: the relay authorises the client key `[authorised_key; 32]`
/// (the client's is `[9; 32]`); `sgw_extra` and `client_extra` are TOML sections appended
/// to the test-SGW's and the client's file.
pub fn ipv4_configs(
    dir: &Path,
    authorised_key: u8,
    sgw_extra: &str,
    client_extra: &str,
) -> (ClientConfig, RelayConfig, TestSgwConfig) {
    write(dir, "relay.key", &hex::encode([7u8; 32]));
    write(dir, "client.key", &hex::encode([9u8; 32]));
    write(dir, "psk", "in-memory-psk");
    let relay_pub = hex::encode(StaticKeypair::from_private_bytes([7; 32]).public().0);
    let client_pub = hex::encode(
        StaticKeypair::from_private_bytes([authorised_key; 32])
            .public()
            .0,
    );
    let sgw = write(
        dir,
        "sgw.toml",
        &format!(
            "lan = [\"10.9.0.0/24\"]\n[listen]\naddresses = [\"203.0.113.1\"]\nraw_esp = true\n\
             raw_header_included = true\n[auth]\npsk_file = \"psk\"\n[proposals]\n\
             ike = [\"aes128-sha256-modp2048\"]\nesp = [\"aes128gcm16\"]\n[tun]\nname = \"s\"\n\
             routes = [\"10.8.0.1/32\"]\n{sgw_extra}"
        ),
    );
    let relay = write(
        dir,
        "relay.toml",
        &format!(
            "noise_private_key_file = \"relay.key\"\n[c_side]\naddresses = [\"198.51.100.1\"]\n\
             [s_side]\naddress = \"203.0.113.254\"\nraw_esp = true\n\
             [[authorized_clients]]\nname = \"c\"\npublic_key = \"{client_pub}\"\n\
             [[identification]]\nid_type = \"user_fqdn\"\nid = \"*@example.com\"\n\
             sgw = \"203.0.113.1\"\n"
        ),
    );
    let client = write(
        dir,
        "client.toml",
        &format!(
            "noise_private_key_file = \"client.key\"\n[identity]\ntype = \"user_fqdn\"\n\
             value = \"bob@example.com\"\n[relay]\naddress = \"198.51.100.1\"\n\
             noise_public_key = \"{relay_pub}\"\n[local]\naddresses = [\"198.51.100.10\"]\n\
             [auth]\npsk_file = \"psk\"\n[proposals]\nike = [\"aes128-sha256-modp2048\"]\n\
             esp = [\"aes128gcm16\"]\n[traffic_selectors]\nlocal = [\"10.8.0.1/32\"]\n\
             remote = [\"10.9.0.0/24\"]\n[tun]\nname = \"c\"\n{client_extra}"
        ),
    );
    (
        ClientConfig::load(&client).unwrap(),
        RelayConfig::load(&relay).unwrap(),
        TestSgwConfig::load(&sgw).unwrap(),
    )
}

pub fn driver(net: &MemNetwork, ports: Vec<Box<dyn PacketPort>>) -> Driver<MemReactor> {
    Driver::new(MemReactor::new(net.clone()), ports, DriverConfig::default()).unwrap()
}

/// The test-SGW's ports (each wrapped in a [`Recording`] into `exchanges`, if given, TUN
/// last), endpoint and TUN.
pub fn test_sgw_parts(
    net: &MemNetwork,
    config: &TestSgwConfig,
    rng: &mut StdRng,
    exchanges: Option<&Arc<Mutex<Vec<u8>>>>,
) -> (Vec<Box<dyn PacketPort>>, TestSgwEndpoint, MemTun) {
    let mut ports: Vec<Box<dyn PacketPort>> = open_mem_leg(net, Leg::SSide, &config.listen)
        .unwrap()
        .into_iter()
        .map(|inner| match exchanges {
            Some(exchanges) => Box::new(Recording {
                inner,
                exchanges: Arc::clone(exchanges),
            }) as Box<dyn PacketPort>,
            None => inner,
        })
        .collect();
    let own = leg_port_pair(&ports, Leg::SSide).unwrap();
    let (tun_port, tun) = net.tun();
    ports.push(Box::new(tun_port));
    let (sgw, _) = TestSgwEndpoint::new(config, own, rng).unwrap();
    (ports, sgw, tun)
}

/// The relay's ports (c-side, then s-side) and endpoint.
pub fn relay_parts(
    net: &MemNetwork,
    config: &RelayConfig,
    rng: &mut StdRng,
) -> (Vec<Box<dyn PacketPort>>, RelayEndpoint) {
    let c_listen = relay_listen(&config.c_side, "c_side").unwrap();
    let s_listen = relay_listen(&config.s_side.listen, "s_side").unwrap();
    let mut ports = open_mem_leg(net, Leg::CSide, &c_listen).unwrap();
    ports.extend(open_mem_leg(net, Leg::SSide, &s_listen).unwrap());
    let (relay, _) = RelayEndpoint::new(
        config,
        leg_port_pair(&ports, Leg::CSide).unwrap(),
        leg_port_pair(&ports, Leg::SSide).unwrap(),
        rng,
    )
    .unwrap();
    (ports, relay)
}

/// The client's ports (TUN last), endpoint and TUN.
pub fn client_parts(
    net: &MemNetwork,
    config: &ClientConfig,
    rng: &mut StdRng,
) -> (Vec<Box<dyn PacketPort>>, ClientEndpoint, MemTun) {
    let mut ports = open_mem_leg(net, Leg::CSide, &config.local).unwrap();
    let own = leg_port_pair(&ports, Leg::CSide).unwrap();
    let (tun_port, tun) = net.tun();
    ports.push(Box::new(tun_port));
    let (client, _) = ClientEndpoint::new(config, own, net.now(), rng).unwrap();
    (ports, client, tun)
}

/// A port that records the exchange type of every IKE message it receives (the SGW's view
/// of what came through the relay).
pub struct Recording {
    pub inner: Box<dyn PacketPort>,
    pub exchanges: Arc<Mutex<Vec<u8>>>,
}

impl PacketPort for Recording {
    fn kind(&self) -> PortKind {
        self.inner.kind()
    }

    fn recv_batch(&mut self, batch: &mut RecvBatch) -> io::Result<usize> {
        let n = self.inner.recv_batch(batch)?;
        let udp = matches!(
            self.inner.kind(),
            PortKind::Net {
                transport: ipsec_xlat_io::PortTransport::Udp { .. },
                ..
            }
        );
        for i in 0..n {
            let (_, bytes) = batch.get(i).unwrap();
            // On 4500, IKE follows a zero non-ESP marker; ESP-in-UDP does not.
            let ike = match bytes {
                [0, 0, 0, 0, rest @ ..] => Some(rest),
                _ if udp && bytes.len() >= 28 => Some(bytes),
                _ => None,
            };
            if let Some(ike) = ike.filter(|m| m.len() >= 28) {
                self.exchanges.lock().unwrap().push(ike[18]);
            }
        }
        Ok(n)
    }

    fn send_batch(&mut self, datagrams: &[OutDatagram<'_>]) -> io::Result<usize> {
        self.inner.send_batch(datagrams)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        None
    }

    fn is_readable_now(&self) -> bool {
        self.inner.is_readable_now()
    }
}

/// An IPv4 packet `src` -> `dst` of an unassigned protocol (253) with 64 bytes of payload
/// that depend on `seq` (also the IP identification).
pub fn inner_v4(src: &str, dst: &str, seq: u16) -> Vec<u8> {
    let body: Vec<u8> = (0..64).map(|i| (i as u8) ^ (seq as u8)).collect();
    let repr = Ipv4Repr {
        src_addr: src.parse().unwrap(),
        dst_addr: dst.parse().unwrap(),
        protocol: IpProtocol(253),
        payload_len: body.len(),
        ttl: 64,
        tos: 0,
        ident: seq,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: Ipv4Options::EMPTY,
    };
    let mut p = vec![0; 20];
    repr.emit(&mut p).unwrap();
    p.extend_from_slice(&body);
    p
}
