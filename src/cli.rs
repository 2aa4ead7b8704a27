//! The command line. With no subcommand the binary runs the CI job from the
//! environment (how the plugin and the action call it). Subcommands give people every
//! Packages API operation from a terminal: `publish`, `promote`, `list`, `get`,
//! `copy`, `delete`. Flags are typed (choices list their values in `--help`) and each
//! subcommand has a flag table, so configuration errors name options as the flags the
//! user typed. Flags win over `PACKAGE_PUBLISHER_*` variables. The token is never a
//! flag (it would land in shell history and process listings).

use std::ffi::OsString;

use clap::builder::{PossibleValue, RangedU64ValueParser, StyledStr};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::Opt;
use crate::config::sources::{RawMap, RawValue, split_items};
use crate::config::spelling::Flags;
use crate::config::{Choice, CommandLine, IfExists, IfNoFilesFound, UploadMethod};

const EXAMPLES: &str = "\
Examples:
  # In CI: configuration comes from the plugin / action / PACKAGE_PUBLISHER_* variables
  package-publisher

  # From a terminal (token in BUILDKITE_API_TOKEN, org in BUILDKITE_ORGANIZATION_SLUG or --org)
  package-publisher publish --registry acme/debs 'dist/*.deb'
  package-publisher list --registry acme/debs --name hello
  package-publisher copy --registry acme/staging --to production 0191e8a2-...
  package-publisher delete --registry acme/debs 0191e8a2-... --yes";

/// Where the token comes from, for every subcommand's help (a macro, so `concat!`
/// can put it into the help text at compile time).
macro_rules! token_note {
    () => {
        "\n\nThe API token is read from BUILDKITE_API_TOKEN (or from the variable that
PACKAGE_PUBLISHER_API_TOKEN_ENV names), never from a flag."
    };
}

/// How flags and variables combine, for `publish` and `promote`.
macro_rules! flags_note {
    () => {
        "\nEvery option can also be set as a PACKAGE_PUBLISHER_* variable
(PACKAGE_PUBLISHER_IF_EXISTS for --if-exists); flags win. A list flag takes
several flags or one comma-separated value."
    };
}

/// Publish and promote packages to Buildkite Package Registries.
#[derive(Debug, Parser)]
#[command(name = "package-publisher", version = crate::VERSION, about, after_help = EXAMPLES, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Publish files matching glob patterns (like the CI job, with flags).
    #[command(override_usage = "package-publisher publish --registry <REGISTRY> [OPTIONS] [PATTERN]...", after_help = concat!(
        "Example:\n  package-publisher publish --registry acme/debs 'dist/*.deb' '!dist/*-dbg*.deb' --dry-run",
        token_note!(),
        flags_note!()
    ))]
    Publish(PublishArgs),
    /// Copy packages from one registry into others (a promote-only step).
    #[command(after_help = concat!(
        "Examples:\n  package-publisher promote --from staging --to production 'dist/*.deb'\n",
        "  package-publisher promote --from staging --to production   # on Buildkite: the packages an earlier step published",
        token_note!(),
        flags_note!()
    ))]
    Promote(PromoteArgs),
    /// List the packages of a registry, following every page.
    #[command(override_usage = "package-publisher list --registry <REGISTRY> [OPTIONS]", after_help = concat!(
        "Examples:\n  package-publisher list --registry acme/debs\n",
        "  package-publisher list --registry debs --name hello --limit 10 --json",
        token_note!()
    ))]
    List(ListArgs),
    /// Show one package.
    #[command(override_usage = "package-publisher get --registry <REGISTRY> [OPTIONS] <ID>", after_help = concat!(
        "Example:\n  package-publisher get --registry acme/debs 0191e8a2-...",
        token_note!()
    ))]
    Get(IdArgs),
    /// Copy one package into another registry.
    #[command(override_usage = "package-publisher copy --registry <REGISTRY> --to <REGISTRY> [OPTIONS] <ID>", after_help = concat!(
        "Example:\n  package-publisher copy --registry acme/staging --to production 0191e8a2-...",
        token_note!()
    ))]
    Copy(CopyArgs),
    /// Delete one package (asks first on a terminal; needs --yes otherwise).
    #[command(override_usage = "package-publisher delete --registry <REGISTRY> [OPTIONS] <ID>", after_help = concat!(
        "Example:\n  package-publisher delete --registry acme/debs 0191e8a2-... --yes",
        token_note!()
    ))]
    Delete(DeleteArgs),
}

