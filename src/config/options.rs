//! The one table of options. Every option has one kebab-case name, used as is in
//! `plugin.yml`, `action.yml`, the README and `--help`; the Buildkite, GitHub and local
//! variable names are derived from it. A test checks `plugin.yml` and `action.yml`
//! against this table. The values of choice options are types in [`super::values`];
//! numeric options carry their range here, which validation and the command line's
//! parsers both read.

/// The shape of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
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
    pub fn describe(self) -> &'static str {
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
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every option, in documentation order.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "registry",
        kind: Kind::Text,
        default: "",
        help: "Registry slug, or `org/slug`. Required, except in a promote-only step.",
    },
    OptionSpec {
        name: "organization",
        kind: Kind::Text,
        default: "BUILDKITE_ORGANIZATION_SLUG",
        help: "Organization slug.",
    },
    OptionSpec {
        name: "artifacts",
        kind: Kind::List,
        default: "",
        help: "Glob patterns of files to publish, relative to the working directory; a leading `!` excludes.",
    },
    OptionSpec {
        name: "download",
        kind: Kind::List,
        default: "",
        help: "Buildkite only: artifact queries fetched with `buildkite-agent artifact download` before globbing.",
    },
    OptionSpec {
        name: "download-build",
        kind: Kind::Text,
        default: "this build",
        help: "Build id to download artifacts from.",
    },
    OptionSpec {
        name: "if-no-files-found",
        kind: Kind::Choice,
        default: "error",
        help: "What to do when a pattern matches nothing: `error`, `warn` or `ignore`.",
    },
    OptionSpec {
        name: "if-exists",
        kind: Kind::Choice,
        default: "skip-identical",
        help: "When name and version are already in the registry: `skip-identical`, `skip`, `fail` or `replace`.",
    },
    OptionSpec {
        name: "promote-to",
        kind: Kind::List,
        default: "",
        help: "Registry slugs to copy every package into after all publishes succeeded.",
    },
    OptionSpec {
        name: "promote-from",
        kind: Kind::Text,
        default: "",
        help: "Promote-only step: copy the packages an earlier step published to this registry into `promote-to`.",
    },
    OptionSpec {
        name: "concurrency",
        kind: Kind::Number { min: 1, max: 64 },
        default: "4",
        help: "Parallel uploads (1 to 64).",
    },
    OptionSpec {
        name: "retries",
        kind: Kind::Number { min: 0, max: 20 },
        default: "5",
        help: "Retry attempts for transient failures (0 to 20).",
    },
    OptionSpec {
        name: "stall-timeout",
        kind: Kind::Number { min: 1, max: 3600 },
        default: "60",
        help: "Seconds without upload progress before an attempt is aborted and retried (1 to 3600).",
    },
    OptionSpec {
        name: "settle-timeout",
        kind: Kind::Number { min: 0, max: 900 },
        default: "90",
        help: "Seconds to wait for the registry to list a package after an upload or copy whose answer was lost, before reporting it `unverified` (0 to 900).",
    },
    OptionSpec {
        name: "api-token-env",
        kind: Kind::Text,
        default: "BUILDKITE_API_TOKEN",
        help: "Name of the environment variable holding an API token.",
    },
    OptionSpec {
        name: "oidc",
        kind: Kind::Choice,
        default: "auto",
        help: "Use an OIDC token (Buildkite agent or GitHub) when no API token is set: `auto`, `true` or `false`.",
    },
    OptionSpec {
        name: "attestations",
        kind: Kind::List,
        default: "",
        help: "Glob patterns of JSON attestation files sent with every package as `attestation_bundle`.",
    },
    OptionSpec {
        name: "upload-method",
        kind: Kind::Choice,
        default: "auto",
        help: "`auto`, `direct` (multipart POST) or `presigned` (upload slot, storage, finalize).",
    },
    OptionSpec {
        name: "dry-run",
        kind: Kind::Bool,
        default: "false",
        help: "Plan and check everything, upload nothing.",
    },
    OptionSpec {
        name: "annotate",
        kind: Kind::Bool,
        default: "true",
        help: "Write the Buildkite annotation / GitHub step summary.",
    },
    OptionSpec {
        name: "annotation-context",
        kind: Kind::Text,
        default: "derived from registry and step",
        help: "Buildkite annotation context (at most 100 characters).",
    },
    OptionSpec {
        name: "report-file",
        kind: Kind::Text,
        default: "",
        help: "Write the JSON report to this path.",
    },
    OptionSpec {
        name: "api-url",
        kind: Kind::Text,
        default: "https://api.buildkite.com",
        help: "Packages API base URL.",
    },
    OptionSpec {
        name: "binary-path",
        kind: Kind::Text,
        default: "",
        help: "Hook and action only: run this package-publisher binary instead of downloading one.",
    },
];

/// The option with this kebab-case name.
#[must_use]
pub fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// The range of a numeric option.
///
/// # Panics
///
/// When `name` is not a numeric option of the table (a programming error).
#[must_use]
pub fn range(name: &str) -> (u64, u64) {
    match find(name).map(|o| o.kind) {
        Some(Kind::Number { min, max }) => (min, max),
        _ => panic!("{name} is not a numeric option"),
    }
}
