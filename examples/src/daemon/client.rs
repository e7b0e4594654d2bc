//! `xlat-client`: the client daemon.

use ipsec_xlat_io::adapters::ClientEndpoint;
use ipsec_xlat_io::config::ClientConfig;
use ipsec_xlat_io::setup::open_leg;
use ipsec_xlat_io::{Exit, Leg, Reactor};
use rand::rngs::OsRng;

use super::{
    driver, leg_ports, log_stats, log_warnings, now, open_inner, print_warnings, run,
    socket_options, ClientArgs, DaemonArgs, InnerArgs,
};
use crate::exit::Failure;

/// Runs the client with `args` until SIGINT/SIGTERM, or until IKE fails for good (exit 1).
pub fn main(args: &DaemonArgs, inner: &InnerArgs, client: &ClientArgs) -> Result<(), Failure> {
    let status_file = client.status_file.clone();
    let config = ClientConfig::load(&args.config).map_err(|e| Failure::Config(e.to_string()))?;
    if args.check_config {
        let (_, warnings) = ClientEndpoint::new(
            &config,
            leg_ports(&[], Leg::CSide, &config.local),
            now(),
            &mut OsRng,
        )
        .map_err(|e| Failure::Config(e.to_string()))?;
        print_warnings(&warnings);
        println!(
            "{}: valid; relay {} (NAT-T port {}), local {:?}, TUN {}",
            args.config.display(),
            config.relay.ike,
            config.relay.natt_port,
            config.local.addresses,
            config.tun.name
        );
        return Ok(());
    }
    let mut ports = open_leg(Leg::CSide, &config.local, socket_options())
        .map_err(|e| Failure::System(e.to_string()))?;
    let own = leg_ports(&ports, Leg::CSide, &config.local);
    ports.push(open_inner(&config.tun, inner)?);
    let (client, warnings) = ClientEndpoint::new(&config, own, now(), &mut OsRng)
        .map_err(|e| Failure::Config(e.to_string()))?;
    log_warnings(&warnings);
    let mut client = match status_file {
        Some(path) => client.with_status_file(path),
        None => client,
    };
    let mut driver = driver(ports)?;
    tracing::info!(relay = %config.relay.ike, "client running: IKE through the relay started");
    let exit = run(&mut driver, &mut client, |_| {
        tracing::info!("SIGHUP: the client has nothing to reload");
    })?;
    match exit {
        Exit::Drained => {
            log_stats(driver.stats());
            Err(Failure::Runtime(format!(
                "IKE failed: {}",
                client.failure().unwrap_or("unknown reason")
            )))
        }
        Exit::Shutdown | Exit::Idle => {
            // Tell the SGW and the relay, as `swanctl --terminate` does, then send it.
            let at = driver.reactor().now();
            client.begin_shutdown(at);
            driver.turn(&mut client);
            log_stats(driver.stats());
            tracing::info!(counters = ?client.counters(), "client stopped");
            Ok(())
        }
    }
}
