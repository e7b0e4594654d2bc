//! The relay's report: both translation tables and every counter, for people (the
//! quickstart's output, the daemon's log at exit and with `--report-every`).

use core::fmt::{self, Write as _};

use ipsec_xlat::ike::phase2::BundleSpis;
use ipsec_xlat::relay::{LegTransport, Spi, SpiSet};
use ipsec_xlat::Leg;

use super::RelayEndpoint;

impl RelayEndpoint {
    /// A human-readable report of both tables and every counter (quickstart, shutdown log).
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = self.write_report(&mut out);
        out
    }

    fn write_report(&self, out: &mut String) -> fmt::Result {
        let snap = self.relay.snapshot();
        writeln!(out, "IKE translation entries: {}", snap.ike_entries.len())?;
        for e in snap.ike_entries {
            writeln!(
                out,
                "  user {:<24} c-side {} <-> {} cookies {}",
                String::from_utf8_lossy(&e.user.value),
                e.client,
                e.relay_c,
                cookies_hex(e.c_cookies.initiator, e.c_cookies.responder)
            )?;
            writeln!(
                out,
                "  {:<29} s-side {} <-> {} cookies {}",
                "",
                e.relay_s,
                e.sgw,
                cookies_hex(e.s_cookies.initiator, e.s_cookies.responder)
            )?;
        }
        let table = snap.table;
        writeln!(out, "IPsec translation entries: {}", table.len())?;
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(id, _, _)| *id);
        for (id, entry, activity) in entries {
            writeln!(out, "  entry {}", id.0)?;
            for (name, part) in [("c-side", &entry.client), ("s-side", &entry.gateway)] {
                writeln!(
                    out,
                    "    {name}: relay {} <-> peer {} via {}; relay receives SPI {}, peer receives SPI {}",
                    part.path.relay_addr,
                    part.path.peer_addr,
                    transport_name(part.path.transport),
                    spi_set_name(part.relay_spis),
                    spi_set_name(part.peer_spis),
                )?;
            }
            writeln!(
                out,
                "    traffic: client->SGW {} packets / {} bytes, SGW->client {} packets / {} bytes",
                activity.to_gateway.packets,
                activity.to_gateway.bytes,
                activity.to_client.packets,
                activity.to_client.bytes
            )?;
        }
        let dp = snap.datapath;
        writeln!(
            out,
            "Datapath: forwarded to SGW {}, to client {}, dropped {}",
            dp.forwarded(Leg::SSide),
            dp.forwarded(Leg::CSide),
            dp.dropped_total()
        )?;
        for (reason, n) in dp.iter_dropped().filter(|(_, n)| *n > 0) {
            writeln!(out, "  dropped {reason}: {n}")?;
        }
        let ike = snap.ike;
        writeln!(
            out,
            "IKE relay: forwarded {}, duplicates answered {}, dropped: malformed {}, unknown cookies {}, \
             tail missing {}, tail rejected {}, unauthorised {}, no SGW {}, pool exhausted {}, \
             tail content {}; surrogate addresses held {}",
            ike.forwarded,
            ike.duplicates,
            ike.malformed,
            ike.unknown_cookies,
            ike.tail_missing,
            ike.tail_rejected,
            ike.unauthorised,
            ike.no_sgw,
            ike.pool_exhausted,
            ike.tail_content,
            snap.surrogates_held
        )?;
        let c = snap.counters;
        writeln!(
            out,
            "Adapter: IKE datagrams {}, IPsec packets {}, keepalives {}, ignored {}, entries installed {} / refused {} / expired {}, transmit queue drops {}",
            c.ike_datagrams,
            c.ipsec_packets,
            c.keepalives,
            c.ignored,
            c.entries_installed,
            c.entries_refused,
            c.entries_expired,
            snap.tx_dropped
        )
    }
}

pub(crate) fn spis(spis: BundleSpis) -> String {
    match (spis.ah, spis.esp) {
        (Some(ah), Some(esp)) => format!("ah {ah:#010x} esp {esp:#010x}"),
        (Some(ah), None) => format!("ah {ah:#010x}"),
        (None, Some(esp)) => format!("esp {esp:#010x}"),
        (None, None) => "none".into(),
    }
}

fn spi_set_name(set: SpiSet) -> String {
    spis(BundleSpis {
        esp: set.esp.map(Spi::get),
        ah: set.ah.map(Spi::get),
    })
}

fn transport_name(t: LegTransport) -> String {
    match t {
        LegTransport::Ip => "raw IP".into(),
        LegTransport::Udp {
            relay_port,
            peer_port,
        } => format!("UDP {relay_port} <-> {peer_port}"),
    }
}

pub(crate) fn cookies_hex(initiator: [u8; 8], responder: [u8; 8]) -> String {
    let mut s = String::with_capacity(33);
    for b in initiator {
        let _ = write!(s, "{b:02x}");
    }
    s.push(':');
    for b in responder {
        let _ = write!(s, "{b:02x}");
    }
    s
}
