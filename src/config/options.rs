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

/// One option of the plugin and the action.
#[derive(Debug)]
pub(crate) struct OptionSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
}

/// Every option, in documentation order.
pub(crate) const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "registry",
        kind: Kind::Text,
        default: "",
    },
    OptionSpec {
        name: "organization",
        kind: Kind::Text,
        default: "BUILDKITE_ORGANIZATION_SLUG",
    },
    OptionSpec {
        name: "artifacts",
        kind: Kind::List,
        default: "",
    },
    OptionSpec {
        name: "download",
        kind: Kind::List,
        default: "",
    },
    OptionSpec {
        name: "download-build",
        kind: Kind::Text,
        default: "this build",
    },
    OptionSpec {
        name: "if-no-files-found",
        kind: Kind::Choice,
        default: "error",
    },
    OptionSpec {
        name: "if-exists",
        kind: Kind::Choice,
        default: "skip-identical",
    },
    OptionSpec {
        name: "promote-to",
        kind: Kind::List,
        default: "",
    },
    OptionSpec {
        name: "promote-from",
        kind: Kind::Text,
        default: "",
    },
    OptionSpec {
        name: "concurrency",
        kind: Kind::Number { min: 1, max: 64 },
        default: "4",
    },
    OptionSpec {
        name: "retries",
        kind: Kind::Number { min: 0, max: 20 },
        default: "5",
    },
    OptionSpec {
        name: "stall-timeout",
        kind: Kind::Number { min: 1, max: 3600 },
        default: "60",
    },
    OptionSpec {
        name: "settle-timeout",
        kind: Kind::Number { min: 0, max: 900 },
        default: "90",
    },
    OptionSpec {
        name: "api-token-env",
        kind: Kind::Text,
        default: "BUILDKITE_API_TOKEN",
    },
    OptionSpec {
        name: "oidc",
        kind: Kind::Choice,
        default: "auto",
    },
    OptionSpec {
        name: "attestations",
        kind: Kind::List,
        default: "",
    },
    OptionSpec {
        name: "upload-method",
        kind: Kind::Choice,
        default: "auto",
    },
    OptionSpec {
        name: "dry-run",
        kind: Kind::Bool,
        default: "false",
    },
    OptionSpec {
        name: "annotate",
        kind: Kind::Bool,
        default: "true",
    },
    OptionSpec {
        name: "annotation-context",
        kind: Kind::Text,
        default: "derived from registry and step",
    },
    OptionSpec {
        name: "report-file",
        kind: Kind::Text,
        default: "",
    },
    OptionSpec {
        name: "api-url",
        kind: Kind::Text,
        default: "https://api.buildkite.com",
    },
    OptionSpec {
        name: "binary-path",
        kind: Kind::Text,
        default: "",
    },
];

/// The option with this kebab-case name.
#[must_use]
pub(crate) fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// The range of a numeric option.
///
/// # Panics
///
/// When `name` is not a numeric option of the table (a programming error).
#[must_use]
pub(crate) fn range(name: &str) -> (u64, u64) {
    match find(name).map(|o| o.kind) {
        Some(Kind::Number { min, max }) => (min, max),
        _ => panic!("{name} is not a numeric option"),
    }
}
