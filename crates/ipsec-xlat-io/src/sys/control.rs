//! The control socket of a running daemon (the client's): a Unix **datagram** socket, one
//! request per datagram and one reply per request, as `swanctl` talks to charon (`--initiate`,
//! `--terminate`, `--list-sas`), so scripts and the `xlat ctl` tool steer the daemon.
//!
//! Why datagrams: a request and its reply are each one message, so the event loop reads a
//! whole command with one non-blocking `recv` and never holds a half-read connection; a
//! reply that must wait (`initiate` answers once the SA is up) is sent later to the
//! requester's address. The requester therefore binds its own socket (a file in the
//! temporary directory, see [`Requester`]); an unbound requester gets no reply.
//!
//! Protocol (text, UTF-8):
//! - request: one command word, optionally followed by a newline: `status`, `initiate`,
//!   `terminate`, `rekey`.
//! - reply: first line `ok` or `error <reason>`; then lines of the form
//!   `<word> key=value key=value ...` (see [`ControlReply`]), which `awk`/`grep` and
//!   [`ControlReply::parse`] read back.
//!
//! The socket file is created with mode 0600 (only the daemon's user may steer it), replaces
//! a stale file left by a daemon that died (but never a live one's, nor a non-socket file),
//! and is removed when the [`ControlSocket`] is dropped.
//!
//! The daemon's endpoint implements [`Controllable`]: the socket only moves requests and
//! replies; what a command does is the endpoint's business (which calls the core).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipsec_xlat::Timestamp;

/// Largest request read; longer ones are refused (commands are single words).
const MAX_REQUEST: usize = 256;

/// Largest reply a requester reads.
pub const MAX_REPLY: usize = 65_536;

/// Requests waiting for their outcome at most (further ones are refused as busy).
const MAX_WAITING: usize = 32;

/// A command to the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCommand {
    /// Report the IKE SA, the child SAs and the counters (immediate reply).
    Status,
    /// Establish the IKE SA and a child SA if there are none; the reply waits until the
    /// child SA is installed or the attempt failed.
    Initiate,
    /// Delete the child SAs and the IKE SA toward the SGW (immediate reply once the DELETEs
    /// are queued); the daemon keeps running, idle, until the next `initiate`.
    Terminate,
    /// Start a new quick mode under the IKE SA now; the reply waits until the new child SA
    /// is installed or the attempt failed.
    Rekey,
}

impl ControlCommand {
    /// Every command, in the order the help lists them.
    pub const ALL: [Self; 4] = [Self::Status, Self::Initiate, Self::Terminate, Self::Rekey];

    /// The command word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Initiate => "initiate",
            Self::Terminate => "terminate",
            Self::Rekey => "rekey",
        }
    }

    /// Parses a request datagram: one command word, surrounding whitespace ignored.
    pub fn parse(request: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(request)
            .map_err(|_| "the request is not UTF-8 text".to_string())?
            .trim();
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| {
                let shown: String = text.chars().take(40).collect();
                format!("unknown command {shown:?} (status, initiate, terminate, rekey)")
            })
    }
}

/// A reply: success or failure, and `word key=value ...` lines.
///
/// Text form: `ok` or `error <reason>` on the first line, then one line per entry. Keys and
/// values carry no spaces (values are numbers, hex SPIs, state words, or suite names with
/// spaces replaced by `_`), so a line splits on whitespace and then on the first `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlReply {
    /// `None`: success; `Some(reason)`: the command failed.
    pub error: Option<String>,
    /// The entries, in order.
    pub lines: Vec<ReplyLine>,
}

/// One `word key=value ...` line of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLine {
    /// What the line describes (`state`, `ike`, `child`, `counters`...).
    pub word: String,
    /// Its fields, in order.
    pub fields: Vec<(String, String)>,
}

impl ReplyLine {
    /// A line with `word` and no fields yet.
    pub fn new(word: &str) -> Self {
        Self {
            word: word.to_string(),
            fields: Vec::new(),
        }
    }

