//! The TUN device (Linux, root or `CAP_NET_ADMIN`): inner IP packets between the kernel's
//! routing and the core.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::process::Command;

use ipnet::IpNet;

use crate::port::{OutDatagram, PacketPort, PortKind, RecvBatch, RxMeta};

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    /// Interface name, e.g. `xlat0`.
    pub name: String,
    /// Address and prefix of the interface (the client's inner address, the test-SGW's LAN
    /// side).
    pub address: Option<IpNet>,
    /// MTU; leave room for the outer IP, UDP and ESP headers.
    pub mtu: u16,
    /// Routes sent into the tunnel (`ip route replace NET dev NAME`).
    pub routes: Vec<IpNet>,
}

/// An open TUN device; removed by the kernel when dropped (it is not made persistent).
pub struct TunPort {
    device: tun::Device,
    name: String,
}

impl core::fmt::Debug for TunPort {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TunPort").field("name", &self.name).finish()
    }
}

impl TunPort {
    /// Create the device, set its address and MTU, bring it up and add the routes.
    pub fn open(config: &TunConfig) -> io::Result<Self> {
        let mut builder = tun::Configuration::default();
        builder.tun_name(&config.name).mtu(config.mtu).up();
        if let Some(IpNet::V4(net)) = config.address {
            builder.address(net.addr()).netmask(net.netmask());
        }
        let device = tun::create(&builder).map_err(tun_error)?;
        device.set_nonblock()?;
        let port = Self {
            device,
            name: config.name.clone(),
        };
        if let Some(IpNet::V6(net)) = config.address {
            ip(&["-6", "addr", "replace", &net.to_string(), "dev", &port.name])?;
        }
        for route in &config.routes {
            port.add_route(route)?;
        }
        Ok(port)
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Route `net` into the tunnel.
    pub fn add_route(&self, net: &IpNet) -> io::Result<()> {
        ip(&["route", "replace", &net.to_string(), "dev", &self.name])
    }
}

/// Run `ip ARGS` (iproute2), failing with its stderr.
fn ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip").args(args).output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

fn tun_error(error: tun::Error) -> io::Error {
    match error {
        tun::Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl PacketPort for TunPort {
    fn kind(&self) -> PortKind {
        PortKind::Tun
    }

    /// A TUN device has no batched read: read packets one by one until the batch is full or
    /// the device is empty.
    fn recv_batch(&mut self, batch: &mut RecvBatch) -> io::Result<usize> {
        let (slots, metas) = batch.slots_mut();
        let mut count = 0usize;
        for (slot, meta) in slots.zip(metas.iter_mut()) {
            match self.device.recv(slot) {
                Ok(len) => {
                    *meta = RxMeta {
                        len,
                        ..RxMeta::default()
                    };
                    count = count.saturating_add(1);
                }
                Err(e) if count > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(count)
    }

    fn send_batch(&mut self, datagrams: &[OutDatagram<'_>]) -> io::Result<usize> {
        let mut sent = 0usize;
        for datagram in datagrams {
            match self.device.send(datagram.bytes) {
                Ok(_) => sent = sent.saturating_add(1),
                Err(e) if sent > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    if sent == 0 {
                        return Err(e);
                    }
                    break;
                }
            }
        }
        Ok(sent)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.device.as_raw_fd())
    }
}
