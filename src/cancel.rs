//! Cancellation: a cancelled Buildkite job or GitHub run sends SIGTERM (SIGINT from a
//! terminal). The first signal cancels the run's token: nothing new starts, in-flight
//! uploads get a short grace, and the report, annotation or summary, meta-data and
//! outputs are still written with each file's true state. The process does not die on
//! the signal; the CI's own kill after its grace period (10 s on Buildkite by default)
//! is what this is racing.

use tokio_util::sync::CancellationToken;

/// Starts listening for SIGTERM and SIGINT; returns the token they cancel and calls
/// `notice` with the signal's name once, when the first arrives.
pub fn on_signals(notice: impl Fn(&str) + Send + 'static) -> CancellationToken {
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

    /// SIGTERM and SIGINT.
    pub struct Signals(Signal, Signal);

    impl Signals {
        pub fn listen() -> Option<Signals> {
            Some(Signals(
                signal(SignalKind::terminate()).ok()?,
                signal(SignalKind::interrupt()).ok()?,
            ))
        }

        /// The name of the next signal.
        pub async fn next(&mut self) -> &'static str {
            tokio::select! {
                _ = self.0.recv() => "SIGTERM",
                _ = self.1.recv() => "SIGINT",
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
