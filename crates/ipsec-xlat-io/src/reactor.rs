//! Waiting: until a port is readable, a deadline passes, or a signal or shutdown request
//! arrives. [`OsReactor`] waits with epoll (mio) and the real clock; [`MemReactor`] waits on
//! the in-memory network and jumps its virtual clock to the deadline instead of sleeping.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipsec_xlat::Timestamp;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::mem::MemNetwork;
use crate::port::PacketPort;

/// Why a wait ended (several may hold at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wake {
    /// SIGINT, SIGTERM or a [`ShutdownHandle`] asked the loop to stop.
    pub shutdown: bool,
    /// SIGHUP: reload what can be reloaded without dropping sessions.
    pub reload: bool,
    /// Nothing can ever happen again (in-memory network empty and no deadline).
    pub idle: bool,
}

/// Asks a running driver to stop, from any thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    flag: Arc<AtomicBool>,
    waker: Option<Arc<Waker>>,
}

impl ShutdownHandle {
    /// Request shutdown and wake the loop.
    pub fn shutdown(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Some(waker) = &self.waker {
            if let Err(error) = waker.wake() {
                tracing::warn!(%error, "cannot wake the I/O loop for shutdown");
            }
        }
    }

    /// Whether shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// A clock and a way to wait, as the [`crate::Driver`] needs them.
pub trait Reactor {
    /// The current time on this reactor's clock, passed to the endpoint.
    fn now(&self) -> Timestamp;

    /// Watch port `index` for readability (called once per port, before the first wait).
    fn register(&mut self, index: usize, port: &dyn PacketPort) -> io::Result<()>;

    /// Watch a descriptor that is not a port (a control socket) for readability; when it
    /// is readable, [`wait`](Self::wait) reports `index` in `ready` like a port's. Reactors
    /// without OS readiness need not support it.
    fn register_fd(&mut self, _index: usize, _fd: RawFd) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this reactor cannot wait on file descriptors",
        ))
    }

    /// Wait until a port may be readable, `deadline` passes, or a control event arrives.
    /// `immediate` asks for a non-blocking check (some port still had data). The indices of
    /// ports that became readable are appended to `ready` (duplicates allowed), so that the
    /// driver reads only those, not every socket of a large address pool.
    fn wait(
        &mut self,
        ports: &[Box<dyn PacketPort>],
        deadline: Option<Timestamp>,
        immediate: bool,
        ready: &mut Vec<usize>,
    ) -> io::Result<Wake>;

    /// A handle that stops the loop from elsewhere.
    fn shutdown_handle(&self) -> ShutdownHandle;
}

const WAKER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);

/// epoll via mio, the real clock, and optionally SIGINT/SIGTERM/SIGHUP.
pub struct OsReactor {
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    flag: Arc<AtomicBool>,
    signals: Option<Signals>,
    /// The instant [`Timestamp::ZERO`] stands for: the reactor's creation.
    origin: Instant,
}

impl core::fmt::Debug for OsReactor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OsReactor")
            .field("signals", &self.signals.is_some())
            .finish_non_exhaustive()
    }
}

impl OsReactor {
    /// A reactor without signal handling (tests, embedding).
    pub fn new() -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Self {
            poll,
            events: Events::with_capacity(256),
            waker,
            flag: Arc::new(AtomicBool::new(false)),
            signals: None,
            origin: Instant::now(),
        })
    }

    /// Also handle SIGINT and SIGTERM (graceful shutdown) and SIGHUP (reload). Signal
    /// handlers are process-wide: let one reactor per process (the daemon's) do this.
    pub fn with_signals(mut self) -> io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(self)
    }
}

impl Reactor for OsReactor {
    fn now(&self) -> Timestamp {
        let millis = Instant::now()
            .saturating_duration_since(self.origin)
            .as_millis();
        Timestamp::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
    }

    fn register(&mut self, index: usize, port: &dyn PacketPort) -> io::Result<()> {
        let Some(fd) = port.raw_fd() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the OS reactor can only wait on ports with a file descriptor",
            ));
        };
        self.register_fd(index, fd)
    }

    fn register_fd(&mut self, index: usize, fd: RawFd) -> io::Result<()> {
        if index >= SIGNALS.0 {
            return Err(io::Error::other("too many ports"));
        }
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), Token(index), Interest::READABLE)
    }

    fn wait(
        &mut self,
        _ports: &[Box<dyn PacketPort>],
        deadline: Option<Timestamp>,
        immediate: bool,
        ready: &mut Vec<usize>,
    ) -> io::Result<Wake> {
        let mut wake = Wake {
            shutdown: self.flag.load(Ordering::SeqCst),
            ..Wake::default()
        };
        if wake.shutdown {
            return Ok(wake);
        }
        let timeout = if immediate {
            Some(Duration::ZERO)
        } else {
            // `None` for a deadline past any instant the clock can name: wait for packets.
            deadline
                .and_then(|at| {
                    self.origin
                        .checked_add(Duration::from_millis(at.as_millis()))
                })
                .map(|at| at.saturating_duration_since(Instant::now()))
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let mut signalled = false;
        for event in self.events.iter() {
            match event.token() {
                SIGNALS => signalled = true,
                WAKER => {}
                Token(index) => ready.push(index),
            }
        }
        if signalled {
            if let Some(signals) = &mut self.signals {
                for signal in signals.pending() {
                    match signal {
                        SIGHUP => wake.reload = true,
                        _ => wake.shutdown = true,
                    }
                }
            }
        }
        wake.shutdown |= self.flag.load(Ordering::SeqCst);
        Ok(wake)
    }

    fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            flag: Arc::clone(&self.flag),
            waker: Some(Arc::clone(&self.waker)),
        }
    }
}

/// Waits on a [`MemNetwork`]: returns at once when a port has packets, otherwise jumps the
/// network's virtual clock to the deadline. With neither, reports [`Wake::idle`].
#[derive(Debug)]
pub struct MemReactor {
    net: MemNetwork,
    flag: Arc<AtomicBool>,
}

impl MemReactor {
    /// A reactor on `net`'s clock.
    pub fn new(net: MemNetwork) -> Self {
        Self {
            net,
            flag: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Reactor for MemReactor {
    fn now(&self) -> Timestamp {
        self.net.now()
    }

    fn register(&mut self, _index: usize, _port: &dyn PacketPort) -> io::Result<()> {
        Ok(())
    }

    fn wait(
        &mut self,
        ports: &[Box<dyn PacketPort>],
        deadline: Option<Timestamp>,
        immediate: bool,
        ready: &mut Vec<usize>,
    ) -> io::Result<Wake> {
        let mut wake = Wake {
            shutdown: self.flag.load(Ordering::SeqCst),
            ..Wake::default()
        };
        let before = ready.len();
        ready.extend(
            ports
                .iter()
                .enumerate()
                .filter(|(_, port)| port.is_readable_now())
                .map(|(index, _)| index),
        );
        if wake.shutdown || immediate || ready.len() > before {
            return Ok(wake);
        }
        match deadline {
            Some(at) => self.net.advance_to(at),
            None => wake.idle = true,
        }
        Ok(wake)
    }

    fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            flag: Arc::clone(&self.flag),
            waker: None,
        }
    }
}
