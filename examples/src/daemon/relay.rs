//! `xlat-relay`: the relay daemon.

use ipsec_xlat_io::adapters::{relay_listen, RelayEndpoint};
use ipsec_xlat_io::config::RelayConfig;
use ipsec_xlat_io::setup::open_leg;
use ipsec_xlat_io::{Exit, Leg};
use rand::rngs::OsRng;

use super::{
    driver, leg_ports, log_stats, log_warnings, print_warnings, run, socket_options, DaemonArgs,
    RelayArgs,
};
use crate::exit::Failure;

/// Runs the relay with `args` until SIGINT/SIGTERM.
pub fn main(args: &DaemonArgs, relay_args: &RelayArgs) -> Result<(), Failure> {
    let config = RelayConfig::load(&args.config).map_err(|e| Failure::Config(e.to_string()))?;
    let c_listen = relay_listen(&config.c_side, "c_side").map_err(config_failure)?;
    let s_listen = relay_listen(&config.s_side.listen, "s_side").map_err(config_failure)?;

    if args.check_config {
        let (_, warnings) = RelayEndpoint::new(
            &config,
            leg_ports(&[], Leg::CSide, &c_listen),
            leg_ports(&[], Leg::SSide, &s_listen),
            &mut OsRng,
        )
        .map_err(config_failure)?;
        print_warnings(&warnings);
        println!(
            "{}: valid; c-side {:?} ports {}/{}, s-side {:?} ports {}/{}, {} identification \
             rule(s), {} authorised client(s)",
            args.config.display(),
            c_listen.addresses,
            c_listen.ike_port,
            c_listen.natt_port,
            s_listen.addresses,
            s_listen.ike_port,
            s_listen.natt_port,
            config.identification.rules().len(),
            config.authorized_clients.len()
        );
        return Ok(());
    }

    let mut ports = open_leg(Leg::CSide, &c_listen, socket_options())
        .map_err(|e| Failure::System(e.to_string()))?;
    ports.extend(
        open_leg(Leg::SSide, &s_listen, socket_options())
            .map_err(|e| Failure::System(e.to_string()))?,
    );
    let c_ports = leg_ports(&ports, Leg::CSide, &c_listen);
    let s_ports = leg_ports(&ports, Leg::SSide, &s_listen);
    let (relay, warnings) =
        RelayEndpoint::new(&config, c_ports, s_ports, &mut OsRng).map_err(config_failure)?;
    log_warnings(&warnings);
    let mut relay = match relay_args.report_every {
        Some(secs) => relay.with_report_every(std::time::Duration::from_secs(secs), super::now()),
        None => relay,
    };
    let mut driver = driver(ports)?;
    tracing::info!(
        c_side = ?c_listen.addresses,
        c_ports = %format!("{}/{}", c_ports.ike, c_ports.natt),
        s_side = ?s_listen.addresses,
        s_ports = %format!("{}/{}", s_ports.ike, s_ports.natt),
        "relay running (SIGHUP reloads authorised clients and the identification table)"
    );
    let exit = run(&mut driver, &mut relay, |relay| match relay.reload() {
        Ok(outcome) => {
            tracing::info!(
                clients_added = outcome.clients_added,
                rules = outcome.rules,
                identification_changed = outcome.identification_changed,
                sgws_added = ?outcome.sgws_added,
                sgws_removed = ?outcome.sgws_removed,
                "configuration reloaded; live sessions keep their SGW"
            );
            for line in outcome.not_applied {
                tracing::warn!("reload: {line}");
            }
        }
        Err(error) => tracing::error!(%error, "reload failed; the running configuration stays"),
    })?;
    tracing::info!("relay stopping; tables at exit:\n{}", relay.report());
    log_stats(driver.stats());
    match exit {
        Exit::Shutdown | Exit::Idle | Exit::Drained => Ok(()),
    }
}

fn config_failure(e: ipsec_xlat_io::adapters::SetupError) -> Failure {
    Failure::Config(e.to_string())
}