    /// Adds `key=value`; in `value`, `", "` becomes `","` and other spaces `_` (a line
    /// splits on whitespace): `ESP aes128gcm16, UDP-encapsulated` reads
    /// `ESP_aes128gcm16,UDP-encapsulated`.
    pub fn field(mut self, key: &str, value: impl ToString) -> Self {
        let value = value
            .to_string()
            .replace(", ", ",")
            .replace(char::is_whitespace, "_");
        self.fields.push((key.to_string(), value));
        self
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl ControlReply {
    /// Success with `lines`.
    pub fn ok(lines: Vec<ReplyLine>) -> Self {
        Self { error: None, lines }
    }

    /// Failure with `reason` (one line: newlines become spaces).
    pub fn error(reason: impl ToString) -> Self {
        Self {
            error: Some(reason.to_string().replace('\n', " ")),
            lines: Vec::new(),
        }
    }

    /// Whether the command succeeded.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// The first line about `word`.
    pub fn line(&self, word: &str) -> Option<&ReplyLine> {
        self.lines.iter().find(|l| l.word == word)
    }

    /// Every line about `word`.
    pub fn all<'a>(&'a self, word: &'a str) -> impl Iterator<Item = &'a ReplyLine> + 'a {
        self.lines.iter().filter(move |l| l.word == word)
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut text = match &self.error {
            None => "ok\n".to_string(),
            Some(reason) => format!("error {reason}\n"),
        };
        for line in &self.lines {
            text.push_str(&line.word);
            for (k, v) in &line.fields {
                text.push(' ');
                text.push_str(k);
                text.push('=');
                text.push_str(v);
            }
            text.push('\n');
        }
        text
    }

    /// Reads the text form back; `None` if the first line is neither `ok` nor `error ...`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        let first = lines.next()?.trim_end();
        let error = if first == "ok" {
            None
        } else {
            let reason = first.strip_prefix("error")?;
            Some(reason.trim().to_string())
        };
        let lines = lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut words = l.split_whitespace();
                let word = words.next().unwrap_or_default().to_string();
                let fields = words
                    .map(|w| match w.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (w.to_string(), String::new()),
                    })
                    .collect();
                ReplyLine { word, fields }
            })
            .collect();
        Some(Self { error, lines })
    }
}

/// What a command produced: a reply now, or a ticket to ask about again later.
#[derive(Debug)]
pub enum ControlAnswer<T> {
    /// Send this reply now.
    Now(ControlReply),
    /// The outcome is not known yet: [`Controllable::resolve`] the ticket after each turn.
    Later(T),
}

/// An endpoint that a control socket can steer.
pub trait Controllable {
    /// What the endpoint needs to recognise a waiting command's outcome.
    type Ticket;

    /// Carry out `command` (queueing whatever it sends for the driver to transmit).
    fn control(&mut self, now: Timestamp, command: ControlCommand) -> ControlAnswer<Self::Ticket>;

    /// The reply for a waiting command once its outcome is known, `None` while it is not.
    fn resolve(&mut self, now: Timestamp, ticket: &Self::Ticket) -> Option<ControlReply>;
}

/// The daemon's end of the control socket (see the module documentation).
#[derive(Debug)]
pub struct ControlSocket<T> {
    socket: UnixDatagram,
    path: PathBuf,
    /// Device and inode of our socket file, so that drop removes only ours.
    file_id: (u64, u64),
    waiting: Vec<(T, UnixAddr)>,
    counters: ControlCounters,
}

/// What the control socket did and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControlCounters {
    /// Requests received (valid or not).
    pub requests: u64,
    /// Requests refused: not a command, too long, or too many waiting.
    pub refused: u64,
    /// Requests from an unbound socket: carried out, but no reply can be sent.
    pub unanswerable: u64,
    /// Replies the kernel did not take (the requester went away or its buffer was full).
    pub reply_errors: u64,
}

