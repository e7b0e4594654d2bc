//! `xlat-test-sgw`: the test gateway daemon.

use ipsec_xlat_io::adapters::TestSgwEndpoint;
use ipsec_xlat_io::config::TestSgwConfig;
use ipsec_xlat_io::setup::open_leg;
use ipsec_xlat_io::sys::SocketOptions;
use ipsec_xlat_io::Leg;
use rand::rngs::OsRng;

use super::{
    driver, leg_ports, log_stats, log_warnings, open_inner, print_warnings, run, DaemonArgs,
    InnerArgs,
};
use crate::exit::Failure;

/// Runs the test-SGW with `args` until SIGINT/SIGTERM.
pub fn main(args: &DaemonArgs, inner: &InnerArgs) -> Result<(), Failure> {
    let config = TestSgwConfig::load(&args.config).map_err(|e| Failure::Config(e.to_string()))?;
    if args.check_config {
        let (_, warnings) = TestSgwEndpoint::new(
            &config,
            leg_ports(&[], Leg::SSide, &config.listen),
            &mut OsRng,
        )
        .map_err(|e| Failure::Config(e.to_string()))?;
        print_warnings(&warnings);
        println!(
            "{}: valid; listening on {:?} ports {}/{}, LAN {:?}, TUN {}",
            args.config.display(),
            config.listen.addresses,
            config.listen.ike_port,
            config.listen.natt_port,
            config.lan,
            config.tun.name
        );
        return Ok(());
    }
    let mut ports = open_leg(Leg::SSide, &config.listen, SocketOptions::default())
        .map_err(|e| Failure::System(e.to_string()))?;
    let own = leg_ports(&ports, Leg::SSide, &config.listen);
    ports.push(open_inner(&config.tun, inner)?);
    let (mut sgw, warnings) = TestSgwEndpoint::new(&config, own, &mut OsRng)
        .map_err(|e| Failure::Config(e.to_string()))?;
    log_warnings(&warnings);
    let mut driver = driver(ports)?;
    tracing::info!(
        listen = ?config.listen.addresses,
        ports = %format!("{}/{}", own.ike, own.natt),
        "test-SGW running"
    );
    run(&mut driver, &mut sgw, |_| {
        tracing::info!("SIGHUP: the test-SGW has nothing to reload");
    })?;
    log_stats(driver.stats());
    tracing::info!(counters = ?sgw.counters(), "test-SGW stopped");
    Ok(())
}
