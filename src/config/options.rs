//! The one table of options. Every option has one kebab-case name, used as is in
//! `plugin.yml`, `action.yml`, the README and `--help`; the Buildkite, GitHub and local
//! variable names are derived from it. A test checks `plugin.yml` and `action.yml`
//! against this table. The values of choice options are types in [`super::values`];
//! numeric options carry their range here, which validation and the command line's
//! parsers both read.

/// The shape of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    List,
    Bool,
    /// A whole number in `min..=max`.
    Number {
        min: u64,
        max: u64,
    },
    /// One of a fixed set of values; the set is a [`super::values::Choice`] type.
    Choice,
}

impl Kind {
    /// A few words for error messages.
    #[must_use]
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Text => "string",
            Kind::List => "string or list of strings",
            Kind::Bool => "boolean",
            Kind::Number { .. } => "number",
            Kind::Choice => "string from a fixed set",
        }
    }
}

/// An option of the plugin and the action, by name: code names options with this
/// enum, never with a string, so a typo is a compile error. [`OPTIONS`] describes each,
/// in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Opt {
    Registry,
    Organization,
    Artifacts,
    Download,
    DownloadBuild,
    IfNoFilesFound,
    IfExists,
    PromoteTo,
    PromoteFrom,
    Concurrency,
    Retries,
    StallTimeout,
    SettleTimeout,
    ApiTokenEnv,
    Oidc,
    Attestations,
    UploadMethod,
    DryRun,
    Annotate,
    AnnotationContext,
    ReportFile,
    ApiUrl,
    BinaryPath,
}

impl Opt {
    /// Its entry in the option table.
    #[must_use]
    pub(crate) fn spec(self) -> &'static OptionSpec {
        &OPTIONS[self as usize]
    }

    /// Its one kebab-case name (`stall-timeout`).
    #[must_use]
    pub(crate) fn name(self) -> &'static str {
        self.spec().name
    }

    /// Its default, as the table writes it.
    #[must_use]
    pub(crate) fn default(self) -> &'static str {
        self.spec().default
    }

    /// The range of a numeric option.
    ///
    /// # Panics
    ///
    /// When it is not a numeric option (a programming error).
    #[must_use]
    pub(crate) fn range(self) -> (u64, u64) {
        match self.spec().kind {
            Kind::Number { min, max } => (min, max),
            _ => panic!("{} is not a numeric option", self.name()),
        }
    }
}

impl std::fmt::Display for Opt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One option of the plugin and the action.
#[derive(Debug)]
pub(crate) struct OptionSpec {
    pub opt: Opt,
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
}

/// Every option, in documentation order.
pub(crate) const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        opt: Opt::Registry,
        name: "registry",
        kind: Kind::Text,
        default: "",
    },
    OptionSpec {
        opt: Opt::Organization,
        name: "organization",
        kind: Kind::Text,
        default: "BUILDKITE_ORGANIZATION_SLUG",
    },
    OptionSpec {
        opt: Opt::Artifacts,
        name: "artifacts",
        kind: Kind::List,
        default: "",
    },
    OptionSpec {
        opt: Opt::Download,
        name: "download",
        kind: Kind::List,
        default: "",
    },
    OptionSpec {
        opt: Opt::DownloadBuild,
        name: "download-build",
        kind: Kind::Text,
        default: "this build",
    },
    OptionSpec {
        opt: Opt::IfNoFilesFound,
        name: "if-no-files-found",
        kind: Kind::Choice,
        default: "error",
    },
    OptionSpec {
        opt: Opt::IfExists,
        name: "if-exists",
        kind: Kind::Choice,
        default: "skip-identical",
    },
    OptionSpec {
        opt: Opt::PromoteTo,
        name: "promote-to",
        kind: Kind::List,
        default: "",
    },
    OptionSpec {
        opt: Opt::PromoteFrom,
        name: "promote-from",
        kind: Kind::Text,
        default: "",
    },
    OptionSpec {
        opt: Opt::Concurrency,
        name: "concurrency",
        kind: Kind::Number { min: 1, max: 64 },
        default: "4",
    },
    OptionSpec {
        opt: Opt::Retries,
        name: "retries",
        kind: Kind::Number { min: 0, max: 20 },
        default: "5",
    },
    OptionSpec {
        opt: Opt::StallTimeout,
        name: "stall-timeout",
        kind: Kind::Number { min: 1, max: 3600 },
        default: "60",
    },
    OptionSpec {
        opt: Opt::SettleTimeout,
        name: "settle-timeout",
        kind: Kind::Number { min: 0, max: 900 },
        default: "90",
    },
    OptionSpec {
        opt: Opt::ApiTokenEnv,
        name: "api-token-env",
        kind: Kind::Text,
        default: "BUILDKITE_API_TOKEN",
    },
    OptionSpec {
        opt: Opt::Oidc,
        name: "oidc",
        kind: Kind::Choice,
        default: "auto",
    },
    OptionSpec {
        opt: Opt::Attestations,
        name: "attestations",
        kind: Kind::List,
        default: "",
    },
    OptionSpec {
        opt: Opt::UploadMethod,
        name: "upload-method",
        kind: Kind::Choice,
        default: "auto",
    },
    OptionSpec {
        opt: Opt::DryRun,
        name: "dry-run",
        kind: Kind::Bool,
        default: "false",
    },
    OptionSpec {
        opt: Opt::Annotate,
        name: "annotate",
        kind: Kind::Bool,
        default: "true",
    },
    OptionSpec {
        opt: Opt::AnnotationContext,
        name: "annotation-context",
        kind: Kind::Text,
        default: "derived from registry and step",
    },
    OptionSpec {
        opt: Opt::ReportFile,
        name: "report-file",
        kind: Kind::Text,
        default: "",
    },
    OptionSpec {
        opt: Opt::ApiUrl,
        name: "api-url",
        kind: Kind::Text,
        default: "https://api.buildkite.com",
    },
    OptionSpec {
        opt: Opt::BinaryPath,
        name: "binary-path",
        kind: Kind::Text,
        default: "",
    },
];

/// The option with this kebab-case name (as a source spells it).
#[must_use]
pub(crate) fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_the_enum_order() {
        for (i, spec) in OPTIONS.iter().enumerate() {
            assert_eq!(spec.opt as usize, i, "{}", spec.name);
            assert_eq!(spec.opt.spec().name, spec.name);
            assert_eq!(find(spec.name).map(|o| o.opt), Some(spec.opt));
        }
    }
}
