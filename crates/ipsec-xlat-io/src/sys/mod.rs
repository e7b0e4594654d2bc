//! Operating-system ports: UDP and raw IP sockets, and the TUN device (Linux).

mod mmsg;
mod socket;
mod tun;

pub use socket::{OsSocket, SocketOptions};
pub use tun::{TunConfig, TunPort};
