//! Batched receive and send on real UDP sockets (no root): `recvmmsg` takes a whole queue in
//! one call and reports each sender; `sendmmsg` sends a batch in one call; the one-at-a-time
//! fallback gives the same packets; truncation is reported, not hidden.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::time::Duration;

use ipsec_xlat_io::sys::{OsSocket, SocketOptions};
use ipsec_xlat_io::{Leg, OutDatagram, PacketPort, RecvBatch};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn bound(batching: bool) -> OsSocket {
    OsSocket::udp(
        Leg::CSide,
        (LOCALHOST, 0).into(),
        SocketOptions {
            batching,
            ..SocketOptions::default()
        },
    )
    .unwrap()
}

/// Wait (bounded) until `socket` has something, by polling with a short sleep.
fn recv_some(socket: &mut OsSocket, batch: &mut RecvBatch) -> usize {
    for _ in 0..500 {
        match socket.recv_batch(batch) {
            Ok(n) => return n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("nothing arrived within a second");
}

#[test]
fn recvmmsg_takes_a_queue_in_one_call() {
    let mut rx = bound(true);
    let to = rx.local_addr().unwrap();
    let senders: Vec<UdpSocket> = (0..3)
        .map(|_| UdpSocket::bind((LOCALHOST, 0)).unwrap())
        .collect();
    for i in 0..12u8 {
        senders[usize::from(i % 3)].send_to(&[i; 3], to).unwrap();
    }
    let mut batch = RecvBatch::new(32, 1500);
    let mut got = Vec::new();
    let mut calls = 0;
    while got.len() < 12 {
        let n = recv_some(&mut rx, &mut batch);
        calls += 1;
        for i in 0..n {
            let (meta, bytes) = batch.get(i).unwrap();
            got.push((*meta, bytes.to_vec()));
        }
    }
    assert_eq!(calls, 1, "all 12 queued datagrams in one recvmmsg");
    for (i, (meta, bytes)) in got.iter().enumerate() {
        assert_eq!(bytes, &vec![i as u8; 3]);
        let sender = senders[i % 3].local_addr().unwrap();
        assert_eq!(meta.remote, Some(sender.ip()));
        assert_eq!(meta.remote_port, sender.port());
        assert_eq!(
            meta.local,
            Some(LOCALHOST),
            "IP_PKTINFO gives the destination"
        );
        assert!(!meta.truncated);
    }
    assert!(
        rx.recv_batch(&mut batch).is_err(),
        "queue drained: WouldBlock"
    );
}

#[test]
fn fallback_receives_one_per_call_with_the_same_content() {
    let mut rx = bound(false);
    let to = rx.local_addr().unwrap();
    let tx = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    for i in 0..5u8 {
        tx.send_to(&[i], to).unwrap();
    }
    let mut batch = RecvBatch::new(32, 1500);
    for i in 0..5u8 {
        assert_eq!(recv_some(&mut rx, &mut batch), 1);
        let (meta, bytes) = batch.get(0).unwrap();
        assert_eq!(bytes, &[i]);
        assert_eq!(meta.remote_port, tx.local_addr().unwrap().port());
    }
}

#[test]
fn sendmmsg_and_fallback_send_whole_batches_in_order() {
    for batching in [true, false] {
        let mut tx = bound(batching);
        let mut rx = bound(true);
        let to = rx.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; usize::from(i) + 1]).collect();
        let datagrams: Vec<OutDatagram<'_>> = payloads
            .iter()
            .map(|p| OutDatagram {
                bytes: p,
                remote: to.ip(),
                remote_port: to.port(),
            })
            .collect();
        let mut sent = 0;
        let mut calls = 0;
        while sent < datagrams.len() {
            sent += tx.send_batch(&datagrams[sent..]).unwrap();
            calls += 1;
        }
        if batching {
            assert_eq!(calls, 1, "one sendmmsg for the batch");
        } else {
            assert_eq!(calls, 20, "one sendto per packet");
        }
        let mut batch = RecvBatch::new(32, 1500);
        let mut got = Vec::new();
        while got.len() < 20 {
            let n = recv_some(&mut rx, &mut batch);
            for i in 0..n {
                got.push(batch.get(i).unwrap().1.to_vec());
            }
        }
        assert_eq!(got, payloads);
    }
}

#[test]
fn oversize_datagrams_are_reported_truncated() {
    for batching in [true, false] {
        let mut rx = bound(batching);
        let to = rx.local_addr().unwrap();
        let tx = UdpSocket::bind((LOCALHOST, 0)).unwrap();
        tx.send_to(&[7u8; 300], to).unwrap();
        let mut batch = RecvBatch::new(4, 100);
        assert_eq!(recv_some(&mut rx, &mut batch), 1);
        let (meta, bytes) = batch.get(0).unwrap();
        assert!(meta.truncated, "batching={batching}");
        assert!(bytes.len() <= 100);
    }
}

#[test]
fn ipv6_loopback_works_when_the_host_has_it() {
    let addr = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let Ok(mut rx) = OsSocket::udp(Leg::SSide, (addr, 0).into(), SocketOptions::default()) else {
        eprintln!("SKIP ipv6_loopback_works_when_the_host_has_it: no IPv6 loopback on this host");
        return;
    };
    let to = rx.local_addr().unwrap();
    let mut tx = OsSocket::udp(Leg::SSide, (addr, 0).into(), SocketOptions::default()).unwrap();
    let one = OutDatagram {
        bytes: b"v6",
        remote: to.ip(),
        remote_port: to.port(),
    };
    assert_eq!(tx.send_batch(&[one, one]).unwrap(), 2);
    let mut batch = RecvBatch::new(4, 100);
    let mut n = 0;
    while n < 2 {
        n += recv_some(&mut rx, &mut batch);
    }
    let (meta, bytes) = batch.get(0).unwrap();
    assert_eq!(bytes, b"v6");
    assert_eq!(meta.local, Some(addr));
    assert_eq!(meta.remote_port, tx.local_addr().unwrap().port());
}
