//! `xlat key`: Noise static keys for the relay and its clients (X25519, 32 bytes). The relay's
//! public half goes into every client's `relay.noise_public_key`; a client's public half into
//! the relay's `authorized_clients`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use clap::Subcommand;
use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat_io::config::decode_key32;
use rand::rngs::OsRng;
use rand::RngCore as _;

/// `xlat key ...`
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Make a new private key in FILE (base64, mode 0600; FILE must not exist) and print its
    /// public half (base64).
    New {
        /// Where to write the private key.
        file: PathBuf,
    },
    /// Print the public half (base64) of the private key in FILE (base64 or 64 hex digits).
    Public {
        /// The private key file.
        file: PathBuf,
    },
}

/// Runs a `key` subcommand: 0 ok, 1 on a file or key error.
pub fn run(cmd: &KeyCommand) -> ExitCode {
    let result = match cmd {
        KeyCommand::New { file } => new_key(file),
        KeyCommand::Public { file } => public_key(file),
    };
    match result {
        Ok(public) => {
            println!("{public}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn new_key(file: &Path) -> Result<String, String> {
    let mut private = [0u8; 32];
    OsRng.fill_bytes(&mut private);
    let public = StaticKeypair::from_private_bytes(private).public();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let text = encode(&private);
    private.fill(0);
    writeln!(f, "{text}").map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(encode(&public.0))
}

fn public_key(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut private = decode_key32(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let public = StaticKeypair::from_private_bytes(private).public();
    private.fill(0);
    Ok(encode(&public.0))
}
