//! Logs to stderr through `tracing`: `-v` for more, `-vv` for everything; `RUST_LOG`, when
//! set, overrides (e.g. `RUST_LOG=ipsec_xlat_io=trace`).

use tracing_subscriber::EnvFilter;

/// Installs the subscriber. `base` is the level with no `-v` (daemons: 1 = info; the xlat
/// tool: 0 = warnings only, so that its report stays readable); each `-v` adds one level.
pub fn init(base: u8, verbose: u8) {
    let level = match base.saturating_add(verbose) {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // A second init (tests calling twice) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a terminal only: logs in files (the lab's, the tests') stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