/// The flags of `publish`, by option.
pub(crate) const PUBLISH_FLAGS: Flags = &[
    (Opt::Organization, "--org"),
    (Opt::ApiUrl, "--api-url"),
    (Opt::Registry, "--registry"),
    (Opt::Artifacts, "a PATTERN argument"),
    (Opt::DryRun, "--dry-run"),
    (Opt::IfExists, "--if-exists"),
    (Opt::IfNoFilesFound, "--if-no-files-found"),
    (Opt::Concurrency, "--concurrency"),
    (Opt::Retries, "--retries"),
    (Opt::StallTimeout, "--stall-timeout"),
    (Opt::SettleTimeout, "--settle-timeout"),
    (Opt::UploadMethod, "--upload-method"),
    (Opt::PromoteTo, "--promote-to"),
    (Opt::Attestations, "--attestations"),
    (Opt::ReportFile, "--report-file"),
];

/// The flags of `promote`, by option.
pub(crate) const PROMOTE_FLAGS: Flags = &[
    (Opt::Organization, "--org"),
    (Opt::ApiUrl, "--api-url"),
    (Opt::PromoteFrom, "--from"),
    (Opt::PromoteTo, "--to"),
    (Opt::Artifacts, "a PATTERN argument"),
    (Opt::DryRun, "--dry-run"),
    (Opt::StallTimeout, "--timeout"),
    (Opt::SettleTimeout, "--settle-timeout"),
    (Opt::ReportFile, "--report-file"),
];

/// The flags of `list`, `get`, `copy` and `delete`, by option.
pub(crate) const API_FLAGS: Flags = &[
    (Opt::Organization, "--org"),
    (Opt::ApiUrl, "--api-url"),
    (Opt::Registry, "--registry"),
    (Opt::StallTimeout, "--timeout"),
    (Opt::PromoteTo, "--to"),
];

/// Where a command talks to.
#[derive(Debug, Clone, Args)]
pub(crate) struct Target {
    /// Organization slug [default: `BUILDKITE_ORGANIZATION_SLUG`, or the org of --registry org/slug]
    #[arg(long, value_name = "SLUG")]
    pub org: Option<String>,
    /// The Packages API's base URL.
    #[arg(
        long,
        value_name = "URL",
        help = "Packages API base URL [default: https://api.buildkite.com]"
    )]
    pub api_url: Option<String>,
}

/// What an API subcommand talks to, and its time limit.
#[derive(Debug, Clone, Args)]
pub(crate) struct ApiTarget {
    #[command(flatten)]
    pub target: Target,
    /// Registry slug, or org/slug
    #[arg(long)]
    pub registry: Option<String>,
    /// Time limit of each API request, in seconds (1 to 3600) [default: 60]
    #[arg(long, value_name = "SECONDS", value_parser = number(Opt::StallTimeout))]
    pub timeout: Option<u64>,
}

/// `publish`.
#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    #[command(flatten)]
    pub target: Target,
    /// Registry slug, or org/slug
    #[arg(long)]
    pub registry: Option<String>,
    /// Glob patterns of files to publish; a leading ! excludes
    #[arg(value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Plan and check everything, upload nothing
    #[arg(long)]
    pub dry_run: bool,
    /// When name and version are already in the registry [default: skip-identical]
    #[arg(long, value_name = "POLICY", ignore_case = true)]
    pub if_exists: Option<IfExists>,
    /// When a pattern matches no file [default: error]
    #[arg(long, value_name = "POLICY", ignore_case = true)]
    pub if_no_files_found: Option<IfNoFilesFound>,
    /// Parallel uploads, 1 to 64 [default: 4]
    #[arg(long, value_name = "N", value_parser = number(Opt::Concurrency))]
    pub concurrency: Option<u64>,
    /// Retries for transient failures, 0 to 20 [default: 5]
    #[arg(long, value_name = "N", value_parser = number(Opt::Retries))]
    pub retries: Option<u64>,
    /// Seconds without progress before an upload is retried, 1 to 3600 [default: 60]
    #[arg(long, value_name = "SECONDS", value_parser = number(Opt::StallTimeout))]
    pub stall_timeout: Option<u64>,
    /// Seconds to wait for the registry to list a package whose answer was lost, 0 to 900 [default: 90]
    #[arg(long, value_name = "SECONDS", value_parser = number(Opt::SettleTimeout))]
    pub settle_timeout: Option<u64>,
    /// How file bytes reach the registry [default: auto]
    #[arg(long, value_name = "METHOD", ignore_case = true)]
    pub upload_method: Option<UploadMethod>,
    /// Registries to copy every package into afterwards (repeat, or comma-separated)
    #[arg(long, value_name = "REGISTRY")]
    pub promote_to: Vec<String>,
    /// Attestation files (globs) to send with every package (repeat, or comma-separated)
    #[arg(long, value_name = "PATTERN")]
    pub attestations: Vec<String>,
    /// Write the JSON report here
    #[arg(long, value_name = "PATH")]
    pub report_file: Option<String>,
}

