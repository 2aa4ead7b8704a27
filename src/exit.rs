//! The process exit codes, in one place, and [`Abort`], a failure that ends a run early
//! with its exit status. The README's "Exit codes" table mirrors [`ExitStatus`]; change
//! both together.

/// How a run ended, as the CI system sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Everything was published, identical, skipped or promoted (or planned, in a dry run).
    Success,
    /// Nothing failed, but an upload or a copy whose answer was lost may have landed
    /// and the registry's listing did not confirm it in time.
    Unverified,
    /// At least one package failed to publish or promote.
    Failed,
    /// A configuration or usage error, found before any network call.
    Usage,
    /// A pattern matched no file while `if-no-files-found` is `error`.
    NoFiles,
    /// The registry refused the credentials (401/403) before anything was published.
    AuthRefused,
}

impl ExitStatus {
    /// The numeric process exit code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::Usage => 2,
            ExitStatus::NoFiles => 3,
            ExitStatus::AuthRefused => 4,
            ExitStatus::Unverified => 5,
        }
    }
}

/// A failure that ends a run early, with the exit status it ends with. Any error
/// converts into one with [`ExitStatus::Failed`]; other statuses are given explicitly.
#[derive(Debug)]
pub struct Abort(pub ExitStatus, pub anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Abort {
    fn from(err: E) -> Self {
        Abort(ExitStatus::Failed, err.into())
    }
}

impl Abort {
    /// A configuration or usage error (exit 2).
    pub fn usage(err: impl Into<anyhow::Error>) -> Abort {
        Abort(ExitStatus::Usage, err.into())
    }
}

/// For `map_err`: ends the run with `status`.
pub fn abort(status: ExitStatus) -> impl FnOnce(anyhow::Error) -> Abort {
    move |err| Abort(status, err)
}
