//! `xlat-test-sgw`: the test gateway daemon.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ipsec_xlat_io::adapters::TestSgwEndpoint;
use ipsec_xlat_io::config::TestSgwConfig;
use ipsec_xlat_io::setup::open_leg;
use ipsec_xlat_io::Leg;
use rand::rngs::OsRng;

use super::{
    driver, leg_ports, log_stats, log_warnings, open_inner, print_warnings, run, socket_options,
    DaemonArgs, InnerArgs,
};
use crate::exit::Failure;

/// Runs the test-SGW with `args` until SIGINT/SIGTERM; with `key_log`, appends each installed
/// SA's keys to that file (see [`ipsec_xlat_io::adapters::key_log`]).
pub fn main(args: &DaemonArgs, inner: &InnerArgs, key_log: Option<&Path>) -> Result<(), Failure> {
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
    let mut ports = open_leg(Leg::SSide, &config.listen, socket_options())
        .map_err(|e| Failure::System(e.to_string()))?;
    let own = leg_ports(&ports, Leg::SSide, &config.listen);
    ports.push(open_inner(&config.tun, inner)?);
    let (mut sgw, warnings) = TestSgwEndpoint::new(&config, own, &mut OsRng)
        .map_err(|e| Failure::Config(e.to_string()))?;
    log_warnings(&warnings);
    if let Some(path) = key_log {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Failure::System(format!("cannot open key log {}: {e}", path.display())))?;
        tracing::warn!(file = %path.display(), "logging every SA's keys (test use only)");
        sgw = sgw.with_key_log(Box::new(file));
    }
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