/// `promote`.
#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    #[command(flatten)]
    pub target: Target,
    /// The registry the packages are in (slug, or org/slug)
    #[arg(long, value_name = "REGISTRY")]
    pub from: String,
    /// Destination registries (repeat, or comma-separated)
    #[arg(long, value_name = "REGISTRY", required = true)]
    pub to: Vec<String>,
    /// Files identifying the packages (by name, version and sha256)
    #[arg(value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Check everything, copy nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Time limit of each API request, in seconds (1 to 3600) [default: 60]
    #[arg(long, value_name = "SECONDS", value_parser = number(Opt::StallTimeout))]
    pub timeout: Option<u64>,
    /// Seconds to wait for the destination to list a copy whose answer was lost, 0 to 900 [default: 90]
    #[arg(long, value_name = "SECONDS", value_parser = number(Opt::SettleTimeout))]
    pub settle_timeout: Option<u64>,
    /// Write the JSON report here
    #[arg(long, value_name = "PATH")]
    pub report_file: Option<String>,
}

/// `list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub api: ApiTarget,
    /// Only packages with this name
    #[arg(long)]
    pub name: Option<String>,
    /// Stop after this many packages
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print JSON (an array of package objects)
    #[arg(long)]
    pub json: bool,
}

/// `get`.
#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    #[command(flatten)]
    pub api: ApiTarget,
    /// Package id
    #[arg(value_parser = package_id)]
    pub id: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `copy`.
#[derive(Debug, Args)]
pub(crate) struct CopyArgs {
    #[command(flatten)]
    pub api: ApiTarget,
    /// Destination registry slug
    #[arg(long, value_name = "REGISTRY")]
    pub to: String,
    /// Package id
    #[arg(value_parser = package_id)]
    pub id: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    #[command(flatten)]
    pub api: ApiTarget,
    /// Package id
    #[arg(value_parser = package_id)]
    pub id: String,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// clap's view of the choice types: their values, from [`Choice`].
macro_rules! value_enum {
    ($($t:ty),*) => {$(
        impl ValueEnum for $t {
            fn value_variants<'a>() -> &'a [Self] {
                <$t as Choice>::ALL
            }
            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.name()))
            }
        }
    )*};
}
value_enum!(IfExists, IfNoFilesFound, UploadMethod);

/// A numeric flag, in its option's range from the option table.
fn number(option: Opt) -> RangedU64ValueParser<u64> {
    let (min, max) = option.range();
    RangedU64ValueParser::new().range(min..=max)
}

/// A package id: not empty (an empty id would address the whole collection).
fn package_id(value: &str) -> Result<String, String> {
    let id = value.trim();
    if id.is_empty() || id == "." || id == ".." {
        return Err("a package id is required (as `list` or `get` print it)".to_owned());
    }
    Ok(id.to_owned())
}

/// Parses the arguments. A flag given before any subcommand gets a tip naming the
/// subcommands that take it.
pub(crate) fn parse(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    let has_subcommand = args.iter().skip(1).any(|a| {
        Cli::command()
            .get_subcommands()
            .any(|s| a.to_str() == Some(s.get_name()))
    });
    Cli::try_parse_from(args).map_err(|mut err| {
        if err.kind() == ErrorKind::UnknownArgument && !has_subcommand {
            if let Some(tip) = flag_tip(&err) {
                let mut tips = match err.get(ContextKind::Suggested) {
                    Some(ContextValue::StyledStrs(tips)) => tips.clone(),
                    _ => Vec::new(),
                };
                tips.push(StyledStr::from(tip));
                err.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
            }
        }
        err
    })
}

/// "--registry is a flag of publish, list, …": for an unknown argument that is a flag
/// of some subcommand.
fn flag_tip(err: &clap::Error) -> Option<String> {
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.strip_prefix("--")?.split('=').next()?;
    let cli = Cli::command();
    let takers: Vec<&str> = cli
        .get_subcommands()
        .filter(|s| s.get_arguments().any(|a| a.get_long() == Some(long)))
        .map(clap::Command::get_name)
        .collect();
    let first = takers.first()?;
    Some(format!(
        "--{long} is a flag of {}: put it after the subcommand, as in `package-publisher {first} --{long} …`",
        takers.join(", ")
    ))
}

/// Builds the raw values of the flags the user gave, each with its flag as origin.
struct Values {
    flags: Flags,
    map: RawMap,
}

impl Values {
    fn new(flags: Flags) -> Self {
        Values {
            flags,
            map: RawMap::new(),
        }
    }

    fn origin(&self, option: Opt) -> String {
        let flag = self.flags.iter().find(|(o, _)| *o == option).map(|(_, f)| *f);
        flag.expect("every flag is in its table").to_owned()
    }

