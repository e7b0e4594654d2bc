//! SIGHUP calls the reload hook without stopping the loop; SIGTERM then stops it gracefully.
//! One test in its own binary, because signal handlers are process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::Ticker;
use ipsec_xlat_io::{Driver, DriverConfig, Exit, OsReactor, Reactor};
use signal_hook::consts::{SIGHUP, SIGTERM};

#[test]
fn sighup_reloads_and_sigterm_shuts_down() {
    let reactor = OsReactor::new().unwrap().with_signals().unwrap();
    let mut driver = Driver::new(reactor, Vec::new(), DriverConfig::default()).unwrap();
    // A slow ticker keeps the endpoint alive; it must not be what ends the loop.
    let wall = Instant::now();
    let mut ticker = Ticker::new(driver.reactor().now(), Duration::from_millis(50), 1000);
    let mut reloads = 0;
    let mut sent_term = false;
    // The handlers are in place: SIGHUP now is pending when the loop first waits; SIGTERM is
    // raised from the reload hook.
    signal_hook::low_level::raise(SIGHUP).unwrap();
    let exit = driver
        .run(&mut ticker, |ticker| {
            reloads += 1;
            assert!(
                ticker.fired.len() < 1000,
                "the endpoint is handed to the hook"
            );
            if !sent_term {
                sent_term = true;
                signal_hook::low_level::raise(SIGTERM).unwrap();
            }
        })
        .unwrap();
    assert_eq!(exit, Exit::Shutdown);
    assert_eq!(reloads, 1);
    assert_eq!(driver.stats().reloads, 1);
    assert!(wall.elapsed() < Duration::from_secs(10));
}
