//! Cancellation: a cancelled Buildkite job or GitHub run sends SIGTERM (SIGINT from a
//! terminal; the agent's `cancel-signal` may make it SIGHUP or SIGQUIT, and the agent
//! signals the job's whole process group). The first signal cancels the run's token: nothing new starts, in-flight
//! uploads get a short grace, and the report, annotation or summary, meta-data and
//! outputs are still written with each file's true state. The process does not die on
//! the signal; the CI's own kill after its grace period (10 s on Buildkite by default)
//! is what this is racing.

use tokio_util::sync::CancellationToken;

/// Starts listening for SIGTERM, SIGINT, SIGHUP and SIGQUIT; returns the token they cancel and calls
/// `notice` with the signal's name once, when the first arrives.
pub(crate) fn on_signals(notice: impl Fn(&str) + Send + 'static) -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let Some(mut signals) = os::Signals::listen() else {
        // Without handlers the default action (exit) stays in place.
        return token;
    };
    tokio::spawn(async move {
        let name = signals.next().await;
        notice(name);
        cancel.cancel();
        // Later signals are absorbed: the run is already winding down within its
        // bounds, and dying now would lose the report.
        loop {
            signals.next().await;
        }
    });
    token
}

#[cfg(unix)]
mod os {
    use tokio::signal::unix::{Signal, SignalKind, signal};

    /// SIGTERM, SIGINT, SIGHUP and SIGQUIT: the Buildkite agent's cancel signal is
    /// configurable (`cancel-signal`), and any of them means "wind down".
    pub(super) struct Signals {
        term: Signal,
        int: Signal,
        hup: Signal,
        quit: Signal,
    }

    impl Signals {
        pub(super) fn listen() -> Option<Signals> {
            Some(Signals {
                term: signal(SignalKind::terminate()).ok()?,
                int: signal(SignalKind::interrupt()).ok()?,
                hup: signal(SignalKind::hangup()).ok()?,
                quit: signal(SignalKind::quit()).ok()?,
            })
        }

        /// The name of the next signal.
        pub(super) async fn next(&mut self) -> &'static str {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
                _ = self.hup.recv() => "SIGHUP",
                _ = self.quit.recv() => "SIGQUIT",
            }
        }
    }
}

#[cfg(not(unix))]
mod os {
    /// Ctrl-C (the console's break events).
    pub struct Signals;

    impl Signals {
        pub fn listen() -> Option<Signals> {
            Some(Signals)
        }

        /// The name of the next signal.
        pub async fn next(&mut self) -> &'static str {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            "Ctrl-C"
        }
    }
}