    fn scalar(&mut self, option: Opt, value: Option<impl ToString>) {
        if let Some(value) = value {
            let origin = self.origin(option);
            self.map.insert(option, RawValue::scalar(value.to_string(), origin));
        }
    }

    fn flag(&mut self, option: Opt, set: bool) {
        self.scalar(option, set.then_some("true"));
    }

    /// A list flag: each value split like every other list written as one string.
    fn list(&mut self, option: Opt, values: &[String]) {
        let items: Vec<String> = values.iter().flat_map(|v| split_items(v)).collect();
        self.items(option, items);
    }

    /// Positional arguments: one item each.
    fn items(&mut self, option: Opt, items: Vec<String>) {
        if !items.is_empty() {
            let origin = self.origin(option);
            self.map.insert(option, RawValue { items, origin });
        }
    }

    fn target(&mut self, target: &Target) {
        self.scalar(Opt::Organization, target.org.as_ref());
        self.scalar(Opt::ApiUrl, target.api_url.as_ref());
    }

    fn done(self) -> CommandLine {
        CommandLine {
            values: self.map,
            flags: self.flags,
        }
    }
}

impl PublishArgs {
    /// The flags as configuration over the `PACKAGE_PUBLISHER_*` variables.
    #[must_use]
    pub(crate) fn command_line(&self) -> CommandLine {
        let mut v = Values::new(PUBLISH_FLAGS);
        v.target(&self.target);
        v.scalar(Opt::Registry, self.registry.as_ref());
        v.items(Opt::Artifacts, self.patterns.clone());
        v.flag(Opt::DryRun, self.dry_run);
        v.scalar(Opt::IfExists, self.if_exists.map(Choice::name));
        v.scalar(Opt::IfNoFilesFound, self.if_no_files_found.map(Choice::name));
        v.scalar(Opt::Concurrency, self.concurrency);
        v.scalar(Opt::Retries, self.retries);
        v.scalar(Opt::StallTimeout, self.stall_timeout);
        v.scalar(Opt::SettleTimeout, self.settle_timeout);
        v.scalar(Opt::UploadMethod, self.upload_method.map(Choice::name));
        v.list(Opt::PromoteTo, &self.promote_to);
        v.list(Opt::Attestations, &self.attestations);
        v.scalar(Opt::ReportFile, self.report_file.as_ref());
        v.done()
    }
}

impl PromoteArgs {
    /// The flags as configuration over the `PACKAGE_PUBLISHER_*` variables.
    #[must_use]
    pub(crate) fn command_line(&self) -> CommandLine {
        let mut v = Values::new(PROMOTE_FLAGS);
        v.target(&self.target);
        v.scalar(Opt::PromoteFrom, Some(&self.from));
        v.list(Opt::PromoteTo, &self.to);
        v.items(Opt::Artifacts, self.patterns.clone());
        v.flag(Opt::DryRun, self.dry_run);
        v.scalar(Opt::StallTimeout, self.timeout);
        v.scalar(Opt::SettleTimeout, self.settle_timeout);
        v.scalar(Opt::ReportFile, self.report_file.as_ref());
        v.done()
    }
}

impl ApiTarget {
    /// The flags as configuration over the `PACKAGE_PUBLISHER_*` variables; `to` is
    /// `copy`'s destination.
    #[must_use]
    pub(crate) fn command_line(&self, to: Option<&String>) -> CommandLine {
        let mut v = Values::new(API_FLAGS);
        v.target(&self.target);
        v.scalar(Opt::Registry, self.registry.as_ref());
        v.scalar(Opt::StallTimeout, self.timeout);
        v.scalar(Opt::PromoteTo, to);
        v.done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag a table names exists on its subcommands, so a message can never
    /// name a flag the user cannot type.
    #[test]
    fn flag_tables_name_real_flags() {
        let cli = Cli::command();
        let tables: [(&[&str], Flags); 3] = [
            (&["publish"], PUBLISH_FLAGS),
            (&["promote"], PROMOTE_FLAGS),
            (&["list", "get", "copy", "delete"], API_FLAGS),
        ];
        for (subcommands, table) in tables {
            for name in subcommands {
                let sub = cli.find_subcommand(name).expect("subcommand exists");
                for (option, flag) in table {
                    let Some(long) = flag.strip_prefix("--") else {
                        continue;
                    };
                    if *option == Opt::PromoteTo && *name != "copy" && table == API_FLAGS {
                        continue;
                    }
                    assert!(
                        sub.get_arguments().any(|a| a.get_long() == Some(long)),
                        "{name} has no {flag}"
                    );
                }
            }
        }
    }

    #[test]
    fn choices_list_their_values_in_help() {
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut("publish")
            .expect("publish")
            .render_long_help()
            .to_string();
        assert!(help.contains("skip-identical"), "{help}");
        assert!(help.contains("presigned"), "{help}");
    }
}
