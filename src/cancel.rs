//! Cancellation: a cancelled Buildkite job or GitHub run sends SIGTERM (SIGINT from a
//! terminal). The first signal cancels the run's token: nothing new starts, in-flight
//! uploads get a short grace, and the report, annotation or summary, meta-data and
//! outputs are still written with each file's true state. The process does not die on
//! the signal; the CI's own kill after its grace period (10 s on Buildkite by default)
//! is what this is racing.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Starts listening for SIGTERM and SIGINT; returns the token they cancel and calls
/// `notice` with the signal's name once, when the first arrives.
pub fn on_signals(notice: impl Fn(&str) + Send + 'static) -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without handlers the default action (exit) stays in place.
        return token;
    };
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        notice(name);
        cancel.cancel();
        // Later signals are absorbed: the run is already winding down within its
        // bounds, and dying now would lose the report.
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
    });
    token
}
