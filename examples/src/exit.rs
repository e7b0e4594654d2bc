//! Exit codes of every ipsec-xlat binary, so that scripts and service managers can tell a
//! typo in a configuration from a missing capability from a failed negotiation.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success (a daemon stopped by SIGINT/SIGTERM; a check or quickstart that passed) |
//! | 1 | runtime failure (IKE failed, packets lost in the quickstart, the I/O loop broke) |
//! | 2 | usage: bad command-line arguments (clap's own exit code) |
//! | 3 | configuration invalid, or asks for something not supported |
//! | 4 | permission or system resource: a socket, raw socket or TUN device could not be opened |

use std::fmt;
use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// Runtime failure.
pub const RUNTIME: u8 = 1;
/// Command-line usage error (clap exits with it by itself).
pub const USAGE: u8 = 2;
/// Invalid or unsupported configuration.
pub const CONFIG: u8 = 3;
/// Sockets or TUN could not be opened (permission, address in use, no such address).
pub const SYSTEM: u8 = 4;

/// The exit-code table for `--help` texts.
pub const TABLE: &str = "Exit status: 0 ok (stopped by SIGINT/SIGTERM, or check passed), \
1 runtime failure, 2 usage error, 3 configuration invalid or unsupported, \
4 sockets or TUN could not be opened (permission, address in use).";

/// Why a binary stops with an error.
#[derive(Debug)]
pub enum Failure {
    /// Exit 3.
    Config(String),
    /// Exit 4.
    System(String),
    /// Exit 1.
    Runtime(String),
}

impl Failure {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Self::Config(_) => CONFIG,
            Self::System(_) => SYSTEM,
            Self::Runtime(_) => RUNTIME,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m) => write!(f, "configuration: {m}"),
            Self::System(m) => write!(f, "{m}"),
            Self::Runtime(m) => write!(f, "{m}"),
        }
    }
}

/// Prints a failure to stderr and turns the outcome into the process's exit code.
pub fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(OK),
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.code())
        }
    }
}
