//! Operating-system ports: UDP and raw IP sockets, the TUN device (Linux), and a Unix datagram
//! socket that stands in for a TUN device where there is no root (tests, the quickstart); and
//! the client daemon's control socket.

pub mod control;
mod mmsg;
mod socket;
mod tun;
mod unix_tun;

pub use socket::{OsSocket, SocketOptions};
pub use tun::{TunConfig, TunPort};
pub use unix_tun::UnixTunPort;
