//! Opening one leg's ports from its [`ListenConfig`]: per address, UDP on the IKE and NAT-T
//! ports, and raw ESP/AH sockets when configured. The same plan opens OS sockets or in-memory
//! ports, so tests and the quickstart exercise the layout production uses.

use std::io;
use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use crate::config::ListenConfig;
use crate::mem::MemNetwork;
use crate::port::PacketPort;
use crate::sys::{OsSocket, SocketOptions};
use crate::{IpProtocol, Leg};

/// A port that could not be opened.
#[derive(Debug, Error)]
#[error("cannot open {what}: {source}{hint}")]
pub struct OpenError {
    /// Which port, e.g. `c-side UDP 192.0.2.1:500`.
    pub what: String,
    /// The OS error.
    #[source]
    pub source: io::Error,
    hint: &'static str,
}

impl OpenError {
    fn new(what: String, source: io::Error) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::PermissionDenied => {
                " (raw sockets and ports below 1024 need root or CAP_NET_RAW/CAP_NET_BIND_SERVICE)"
            }
            io::ErrorKind::AddrNotAvailable => {
                " (the address is not configured on this host; see `freebind`)"
            }
            io::ErrorKind::AddrInUse => " (another process, e.g. charon, holds the port)",
            _ => "",
        };
        Self { what, source, hint }
    }
}

/// One port of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSpec {
    /// UDP bound to this address and port.
    Udp(SocketAddr),
    /// Raw IP of this protocol bound to this address.
    Raw {
        /// Local address.
        local: IpAddr,
        /// ESP or AH.
        protocol: IpProtocol,
        /// `IP_HDRINCL`.
        header_included: bool,
    },
}

/// The ports a leg's configuration asks for, in a stable order: for each address, UDP IKE,
/// UDP NAT-T, raw ESP, raw AH.
pub fn plan(listen: &ListenConfig) -> Vec<PortSpec> {
    let mut specs = Vec::new();
    for &address in &listen.addresses {
        specs.push(PortSpec::Udp(SocketAddr::new(address, listen.ike_port)));
        specs.push(PortSpec::Udp(SocketAddr::new(address, listen.natt_port)));
        for (wanted, protocol) in [
            (listen.raw_esp, IpProtocol::ESP),
            (listen.raw_ah, IpProtocol::AH),
        ] {
            if wanted {
                specs.push(PortSpec::Raw {
                    local: address,
                    protocol,
                    header_included: listen.raw_header_included,
                });
            }
        }
    }
    specs
}

fn describe(leg: Leg, spec: &PortSpec) -> String {
    match spec {
        PortSpec::Udp(addr) => format!("{leg} UDP {addr}"),
        PortSpec::Raw {
            local,
            protocol,
            header_included,
        } => format!(
            "{leg} raw {protocol} on {local}{}",
            if *header_included {
                " (header included)"
            } else {
                ""
            }
        ),
    }
}

/// Open a leg's OS sockets.
pub fn open_leg(
    leg: Leg,
    listen: &ListenConfig,
    mut options: SocketOptions,
) -> Result<Vec<Box<dyn PacketPort>>, OpenError> {
    options.freebind |= listen.freebind;
    plan(listen)
        .iter()
        .map(|spec| {
            let opened = match *spec {
                PortSpec::Udp(addr) => OsSocket::udp(leg, addr, options),
                PortSpec::Raw {
                    local,
                    protocol,
                    header_included,
                } => OsSocket::raw(leg, local, protocol, header_included, options),
            };
            opened
                .map(|socket| Box::new(socket) as Box<dyn PacketPort>)
                .map_err(|e| OpenError::new(describe(leg, spec), e))
        })
        .collect()
}

/// Open a leg's ports on an in-memory network.
pub fn open_mem_leg(
    net: &MemNetwork,
    leg: Leg,
    listen: &ListenConfig,
) -> Result<Vec<Box<dyn PacketPort>>, OpenError> {
    plan(listen)
        .iter()
        .map(|spec| {
            let opened = match *spec {
                PortSpec::Udp(addr) => net.bind_udp(leg, addr),
                PortSpec::Raw {
                    local,
                    protocol,
                    header_included,
                } => net.bind_raw(leg, local, protocol, header_included),
            };
            opened
                .map(|port| Box::new(port) as Box<dyn PacketPort>)
                .map_err(|e| OpenError::new(describe(leg, spec), e))
        })
        .collect()
}
