//! The process exit codes, in one place. The README's "Exit codes" table mirrors this
//! enum; change both together.

/// How a run ended, as the CI system sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Everything was published, identical, skipped or promoted (or planned, in a dry run).
    Success,
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
        }
    }
}