impl<T> ControlSocket<T> {
    /// Creates the socket at `path` with mode 0600. A socket file nobody listens on (a
    /// daemon that died) is replaced; a live one, or a file that is not a socket, is an
    /// error (`AddrInUse`, `AlreadyExists`).
    pub fn bind(path: &Path) -> io::Result<Self> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                let probe = UnixDatagram::unbound()?;
                if probe.connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{}: another daemon listens there", path.display()),
                    ));
                }
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: exists and is not a socket", path.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Bind under a temporary name, restrict it, then rename it into place: the socket is
        // never reachable at `path` with wider permissions, and a stale file is replaced in
        // one step.
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("control");
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let socket = UnixDatagram::bind(&tmp)?;
        let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        socket.set_nonblocking(true)?;
        let meta = std::fs::symlink_metadata(path)?;
        Ok(Self {
            socket,
            path: path.to_path_buf(),
            file_id: (meta.dev(), meta.ino()),
            waiting: Vec::new(),
            counters: ControlCounters::default(),
        })
    }

    /// Where the socket is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptor for the event loop to wait on.
    pub fn raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// The counters.
    pub fn counters(&self) -> ControlCounters {
        self.counters
    }

    /// Commands waiting for their outcome.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// [`receive_requests`](Self::receive_requests), then
    /// [`resolve_waiting`](Self::resolve_waiting).
    pub fn service<E: Controllable<Ticket = T>>(&mut self, now: Timestamp, endpoint: &mut E) {
        self.receive_requests(now, endpoint);
        self.resolve_waiting(now, endpoint);
    }

    /// Reads every pending request (non-blocking, until none is left: readiness is
    /// edge-triggered) and carries it out on `endpoint`, replying at once or keeping the
    /// requester waiting. The driver calls this when the socket is readable; the command's
    /// transmits leave in the turn that follows.
    pub fn receive_requests<E: Controllable<Ticket = T>>(
        &mut self,
        now: Timestamp,
        endpoint: &mut E,
    ) {
        let mut buf = [0u8; MAX_REQUEST];
        loop {
            let (len, from) = match self.socket.recv_from(&mut buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::debug!(%error, "control socket receive failed");
                    break;
                }
            };
            self.counters.requests = self.counters.requests.saturating_add(1);
            let answerable = from.as_pathname().is_some() || from.as_abstract_name().is_some();
            if !answerable {
                self.counters.unanswerable = self.counters.unanswerable.saturating_add(1);
            }
            let request = buf.get(..len).unwrap_or_default();
            let command = if len >= MAX_REQUEST {
                Err("request too long".to_string())
            } else {
                ControlCommand::parse(request)
            };
            let command = match command {
                Ok(command) => command,
                Err(reason) => {
                    self.counters.refused = self.counters.refused.saturating_add(1);
                    self.reply(&from, &ControlReply::error(reason));
                    continue;
                }
            };
            if command != ControlCommand::Status && self.waiting.len() >= MAX_WAITING {
                self.counters.refused = self.counters.refused.saturating_add(1);
                self.reply(
                    &from,
                    &ControlReply::error("busy: too many commands waiting"),
                );
                continue;
            }
            tracing::info!(command = command.as_str(), "control command");
            match endpoint.control(now, command) {
                ControlAnswer::Now(reply) => self.reply(&from, &reply),
                ControlAnswer::Later(ticket) => self.waiting.push((ticket, from)),
            }
        }
    }

    /// Replies to the waiting requests whose outcome is now known. The driver calls this
    /// after every turn, so an outcome the turn brought is answered at once.
    pub fn resolve_waiting<E: Controllable<Ticket = T>>(
        &mut self,
        now: Timestamp,
        endpoint: &mut E,
    ) {
        let mut i = 0;
        while let Some((ticket, _)) = self.waiting.get(i) {
            match endpoint.resolve(now, ticket) {
                Some(reply) => {
                    let (_, from) = self.waiting.swap_remove(i);
                    self.reply(&from, &reply);
                }
                None => i = i.saturating_add(1),
            }
        }
    }

    fn reply(&mut self, to: &UnixAddr, reply: &ControlReply) {
        let text = reply.to_text();
        let sent = if let Some(path) = to.as_pathname() {
            self.socket.send_to(text.as_bytes(), path)
        } else if to.as_abstract_name().is_some() {
            self.socket.send_to_addr(text.as_bytes(), to)
        } else {
            return;
        };
        if let Err(error) = sent {
            self.counters.reply_errors = self.counters.reply_errors.saturating_add(1);
            tracing::debug!(%error, "control reply not delivered");
        }
    }
}

