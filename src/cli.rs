//! The command line. With no subcommand the binary runs the CI job from the
//! environment (how the plugin and the action call it). Subcommands give people every
//! Packages API operation from a terminal: `publish`, `promote`, `list`, `get`,
//! `copy`, `delete`. The token is never a flag (it would land in shell history and
//! process listings): it comes from `BUILDKITE_API_TOKEN`.

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};

use crate::config::sources::{RawMap, RawValue};

const EXAMPLES: &str = "\
Examples:
  # In CI: configuration comes from the plugin / action / PACKAGE_PUBLISHER_* variables
  package-publisher

  # From a terminal (token in BUILDKITE_API_TOKEN, org in BUILDKITE_ORGANIZATION_SLUG or --org)
  package-publisher publish --registry debs 'dist/*.deb'
  package-publisher list --registry debs --name hello
  package-publisher copy --registry staging --to production 0191e8a2-...
  package-publisher delete --registry debs 0191e8a2-... --yes";

/// Publish and promote packages to Buildkite Package Registries.
#[derive(Debug, Parser)]
#[command(name = "package-publisher", version, about, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish files matching glob patterns (like the CI job, with flags).
    #[command(
        after_help = "Example:\n  package-publisher publish --registry acme/debs 'dist/*.deb' '!dist/*-dbg*.deb' --dry-run"
    )]
    Publish(PublishArgs),
    /// Copy packages from one registry into others (a promote-only step).
    #[command(
        after_help = "Examples:\n  package-publisher promote --from staging --to production 'dist/*.deb'\n  package-publisher promote --from staging --to production   # on Buildkite: the packages an earlier step published"
    )]
    Promote(PromoteArgs),
    /// List the packages of a registry, following every page.
    #[command(
        after_help = "Examples:\n  package-publisher list --registry debs\n  package-publisher list --registry debs --name hello --limit 10 --json"
    )]
    List(ListArgs),
    /// Show one package.
    #[command(after_help = "Example:\n  package-publisher get --registry debs 0191e8a2-...")]
    Get(IdArgs),
    /// Copy one package into another registry.
    #[command(after_help = "Example:\n  package-publisher copy --registry staging --to production 0191e8a2-...")]
    Copy(CopyArgs),
    /// Delete one package (asks first on a terminal; needs --yes otherwise).
    #[command(after_help = "Example:\n  package-publisher delete --registry debs 0191e8a2-... --yes")]
    Delete(DeleteArgs),
}

/// Where a command talks to.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Organization slug [default: BUILDKITE_ORGANIZATION_SLUG]
    #[arg(long, value_name = "SLUG")]
    pub org: Option<String>,
    /// Packages API base URL [default: PACKAGE_PUBLISHER_API_URL or https://api.buildkite.com]
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
}

/// `publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
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
    /// skip-identical, skip, fail or replace
    #[arg(long, value_name = "POLICY")]
    pub if_exists: Option<String>,
    /// error, warn or ignore
    #[arg(long, value_name = "POLICY")]
    pub if_no_files_found: Option<String>,
    /// Parallel uploads
    #[arg(long, value_name = "N")]
    pub concurrency: Option<String>,
    /// Retries for transient failures
    #[arg(long, value_name = "N")]
    pub retries: Option<String>,
    /// Seconds without progress before an upload is retried
    #[arg(long, value_name = "SECONDS")]
    pub stall_timeout: Option<String>,
    /// auto, direct or presigned
    #[arg(long, value_name = "METHOD")]
    pub upload_method: Option<String>,
    /// Registries to copy every package into afterwards
    #[arg(long, value_name = "REGISTRY")]
    pub promote_to: Vec<String>,
    /// Attestation files (globs) to send with every package
    #[arg(long, value_name = "PATTERN")]
    pub attestations: Vec<String>,
    /// Write the JSON report here
    #[arg(long, value_name = "PATH")]
    pub report_file: Option<String>,
}

/// `promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub target: Target,
    /// The registry the packages are in
    #[arg(long, value_name = "REGISTRY")]
    pub from: String,
    /// Destination registries
    #[arg(long, value_name = "REGISTRY", required = true)]
    pub to: Vec<String>,
    /// Files identifying the packages (by name, version and sha256)
    #[arg(value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Check everything, copy nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write the JSON report here
    #[arg(long, value_name = "PATH")]
    pub report_file: Option<String>,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub target: Target,
    /// Registry slug
    #[arg(long)]
    pub registry: String,
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
pub struct IdArgs {
    #[command(flatten)]
    pub target: Target,
    /// Registry slug
    #[arg(long)]
    pub registry: String,
    /// Package id
    pub id: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    #[command(flatten)]
    pub target: Target,
    /// Source registry slug
    #[arg(long)]
    pub registry: String,
    /// Destination registry slug
    #[arg(long)]
    pub to: String,
    /// Package id
    pub id: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub target: Target,
    /// Registry slug
    #[arg(long)]
    pub registry: String,
    /// Package id
    pub id: String,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Parses the arguments.
pub fn parse(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(args)
}

fn put(map: &mut RawMap, name: &'static str, flag: &str, value: Option<&String>) {
    if let Some(v) = value {
        map.insert(name, RawValue::scalar(v.clone(), format!("--{flag}")));
    }
}

fn put_list(map: &mut RawMap, name: &'static str, origin: &str, values: &[String]) {
    if !values.is_empty() {
        map.insert(
            name,
            RawValue {
                items: values.to_vec(),
                origin: origin.to_owned(),
            },
        );
    }
}

fn put_target(map: &mut RawMap, target: &Target) {
    put(map, "organization", "org", target.org.as_ref());
    put(map, "api-url", "api-url", target.api_url.as_ref());
}

impl PublishArgs {
    /// The flags as configuration overrides.
    #[must_use]
    pub fn overrides(&self) -> RawMap {
        let mut m = RawMap::new();
        put_target(&mut m, &self.target);
        put(&mut m, "registry", "registry", self.registry.as_ref());
        put_list(&mut m, "artifacts", "the PATTERN arguments", &self.patterns);
        if self.dry_run {
            m.insert("dry-run", RawValue::scalar("true", "--dry-run"));
        }
        put(&mut m, "if-exists", "if-exists", self.if_exists.as_ref());
        put(
            &mut m,
            "if-no-files-found",
            "if-no-files-found",
            self.if_no_files_found.as_ref(),
        );
        put(&mut m, "concurrency", "concurrency", self.concurrency.as_ref());
        put(&mut m, "retries", "retries", self.retries.as_ref());
        put(&mut m, "stall-timeout", "stall-timeout", self.stall_timeout.as_ref());
        put(&mut m, "upload-method", "upload-method", self.upload_method.as_ref());
        put_list(&mut m, "promote-to", "--promote-to", &self.promote_to);
        put_list(&mut m, "attestations", "--attestations", &self.attestations);
        put(&mut m, "report-file", "report-file", self.report_file.as_ref());
        m
    }
}

impl PromoteArgs {
    /// The flags as configuration overrides.
    #[must_use]
    pub fn overrides(&self) -> RawMap {
        let mut m = RawMap::new();
        put_target(&mut m, &self.target);
        m.insert("promote-from", RawValue::scalar(self.from.clone(), "--from"));
        put_list(&mut m, "promote-to", "--to", &self.to);
        put_list(&mut m, "artifacts", "the PATTERN arguments", &self.patterns);
        if self.dry_run {
            m.insert("dry-run", RawValue::scalar("true", "--dry-run"));
        }
        put(&mut m, "report-file", "report-file", self.report_file.as_ref());
        m
    }
}
