//! `xlat-client`: the client daemon.
//!
//! It keeps the tunnel up (`[session]`): the IKE SA is replaced by a new main mode through
//! the relay before its lifetime ends (reauthentication), and without a control socket a
//! tunnel the SGW deleted, or an attempt that failed with a retryable error, is started over
//! with exponential backoff. With a control socket a lost tunnel waits for `initiate`.

use ipsec_xlat_io::adapters::{ClientEndpoint, ClientTicket};
use ipsec_xlat_io::config::ClientConfig;
use ipsec_xlat_io::setup::open_leg;
use ipsec_xlat_io::sys::control::ControlSocket;
use ipsec_xlat_io::{Exit, Leg, Reactor};
use rand::rngs::OsRng;

use super::{
    driver, leg_ports, log_stats, log_warnings, now, open_inner, print_warnings, run,
    socket_options, ClientArgs, DaemonArgs, InnerArgs,
};
use crate::exit::Failure;

/// Runs the client with `args` until SIGINT/SIGTERM, or until IKE fails for good (exit 1: a
/// failure that starting over cannot fix, such as a refused proposal or authentication, or
/// any loss with `session.restart = false`; with a control socket a failure leaves it
/// waiting for the next `initiate`).
pub fn main(args: &DaemonArgs, inner: &InnerArgs, client: &ClientArgs) -> Result<(), Failure> {
    let status_file = client.status_file.clone();
    let mut config =
        ClientConfig::load(&args.config).map_err(|e| Failure::Config(e.to_string()))?;
    if let Some(path) = &client.control {
        config.control.socket = Some(path.clone());
    }
    if client.no_initiate {
        config.control.initiate = false;
    }
    if !config.control.initiate && config.control.socket.is_none() {
        return Err(Failure::Config(
            "--no-initiate needs a control socket (--control PATH or control.socket) to be \
             told when to initiate"
                .into(),
        ));
    }
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
        println!("{}", describe_session(&config));
        if let Some(path) = &config.control.socket {
            println!(
                "control socket {}; {}",
                path.display(),
                if config.control.initiate {
                    "initiates at start"
                } else {
                    "starts idle until `initiate`"
                }
            );
        }
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
    let mut control = match &config.control.socket {
        Some(path) => Some(ControlSocket::<ClientTicket>::bind(path).map_err(|e| {
            Failure::System(format!(
                "cannot create control socket {}: {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    if config.control.initiate {
        tracing::info!(relay = %config.relay.ike, "client running: IKE through the relay started");
    } else {
        tracing::info!(relay = %config.relay.ike, "client running: idle until `initiate`");
    }
    tracing::info!(session = %describe_session(&config), "keeping the tunnel up");
    let on_reload = |_: &mut ClientEndpoint| {
        tracing::info!("SIGHUP: the client has nothing to reload");
    };
    let exit = match control.as_mut() {
        Some(control) => {
            tracing::info!(socket = %control.path().display(), "control socket ready");
            client = client.controlled();
            driver
                .run_with_control(&mut client, on_reload, control)
                .map_err(|e| Failure::Runtime(format!("event loop failed: {e}")))?
        }
        None => run(&mut driver, &mut client, on_reload)?,
    };
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
            // Removes the control socket's file.
            drop(control);
            Ok(())
        }
    }
}

/// The `[session]` settings in words, for `--check-config` and the start-up log.
fn describe_session(config: &ClientConfig) -> String {
    let s = &config.session;
    let reauth = match (s.reauth, s.reauth_margin_secs) {
        (false, _) => "no reauthentication (the SGW ends the tunnel with the IKE SA)".to_string(),
        (true, Some(margin)) => format!(
            "reauthentication {margin} s (plus jitter) before the {} s IKE lifetime ends",
            config.lifetimes.ike_seconds
        ),
        (true, None) => format!(
            "reauthentication 10 % (plus jitter) before the {} s IKE lifetime ends",
            config.lifetimes.ike_seconds
        ),
    };
    let restart = if !s.restart {
        "no restart after a loss".to_string()
    } else if config.control.socket.is_some() {
        "restart after a loss: by `initiate` on the control socket".to_string()
    } else {
        format!(
            "restart after a loss: backoff 1 s doubling to {} s",
            s.restart_max_backoff_secs
        )
    };
    format!("{reauth}; {restart}")
}
