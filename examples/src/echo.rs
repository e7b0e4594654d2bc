//! ICMP echo traffic with checked payloads, for the quickstart and the binaries' tests: a
//! pinger on the client's inner side and a responder playing the host on the SGW's LAN, both
//! on Unix datagram sockets that stand in for TUN devices.
//!
//! Each request carries a payload derived from its sequence number, so a packet that arrives
//! corrupted, truncated, duplicated or out of place is told apart from one that arrived
//! intact; both IPv4 and ICMP checksums are verified.

use std::collections::BTreeSet;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipsec_xlat::wire::checksum::checksum;
use ipsec_xlat::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use ipsec_xlat::wire::IpProtocol;

/// ICMP identifier of our echoes ("xq").
pub const ICMP_ID: u16 = 0x7871;
/// Bytes of payload per echo.
pub const PAYLOAD_LEN: usize = 56;
const ICMP_HEADER_LEN: usize = 8;
const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

/// The payload of echo `seq`: a marker and bytes that depend on `seq`.
pub fn payload(seq: u16) -> [u8; PAYLOAD_LEN] {
    let mut p = [0u8; PAYLOAD_LEN];
    let marker = b"ipsec-xlat";
    let [hi, lo] = seq.to_be_bytes();
    for (i, b) in p.iter_mut().enumerate() {
        *b = match marker.get(i) {
            Some(m) => *m,
            None => (i as u8).wrapping_mul(31) ^ hi ^ lo.rotate_left(3),
        };
    }
    p
}

fn packet(src: Ipv4Addr, dst: Ipv4Addr, kind: u8, seq: u16, body: &[u8]) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(ICMP_HEADER_LEN + body.len());
    icmp.extend_from_slice(&[kind, 0, 0, 0]);
    icmp.extend_from_slice(&ICMP_ID.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(body);
    let sum = checksum(&icmp).to_be_bytes();
    icmp[2] = sum[0];
    icmp[3] = sum[1];
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol(1),
        payload_len: icmp.len(),
        ttl: 64,
        tos: 0,
        ident: seq,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: Ipv4Options::EMPTY,
    };
    let mut out = vec![0u8; repr.header_len()];
    // A 20-byte header and a short payload always fit.
    let _ = repr.emit(&mut out);
    out.extend_from_slice(&icmp);
    out
}

/// Echo request `seq` from `src` to `dst`.
pub fn request(src: Ipv4Addr, dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    packet(src, dst, ECHO_REQUEST, seq, &payload(seq))
}

/// An echo of ours, checked: (source, destination, type, sequence number).
fn parse(bytes: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, u16)> {
    let ip = Ipv4Packet::new_checked(bytes).ok()?;
    if !ip.verify_checksum() || ip.protocol() != IpProtocol(1) {
        return None;
    }
    let icmp = ip.payload();
    if icmp.len() != ICMP_HEADER_LEN + PAYLOAD_LEN || checksum(icmp) != 0 {
        return None;
    }
    let kind = *icmp.first()?;
    let id = u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]);
    let seq = u16::from_be_bytes([*icmp.get(6)?, *icmp.get(7)?]);
    if id != ICMP_ID || icmp.get(ICMP_HEADER_LEN..)? != payload(seq) {
        return None;
    }
    Some((ip.src_addr(), ip.dst_addr(), kind, seq))
}

/// The reply to a valid request, or `None` for anything else.
pub fn reply_to(bytes: &[u8]) -> Option<(u16, Vec<u8>)> {
    let (src, dst, kind, seq) = parse(bytes)?;
    (kind == ECHO_REQUEST).then(|| (seq, packet(dst, src, ECHO_REPLY, seq, &payload(seq))))
}

/// The sequence number of a valid reply from `from` to `to`.
pub fn check_reply(bytes: &[u8], from: Ipv4Addr, to: Ipv4Addr) -> Option<u16> {
    let (src, dst, kind, seq) = parse(bytes)?;
    (kind == ECHO_REPLY && src == from && dst == to).then_some(seq)
}

/// What the responder saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// Distinct requests that arrived intact (and were answered).
    pub requests: BTreeSet<u16>,
    /// Packets that were not an intact request of ours.
    pub bad: u64,
}