impl<T> Drop for ControlSocket<T> {
    fn drop(&mut self) {
        // Only our own file: a daemon started since may have replaced it.
        let ours = std::fs::symlink_metadata(&self.path)
            .map(|m| (m.dev(), m.ino()) == self.file_id)
            .unwrap_or(false);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Sends `command` to the control socket at `path` and waits up to `timeout` for the reply
/// (the `xlat ctl` tool's side). Binds a socket of its own for the reply (see [`Requester`]).
pub fn request(
    path: &Path,
    command: ControlCommand,
    timeout: Duration,
) -> io::Result<ControlReply> {
    let requester = Requester::bind()?;
    let socket = &requester.socket;
    socket.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    socket.connect(path)?;
    socket.send(command.as_str().as_bytes())?;
    let mut buf = vec![0u8; MAX_REPLY];
    let len = match socket.recv(&mut buf) {
        Ok(len) => len,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no reply to {} within {:.1} s",
                    command.as_str(),
                    timeout.as_secs_f64()
                ),
            ))
        }
        Err(e) => return Err(e),
    };
    let text = String::from_utf8_lossy(buf.get(..len).unwrap_or_default());
    ControlReply::parse(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a control reply: {text:?}"),
        )
    })
}

/// The requester's own socket, where the reply comes back.
///
/// It is bound to a file in the temporary directory, not to an abstract address: abstract
/// Unix addresses belong to a network namespace, and a daemon run in another one (the lab's
/// client namespace, a container) could not answer there, while a socket file is reachable
/// from any namespace that sees the file system. Mode 0666, so that a daemon running as
/// another user can answer; the socket is connected to the daemon before anything is read,
/// and a connected Unix datagram socket takes datagrams from its peer only. The file is
/// removed on drop. Falls back to an abstract address when no file can be made.
#[derive(Debug)]
pub struct Requester {
    /// The socket.
    pub socket: UnixDatagram,
    path: Option<PathBuf>,
}

impl Requester {
    /// A fresh requester socket (`xlat-ctl.<pid>.<n>` in the temporary directory).
    pub fn bind() -> io::Result<Self> {
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir();
        for n in 0..16u32 {
            let path = dir.join(format!("xlat-ctl.{pid}.{}", nanos.wrapping_add(n)));
            match UnixDatagram::bind(&path) {
                Ok(socket) => {
                    let requester = Self {
                        socket,
                        path: Some(path),
                    };
                    if let Some(path) = &requester.path {
                        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
                    }
                    return Ok(requester);
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(_) => break,
            }
        }
        let name = format!("xlat-ctl.{pid}.{nanos}");
        let addr = UnixAddr::from_abstract_name(name.as_bytes())?;
        Ok(Self {
            socket: UnixDatagram::bind_addr(&addr)?,
            path: None,
        })
    }
}

impl Drop for Requester {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_print() {
        for c in ControlCommand::ALL {
            assert_eq!(ControlCommand::parse(c.as_str().as_bytes()), Ok(c));
        }
        assert_eq!(
            ControlCommand::parse(b" rekey\n"),
            Ok(ControlCommand::Rekey)
        );
        assert!(ControlCommand::parse(b"reboot").is_err());
        assert!(ControlCommand::parse(b"\xff").is_err());
        assert!(ControlCommand::parse(b"").is_err());
    }

