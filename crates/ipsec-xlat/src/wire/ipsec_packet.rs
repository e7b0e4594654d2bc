//! Between socket forms and whole IP packets.
//!
//! The core's SA processing works on whole IP packets (outer header first), because AH's ICV
//! covers that header. Sockets deliver less: a UDP socket gives the payload (ESP-in-UDP is the
//! ESP header onward), an IPv6 raw socket the bytes after the IPv6 header, and only an IPv4 raw
//! socket the whole packet. These helpers put the missing header back on receive, from the
//! addresses the kernel reported, and take it off on send where the kernel writes its own.
//! For ESP no header byte matters to the ICV; for AH over IPv6 the fields the ICV covers
//! (payload length, next header, addresses) all follow from the socket's view.

use core::net::IpAddr;

use super::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use super::ipv6::{Ipv6Packet, Ipv6Repr};
use super::IpProtocol;

/// Writes `src → dst` IP header of `protocol` followed by `payload` into `out` (cleared
/// first). `None` when the addresses are of different families or the packet is too long.
pub(crate) fn wrap(
    src: IpAddr,
    dst: IpAddr,
    protocol: IpProtocol,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Option<()> {
    out.clear();
    match (src.to_canonical(), dst.to_canonical()) {
        (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => {
            let repr = Ipv4Repr {
                src_addr,
                dst_addr,
                protocol,
                payload_len: payload.len(),
                ttl: 64,
                tos: 0,
                ident: 0,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                options: Ipv4Options::EMPTY,
            };
            out.resize(repr.header_len(), 0);
            repr.emit(out).ok()?;
        }
        (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => {
            let repr = Ipv6Repr {
                src_addr,
                dst_addr,
                next_header: protocol,
                payload_len: payload.len(),
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
            };
            out.resize(repr.header_len(), 0);
            repr.emit(out).ok()?;
        }
        _ => return None,
    }
    out.extend_from_slice(payload);
    Some(())
}

/// Where the IPsec part of a whole IP packet starts (after the IPv4 header with options, or
/// the IPv6 header and extension headers, and after a UDP header for ESP-in-UDP), its
/// protocol (ESP or AH), and the packet's length by its own header.
pub(crate) fn ipsec_part(packet: &[u8]) -> Option<(usize, IpProtocol, usize)> {
    let (offset, protocol, len) = match packet.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(packet).ok()?;
            (ip.header_len(), ip.protocol(), usize::from(ip.total_len()))
        }
        6 => {
            let ip = Ipv6Packet::new_checked(packet).ok()?;
            let upper = ip.upper_layer().ok()?;
            (upper.offset, upper.protocol, ip.total_len())
        }
        _ => return None,
    };
    if protocol == IpProtocol::UDP {
        return Some((
            offset.checked_add(super::udp::HEADER_LEN)?,
            IpProtocol::ESP,
            len,
        ));
    }
    Some((offset, protocol, len))
}

/// The SPI of the outermost IPsec header of a whole IP packet (AH's in an AH+ESP bundle):
/// what an inbound SA is looked up by.
pub(crate) fn outer_spi(packet: &[u8]) -> Option<u32> {
    let (start, protocol, _) = ipsec_part(packet)?;
    let at = if protocol == IpProtocol::AH {
        start.checked_add(4)?
    } else {
        start
    };
    let bytes: [u8; 4] = packet.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// The inner packet's source and destination addresses (IPv4 or IPv6 header), for routing
/// decisions on decrypted or to-be-encrypted traffic.
pub(crate) fn inner_addresses(packet: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match packet.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(packet).ok()?;
            Some((ip.src_addr().into(), ip.dst_addr().into()))
        }
        6 => {
            let ip = Ipv6Packet::new_checked(packet).ok()?;
            Some((ip.src_addr().into(), ip.dst_addr().into()))
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn wrap_then_find_the_ipsec_part() {
        let esp = [0u8, 0, 1, 0, 0, 0, 0, 1, 0xaa, 0xbb];
        let mut out = Vec::new();
        for (src, dst) in [
            ("192.0.2.1", "198.51.100.1"),
            ("2001:db8::1", "2001:db8::2"),
        ] {
            let (src, dst): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            wrap(src, dst, IpProtocol::ESP, &esp, &mut out).unwrap();
            let (start, protocol, len) = ipsec_part(&out).unwrap();
            assert_eq!(protocol, IpProtocol::ESP);
            assert_eq!(&out[start..len], &esp);
            assert_eq!(inner_addresses(&out).unwrap(), (src, dst));
            assert_eq!(outer_spi(&out), Some(0x100));
        }
        assert!(wrap(
            "192.0.2.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
            IpProtocol::ESP,
            &esp,
            &mut out
        )
        .is_none());
        assert!(ipsec_part(&[]).is_none());
        assert!(ipsec_part(&[0x45, 0, 0]).is_none());
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let mut out = Vec::new();
        wrap(
            "::ffff:192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            IpProtocol::AH,
            &[1, 2, 3, 4],
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0] >> 4, 4);
    }
}
