//! Embedding ipsec-xlat: a client, a relay and a gateway built from the core crate alone (no
//! I/O crate, no sockets, no threads), joined by the core's simulated network on a virtual
//! clock. The client runs IKEv1 main mode and quick mode with the gateway *through* the relay,
//! then 1,000 inner packets go each way through the tunnel, each checked byte for byte.
//!
//! ```sh
//! cargo run -p ipsec-xlat --example embed
//! ```
//!
//! A product embeds the roles the same way: build each from its settings (here the complete
//! minimal ones of `ipsec_xlat::testing::lab`; read them to see every field), hand it
//! datagrams (`Endpoint::handle_datagram`) and timeouts, send what `poll_transmit` writes
//! into your buffer, and read `poll_event` for what happened. Here `testing::Network` plays
//! the sockets, the TUN devices and the clock.
//!
//! Exits 0 and prints `PASS` only if every packet arrived intact.

use core::time::Duration;
use std::process::ExitCode;

use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat::testing::lab::{
    client_settings, gateway_settings, inner_packet, relay_settings, CLIENT, INNER_CLIENT,
    INNER_LAN, RELAY_C, RELAY_S, SGW,
};
use ipsec_xlat::testing::{Network, NodeId, RunLimit, RunOutcome};
use ipsec_xlat::{Client, ClientEvent, Gateway, GatewayEvent, Leg, Relay, RelayEvent};
use rand::rngs::StdRng;
use rand::SeedableRng;

const PACKETS: u32 = 1_000;

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!(
                "PASS: IKE and IPsec SAs through the relay; {PACKETS} packets each way, all intact."
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("FAIL: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    // Randomness comes in from the caller; a fixed seed makes this run repeatable.
    let mut rng = StdRng::seed_from_u64(2026);
    let relay_key = StaticKeypair::generate(&mut rng);
    let client_key = StaticKeypair::generate(&mut rng);

    // The three roles, each from its settings; nothing here opens a socket.
    let mut net = Network::new(Duration::from_millis(5));
    let client = Client::new(
        client_settings(client_key.clone(), &relay_key),
        net.now(),
        &mut rng,
    )
    .map_err(|e| format!("client: {e}"))?;
    let relay = Relay::new(relay_settings(relay_key, &client_key), &mut rng);
    let gateway = Gateway::new(gateway_settings(), &mut rng);
    let client = net.add_node("client", client, &[(Leg::CSide, CLIENT)]);
    let relay = net.add_node(
        "relay",
        relay,
        &[(Leg::CSide, RELAY_C), (Leg::SSide, RELAY_S)],
    );
    let gateway = net.add_node("gateway", gateway, &[(Leg::SSide, SGW)]);

    // 1. IKE: main mode and quick mode, client -> relay -> gateway and back.
    let limit = RunLimit::for_duration(net.now(), Duration::from_secs(60));
    let outcome = net.run_until(limit, |net| {
        net.node::<Client>(client)
            .is_some_and(Client::is_established)
    });
    report_events(&mut net, client, relay, gateway);
    if outcome != RunOutcome::Done {
        return Err(format!(
            "no IPsec SA after 60 s of virtual time ({outcome:?})"
        ));
    }
    println!("[ok] IPsec SA up after {} of virtual time", net.now());

    // 2. Traffic: the client sends first (the gateway learns where its LAN's answers go),
    //    then the LAN host answers each packet.
    let mut to_lan = Vec::new();
    let mut to_client = Vec::new();
    for n in 0..PACKETS {
        let up = inner_packet(INNER_CLIENT, INNER_LAN, n);
        net.send_inner(client, &up);
        to_lan.push(up);
        net.run_for(Duration::from_millis(20));
        let down = inner_packet(INNER_LAN, INNER_CLIENT, n);
        net.send_inner(gateway, &down);
        to_client.push(down);
        net.run_for(Duration::from_millis(20));
    }
    let at_lan = net.take_inner(gateway);
    let at_client = net.take_inner(client);
    report_events(&mut net, client, relay, gateway);
    let up_ok = check("client -> LAN host", &to_lan, &at_lan);
    let down_ok = check("LAN host -> client", &to_client, &at_client);

    let relay_counters = net
        .node::<Relay>(relay)
        .map(Relay::counters)
        .ok_or("the relay node is not a Relay")?;
    println!(
        "relay: {} IKE datagrams, {} ESP packets forwarded by SPI rewrite, {} entry installed",
        relay_counters.ike_datagrams,
        relay_counters.ipsec_packets,
        relay_counters.entries_installed
    );
    let stats = net.stats();
    println!(
        "network: {} datagrams sent, {} delivered, {} undeliverable; virtual time {}",
        stats.sent,
        stats.delivered,
        stats.undeliverable,
        net.now()
    );
    if up_ok && down_ok {
        Ok(())
    } else {
        Err("packets lost or changed".into())
    }
}

/// Prints the milestones each role reported since the last call.
fn report_events(net: &mut Network, client: NodeId, relay: NodeId, gateway: NodeId) {
    if let Some(c) = net.node_mut::<Client>(client) {
        while let Some(event) = c.poll_event() {
            match event {
                ClientEvent::Phase1Established { cookies, .. } => println!(
                    "[ok] client: IKE SA with the gateway through the relay (cookies the gateway sees {}:{})",
                    hex(&cookies.initiator),
                    hex(&cookies.responder)
                ),
                ClientEvent::ChildInstalled { summary, .. } => println!(
                    "[ok] client: IPsec SA {}: s-side SPIs in {} / out {}; c-side SPIs in {} / out {}",
                    summary.suite,
                    spi(summary.inbound.esp),
                    spi(summary.outbound.esp),
                    spi(summary.c_side.and_then(|(c_in, _)| c_in.esp)),
                    spi(summary.c_side.and_then(|(_, c_out)| c_out.esp)),
                ),
                _ => {}
            }
        }
    }
    if let Some(r) = net.node_mut::<Relay>(relay) {
        while let Some(event) = r.poll_event() {
            match event {
                RelayEvent::IkeEntryComplete(e) => println!(
                    "[ok] relay: IKE entry, client {} <-> s-side {} -> gateway {}",
                    e.client, e.relay_s, e.sgw
                ),
                RelayEvent::IpsecInstalled { translation: t, .. } => println!(
                    "[ok] relay: IPsec entry, relay receives c-side {} / s-side {}, no key held",
                    spi(t.c_spi_2.esp),
                    spi(t.s_spi_2.esp)
                ),
                _ => {}
            }
        }
    }
    if let Some(g) = net.node_mut::<Gateway>(gateway) {
        while let Some(event) = g.poll_event() {
            if let GatewayEvent::Phase1Established { peer, .. } = event {
                println!(
                    "[ok] gateway: main mode with {peer} (the relay's s-side, not the client)"
                );
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn spi(spi: Option<u32>) -> String {
    spi.map_or_else(|| "-".into(), |s| format!("{s:08x}"))
}

/// Whether `received` is exactly `sent`, in order; prints the verdict.
fn check(what: &str, sent: &[Vec<u8>], received: &[Vec<u8>]) -> bool {
    let good = received.iter().zip(sent).filter(|(r, s)| r == s).count();
    let intact = received.len() == sent.len() && good == sent.len();
    let mark = if intact { "ok" } else { "FAIL" };
    println!(
        "[{mark}] {good}/{} packets {what} arrived intact ({} arrived)",
        sent.len(),
        received.len()
    );
    intact
}