    #[test]
    fn replies_round_trip_through_text() {
        let reply = ControlReply::ok(vec![
            ReplyLine::new("state").field("phase1", "established"),
            ReplyLine::new("child")
                .field("s_in", "c0ffee01")
                .field("suite", "ESP aes128gcm16, UDP-encapsulated"),
        ]);
        let text = reply.to_text();
        assert_eq!(
            text,
            "ok\nstate phase1=established\nchild s_in=c0ffee01 suite=ESP_aes128gcm16,UDP-encapsulated\n"
        );
        let back = ControlReply::parse(&text).unwrap();
        assert_eq!(back, reply);
        assert_eq!(back.line("child").unwrap().get("s_in"), Some("c0ffee01"));
        let error = ControlReply::error("not ready\nat all");
        assert_eq!(error.to_text(), "error not ready at all\n");
        assert_eq!(
            ControlReply::parse(&error.to_text())
                .unwrap()
                .error
                .as_deref(),
            Some("not ready at all")
        );
        assert!(ControlReply::parse("hello").is_none());
    }

    /// Answers `status` at once and `initiate` after two services.
    struct Fake {
        calls: u32,
    }

    impl Controllable for Fake {
        type Ticket = u32;
        fn control(&mut self, _: Timestamp, command: ControlCommand) -> ControlAnswer<u32> {
            match command {
                ControlCommand::Initiate => ControlAnswer::Later(self.calls + 2),
                other => ControlAnswer::Now(ControlReply::ok(vec![
                    ReplyLine::new("did").field("command", other.as_str())
                ])),
            }
        }
        fn resolve(&mut self, _: Timestamp, ticket: &u32) -> Option<ControlReply> {
            self.calls += 1;
            (self.calls >= *ticket).then(|| ControlReply::ok(vec![ReplyLine::new("up")]))
        }
    }

    #[test]
    fn the_socket_is_private_replaces_stale_files_and_answers_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl");
        // A stale socket file (its owner is gone) is replaced.
        drop(UnixDatagram::bind(&path).unwrap());
        assert!(path.exists());
        let mut socket = ControlSocket::<u32>::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A live one is not.
        let second = ControlSocket::<u32>::bind(&path).unwrap_err();
        assert_eq!(second.kind(), io::ErrorKind::AddrInUse);

        let mut fake = Fake { calls: 0 };
        let requester = Requester::bind().unwrap();
        let asker = &requester.socket;
        asker.connect(&path).unwrap();
        asker.send(b"status").unwrap();
        asker.send(b"initiate").unwrap();
        asker.send(b"bogus").unwrap();
        socket.service(Timestamp::ZERO, &mut fake);
        let mut buf = [0u8; 512];
        let mut next = || {
            let n = asker.recv(&mut buf).unwrap();
            ControlReply::parse(std::str::from_utf8(&buf[..n]).unwrap()).unwrap()
        };
        let status = next();
        assert_eq!(status.line("did").unwrap().get("command"), Some("status"));
        assert!(next().error.unwrap().contains("unknown command"));
        assert_eq!(socket.waiting(), 1, "initiate waits");
        socket.service(Timestamp::ZERO, &mut fake);
        assert_eq!(socket.waiting(), 0);
        assert!(next().line("up").is_some());
        assert_eq!(socket.counters().requests, 3);
        assert_eq!(socket.counters().refused, 1);

        drop(socket);
        assert!(!path.exists(), "removed at exit");
        // The requester's own socket file goes too.
        let own = requester
            .path
            .clone()
            .expect("a socket file in the temporary directory");
        assert!(own.exists());
        drop(requester);
        assert!(!own.exists());
        // Not a socket: left alone.
        std::fs::write(&path, "data").unwrap();
        let err = ControlSocket::<u32>::bind(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
    }

    #[test]
    fn a_request_without_a_daemon_fails_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let err = request(
            &dir.path().join("none"),
            ControlCommand::Status,
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