/// Plays the LAN host: answers every intact echo request read from `lan` until `stop` is set.
pub fn serve(lan: &UnixDatagram, stop: &AtomicBool) -> io::Result<Served> {
    lan.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut served = Served::default();
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) {
        let len = match lan.recv(&mut buf) {
            Ok(len) => len,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        match buf.get(..len).and_then(reply_to) {
            Some((seq, reply)) => {
                served.requests.insert(seq);
                lan.send(&reply)?;
            }
            None => served.bad = served.bad.saturating_add(1),
        }
    }
    Ok(served)
}

/// Starts [`serve`] on a thread; set the returned flag to stop it.
pub fn spawn_responder(
    lan: UnixDatagram,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<io::Result<Served>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let handle = std::thread::spawn(move || serve(&lan, &flag));
    (stop, handle)
}

/// What the pinger saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pinged {
    /// Requests sent.
    pub sent: u16,
    /// Distinct replies that arrived intact.
    pub replies: BTreeSet<u16>,
    /// Packets that were not an intact reply of ours.
    pub bad: u64,
}

/// Sends `count` echo requests from `src` to `dst` through `inner`, at most `window`
/// unanswered at a time (Unix datagram queues are short), and collects the replies. Gives up
/// on a window after `patience` without progress, and on the whole run after `deadline`.
pub fn ping(
    inner: &UnixDatagram,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    count: u16,
    window: u16,
    patience: Duration,
    deadline: Duration,
) -> io::Result<Pinged> {
    inner.set_read_timeout(Some(Duration::from_millis(20)))?;
    let start = Instant::now();
    let mut out = Pinged::default();
    let mut buf = vec![0u8; 65_536];
    let mut next: u16 = 0;
    let mut last_progress = Instant::now();
    let window = window.max(1);
    while (out.replies.len() as u64) < u64::from(count) && start.elapsed() < deadline {
        let answered = out.replies.len() as u64;
        // Keep the window full: requests sent minus replies seen.
        while next < count && u64::from(next).saturating_sub(answered) < u64::from(window) {
            inner.send(&request(src, dst, next))?;
            next = next.saturating_add(1);
            out.sent = next;
        }
        match inner.recv(&mut buf) {
            Ok(len) => match buf.get(..len).and_then(|p| check_reply(p, dst, src)) {
                Some(seq) if seq < count => {
                    if out.replies.insert(seq) {
                        last_progress = Instant::now();
                    }
                }
                _ => out.bad = out.bad.saturating_add(1),
            },
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if last_progress.elapsed() > patience {
                    // A lost packet stalls the window: count it lost and move on.
                    if next >= count {
                        break;
                    }
                    last_progress = Instant::now();
                    let burst = request(src, dst, next);
                    inner.send(&burst)?;
                    next = next.saturating_add(1);
                    out.sent = next;
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

    #[test]
    fn request_reply_round_trip_and_corruption_is_caught() {
        let req = request(A, B, 7);
        let (seq, reply) = reply_to(&req).unwrap();
        assert_eq!(seq, 7);
        assert_eq!(check_reply(&reply, B, A), Some(7));
        assert_eq!(check_reply(&reply, A, B), None, "direction is checked");
        assert!(reply_to(&reply).is_none(), "a reply is not a request");
        for i in 0..req.len() {
            let mut bad = req.clone();
            bad[i] ^= 0x10;
            assert!(reply_to(&bad).is_none(), "flipping byte {i} went unnoticed");
        }
        assert!(reply_to(&req[..req.len() - 1]).is_none());
    }

    #[test]
    fn ping_and_serve_over_a_pair() {
        let (client, lan) = UnixDatagram::pair().unwrap();
        let (stop, responder) = spawn_responder(lan);
        let pinged = ping(
            &client,
            A,
            B,
            50,
            4,
            Duration::from_secs(1),
            Duration::from_secs(10),
        )
        .unwrap();
        stop.store(true, Ordering::SeqCst);
        let served = responder.join().unwrap().unwrap();
        assert_eq!(pinged.replies.len(), 50);
        assert_eq!(served.requests.len(), 50);
        assert_eq!((pinged.bad, served.bad), (0, 0));
    }
}
