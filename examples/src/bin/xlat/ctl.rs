//! `xlat ctl`: steers a running `xlat-client` through its control socket (`--control PATH`),
//! as `swanctl --initiate/--terminate/--list-sas` steers charon. The protocol is in
//! `ipsec_xlat_io::sys::control`: one command per datagram, a line-oriented reply.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use ipsec_xlat_io::sys::control::{request, ControlCommand};

/// `xlat ctl ...`
#[derive(Args, Debug)]
pub struct CtlArgs {
    /// The client's control socket (xlat-client --control PATH, or control.socket).
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,

    /// Give up waiting for the reply after SECS seconds (initiate and rekey answer once the
    /// child SA is installed; the client's own IKE retransmissions give up after about 60 s).
    #[arg(long, value_name = "SECS", default_value_t = 90.0)]
    pub timeout: f64,

    /// What to do.
    #[arg(value_enum)]
    pub command: CtlCommand,
}

/// The commands.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum CtlCommand {
    /// Print the IKE phase, the IKE SA, every child SA (s-side and c-side SPIs, counters) and
    /// the datapath and IKE drop counters.
    Status,
    /// Establish the IKE SA and a child SA if there are none; returns once the child SA is
    /// installed (exit 0) or the attempt failed (exit 1).
    Initiate,
    /// DELETE the child SAs and the IKE SA toward the SGW (through the relay); the client
    /// stays running, idle.
    Terminate,
    /// Start a new quick mode now; returns once the new child SA is installed.
    Rekey,
}

impl From<CtlCommand> for ControlCommand {
    fn from(c: CtlCommand) -> Self {
        match c {
            CtlCommand::Status => Self::Status,
            CtlCommand::Initiate => Self::Initiate,
            CtlCommand::Terminate => Self::Terminate,
            CtlCommand::Rekey => Self::Rekey,
        }
    }
}

/// Sends the command; prints the reply's lines (after `ok`) on stdout. Exit 0 when the
/// client carried the command out, 1 when it refused or failed (the reason on stderr), 4 when
/// the socket cannot be reached or no reply came in time.
pub fn run(args: &CtlArgs) -> ExitCode {
    let command = ControlCommand::from(args.command);
    let timeout = if args.timeout.is_finite() && args.timeout > 0.0 {
        Duration::from_secs_f64(args.timeout.min(86_400.0))
    } else {
        eprintln!("xlat ctl: --timeout must be a positive number of seconds");
        return ExitCode::from(2);
    };
    let reply = match request(&args.socket, command, timeout) {
        Ok(reply) => reply,
        Err(e) => {
            eprintln!(
                "xlat ctl: {} {}: {e}",
                args.socket.display(),
                command.as_str()
            );
            return ExitCode::from(4);
        }
    };
    let text = reply.to_text();
    for line in text.lines().skip(1) {
        println!("{line}");
    }
    match &reply.error {
        None => ExitCode::SUCCESS,
        Some(reason) => {
            eprintln!("xlat ctl: {}: {reason}", command.as_str());
            ExitCode::from(1)
        }
    }
}
