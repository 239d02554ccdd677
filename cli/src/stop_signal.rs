//! Waiting for the signal to stop (Ctrl-C, or SIGTERM from a service manager or container).
//!
//! The handlers are installed when `StopSignal::install` returns, not when the wait is
//! first polled: a signal that arrives between the "listening" banner and the wait must
//! start a drain, not kill the process with its default action.

use std::io;

pub struct StopSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignal {
    /// Installs the handlers now; call before announcing that the server is ready.
    pub fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Resolves on the first SIGINT or SIGTERM.
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                eprintln!("error: cannot wait for Ctrl-C: {e}");
            }
        }
    }
}
