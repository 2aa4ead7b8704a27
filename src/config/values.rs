//! The options that take one of a fixed set of values, as types. Each enum lists its
//! values once: [`Choice::ALL`] in documentation order, and [`Choice::name`] as an
//! exhaustive match. Validation, the command line's `--help` (the CLI implements
//! clap's `ValueEnum` from this trait) and the error messages all read them from here,
//! so a value cannot be accepted in one place and unknown in another, and a typo in a
//! name is a compile error or a failing test, never a silent default.

/// An option value from a fixed set.
pub(crate) trait Choice: Sized + Copy + PartialEq + 'static {
    /// Every value, in documentation order.
    const ALL: &'static [Self];
    /// The value used when the option is not given (the option table's default).
    const DEFAULT: Self;

    /// The value as written in configuration.
    fn name(self) -> &'static str;

    /// The value written as `text`, ignoring case and surrounding space.
    #[must_use]
    fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.name().eq_ignore_ascii_case(text.trim()))
    }

    /// The accepted values, for messages: `error, warn, ignore`.
    #[must_use]
    fn names() -> String {
        Self::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
    }
}

/// What to do when a pattern matches no file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfNoFilesFound {
    Error,
    Warn,
    Ignore,
}

impl Choice for IfNoFilesFound {
    const ALL: &'static [Self] = &[Self::Error, Self::Warn, Self::Ignore];
    const DEFAULT: Self = Self::Error;

    fn name(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Ignore => "ignore",
        }
    }
}

/// What to do when a package's name and version are already in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfExists {
    /// Skip when the sha256 matches; fail when it differs.
    SkipIdentical,
    /// Skip whatever the content.
    Skip,
    /// Fail.
    Fail,
    /// Delete the existing package, then publish.
    Replace,
}

impl Choice for IfExists {
    const ALL: &'static [Self] = &[Self::SkipIdentical, Self::Skip, Self::Fail, Self::Replace];
    const DEFAULT: Self = Self::SkipIdentical;

    fn name(self) -> &'static str {
        match self {
            Self::SkipIdentical => "skip-identical",
            Self::Skip => "skip",
            Self::Fail => "fail",
            Self::Replace => "replace",
        }
    }
}

/// Whether OIDC may be used when no API token is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OidcMode {
    /// Use OIDC when no API token is set and the platform offers it.
    Auto,
    /// Always use OIDC (`true`).
    Required,
    /// Never use OIDC (`false`).
    Off,
}

impl Choice for OidcMode {
    const ALL: &'static [Self] = &[Self::Auto, Self::Required, Self::Off];
    const DEFAULT: Self = Self::Auto;

    fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Required => "true",
            Self::Off => "false",
        }
    }
}

/// How file bytes reach the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UploadMethod {
    Auto,
    Direct,
    Presigned,
}

impl Choice for UploadMethod {
    const ALL: &'static [Self] = &[Self::Auto, Self::Direct, Self::Presigned];
    const DEFAULT: Self = Self::Auto;

    fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Direct => "direct",
            Self::Presigned => "presigned",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::options::{self, Opt};

    /// Every value parses back to itself, and the option table's default is the
    /// type's default.
    fn check<C: Choice + std::fmt::Debug>(option: Opt) {
        for c in C::ALL {
            assert_eq!(C::parse(c.name()), Some(*c), "{option}: {c:?}");
            assert_eq!(C::parse(&c.name().to_ascii_uppercase()), Some(*c), "{option}: {c:?}");
        }
        let spec = option.spec();
        assert_eq!(spec.kind, options::Kind::Choice, "{option}");
        assert_eq!(spec.default, C::DEFAULT.name(), "{option}");
        assert!(C::parse("no-such-value").is_none());
    }

    #[test]
    fn choices_agree_with_the_option_table() {
        check::<IfNoFilesFound>(Opt::IfNoFilesFound);
        check::<IfExists>(Opt::IfExists);
        check::<OidcMode>(Opt::Oidc);
        check::<UploadMethod>(Opt::UploadMethod);
        let choices = options::OPTIONS
            .iter()
            .filter(|o| o.kind == options::Kind::Choice)
            .count();
        assert_eq!(choices, 4, "a new choice option needs its type checked here");
    }
}
