//! The configuration, validated section by section: where packages go (the registries
//! and their organization), which files (artifacts, downloads, attestations), how they
//! are uploaded, how the API is reached (URL, credentials, time limit), and what is
//! reported. Each section is one function over the [`Validator`]; a job's
//! configuration is all of them, an API subcommand's is a registry and the connection.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use super::error::{ConfigError, looks_like_token, show_value};
use super::options::Opt;
use super::patterns::Patterns;
use super::platform::Platform;
use super::validate::{RegistryRef, Validator, check_slug};
use super::values::{IfExists, IfNoFilesFound, OidcMode, UploadMethod};

/// Where packages go: `registry`, `promote-from`, `promote-to`, `organization`.
#[derive(Debug, Clone)]
pub(super) struct Registries {
    pub organization: String,
    pub mode: Mode,
    /// Destinations, de-duplicated, in the order given.
    pub promote_to: Vec<String>,
}

/// What a job does, and with which registry: the one it publishes to, or the one a
/// promote-only step copies from. A job always has exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Publish the matched files to `registry` (and promote them, with `promote-to`).
    Publish { registry: String },
    /// A promote-only step: copy packages already in `promote-from`, upload nothing.
    PromoteOnly { from: String },
}

impl Mode {
    /// The registry packages are taken from: the publish target, or `promote-from`.
    #[must_use]
    pub(crate) fn source(&self) -> &str {
        match self {
            Mode::Publish { registry } => registry,
            Mode::PromoteOnly { from } => from,
        }
    }
}

pub(super) fn registries(v: &Validator<'_>, vars: &BTreeMap<String, String>) -> Result<Registries, ConfigError> {
    let registry = v.registry(Opt::Registry)?;
    let promote_from = v.registry(Opt::PromoteFrom)?;
    let (source, source_option) = match (&registry, &promote_from) {
        (None, None) => {
            let hint = if v.spelling.is_flags() {
                "give the registry slug (or `org/slug`) to publish to".to_owned()
            } else {
                format!(
                    "give the registry slug (or `org/slug`) to publish to; only a promote-only step \
                     (with {}) may leave it out",
                    v.spelling.name(Opt::PromoteFrom)
                )
            };
            return Err(v.missing(Opt::Registry, hint));
        }
        (Some(to), Some(from)) if to.slug != from.slug => {
            return Err(ConfigError::Conflict(format!(
                "{} ({:?}) and {} ({:?}) disagree: a promote-only step needs only {}",
                v.said(Opt::PromoteFrom),
                from.slug,
                v.said(Opt::Registry),
                to.slug,
                v.spelling.name(Opt::PromoteFrom)
            )));
        }
        (Some(r), _) => (r.slug.clone(), Opt::Registry),
        (None, Some(r)) => (r.slug.clone(), Opt::PromoteFrom),
    };
    let implied = [
        (Opt::Registry, registry.as_ref()),
        (Opt::PromoteFrom, promote_from.as_ref()),
    ];
    let organization = organization(v, vars, &implied, source_option)?;
    let promote_to = destinations(v, &organization, &source, v.registries(Opt::PromoteTo)?)?;
    if promote_from.is_some() && promote_to.is_empty() {
        return Err(v.missing(
            Opt::PromoteTo,
            format!(
                "a promote-only step ({}) needs at least one destination",
                v.spelling.name(Opt::PromoteFrom)
            ),
        ));
    }
    let mode = match promote_from {
        Some(from) => Mode::PromoteOnly { from: from.slug },
        None => Mode::Publish { registry: source },
    };
    Ok(Registries {
        organization,
        mode,
        promote_to,
    })
}

/// What an API subcommand works on: one registry, and for `copy` a destination.
#[derive(Debug, Clone)]
pub(super) struct ApiTarget {
    pub organization: String,
    pub registry: String,
    pub destination: Option<String>,
}

pub(super) fn api_target(v: &Validator<'_>, vars: &BTreeMap<String, String>) -> Result<ApiTarget, ConfigError> {
    let registry = v
        .registry(Opt::Registry)?
        .ok_or_else(|| v.missing(Opt::Registry, "give the registry slug, or `org/slug`".to_owned()))?;
    let organization = organization(v, vars, &[(Opt::Registry, Some(&registry))], Opt::Registry)?;
    let destination = destinations(v, &organization, &registry.slug, v.registries(Opt::PromoteTo)?)?;
    Ok(ApiTarget {
        organization,
        registry: registry.slug,
        destination: destination.into_iter().next(),
    })
}

/// The organization: `organization`, or the one the registry options name (they must
/// agree), or `BUILDKITE_ORGANIZATION_SLUG`. `source_option` is the registry option
/// the user gave, for the hint.
fn organization(
    v: &Validator<'_>,
    vars: &BTreeMap<String, String>,
    implied: &[(Opt, Option<&RegistryRef>)],
    source_option: Opt,
) -> Result<String, ConfigError> {
    let mut found = v.slug(Opt::Organization)?.map(|org| (org, v.said(Opt::Organization)));
    for (option, reference) in implied {
        let Some(org) = reference.and_then(|r| r.org.as_ref()) else {
            continue;
        };
        match &found {
            Some((have, who)) if have != org => {
                return Err(ConfigError::Conflict(format!(
                    "{who} is {have:?} but {} names the organization {org:?}; give the organization once",
                    v.said(*option)
                )));
            }
            Some(_) => {}
            None => found = Some((org.clone(), v.said(*option))),
        }
    }
    if let Some((org, _)) = found {
        return Ok(org);
    }
    match vars.get("BUILDKITE_ORGANIZATION_SLUG").filter(|s| !s.is_empty()) {
        Some(org) => check_slug(Opt::Organization, "BUILDKITE_ORGANIZATION_SLUG", org),
        None => Err(v.missing(
            Opt::Organization,
            format!(
                "give it, write {} as `org/slug`, or set BUILDKITE_ORGANIZATION_SLUG (Buildkite sets \
                 it for every job)",
                v.spelling.name(source_option)
            ),
        )),
    }
}

/// The copy destinations: in the organization, other than the source, each once.
fn destinations(
    v: &Validator<'_>,
    organization: &str,
    source: &str,
    wanted: Vec<RegistryRef>,
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for r in wanted {
        let shown = r
            .org
            .as_ref()
            .map_or_else(|| r.slug.clone(), |o| format!("{o}/{}", r.slug));
        if r.org.as_ref().is_some_and(|o| o != organization) {
            return Err(v.invalid(
                Opt::PromoteTo,
                &shown,
                format!("packages are copied within one organization, here {organization:?}"),
            ));
        }
        if r.slug == source {
            return Err(v.invalid(
                Opt::PromoteTo,
                &shown,
                "a destination must differ from the registry the packages come from".to_owned(),
            ));
        }
        if !out.contains(&r.slug) {
            out.push(r.slug);
        }
    }
    Ok(out)
}

/// Which files: `artifacts`, `download`, `download-build`, `if-no-files-found`,
/// `attestations`.
#[derive(Debug, Clone)]
pub(super) struct Files {
    pub artifacts: Patterns,
    pub download: Vec<String>,
    pub download_build: Option<String>,
    pub if_no_files_found: IfNoFilesFound,
    pub attestations: Patterns,
}

pub(super) fn files(v: &Validator<'_>, promote_only: bool) -> Result<Files, ConfigError> {
    let artifacts = v.patterns(Opt::Artifacts)?;
    if artifacts.is_empty() && !promote_only {
        return Err(v.missing(
            Opt::Artifacts,
            "give one or more glob patterns of files to publish, for example `dist/*.deb`".to_owned(),
        ));
    }
    if !artifacts.is_empty() && artifacts.includes().next().is_none() {
        return Err(v.invalid(
            Opt::Artifacts,
            &artifacts.texts().join(", "),
            "at least one pattern must include files (only `!` excludes were given)".to_owned(),
        ));
    }
    let download = v.list(Opt::Download);
    if !download.is_empty() && v.platform != Platform::Buildkite {
        return Err(v.invalid(
            Opt::Download,
            &download.join(", "),
            "downloads work only on Buildkite, where `buildkite-agent artifact download` is available".to_owned(),
        ));
    }
    Ok(Files {
        artifacts,
        download,
        download_build: v.text(Opt::DownloadBuild),
        if_no_files_found: v.choice(Opt::IfNoFilesFound)?,
        attestations: v.patterns(Opt::Attestations)?,
    })
}

/// How files are uploaded: `if-exists`, `upload-method`, `concurrency`, `retries`,
/// `settle-timeout`, `dry-run`.
#[derive(Debug, Clone)]
#[allow(clippy::struct_field_names, reason = "the options' own names")]
pub(super) struct Upload {
    pub if_exists: IfExists,
    pub upload_method: UploadMethod,
    pub concurrency: usize,
    pub retries: u32,
    pub settle: Duration,
    pub dry_run: bool,
}

pub(super) fn upload(v: &Validator<'_>) -> Result<Upload, ConfigError> {
    Ok(Upload {
        if_exists: v.choice(Opt::IfExists)?,
        upload_method: v.choice(Opt::UploadMethod)?,
        concurrency: usize::try_from(v.number(Opt::Concurrency)?).expect("the table's range fits"),
        retries: u32::try_from(v.number(Opt::Retries)?).expect("the table's range fits"),
        settle: Duration::from_secs(v.number(Opt::SettleTimeout)?),
        dry_run: v.boolean(Opt::DryRun)?,
    })
}

/// How the API is reached: `api-url`, `api-token-env`, `oidc`, and `stall-timeout`,
/// which also bounds every JSON call.
#[derive(Debug, Clone)]
pub(super) struct Connection {
    pub api_url: Url,
    pub api_token_env: String,
    pub oidc: OidcMode,
    pub timeout: Duration,
}

pub(super) fn connection(v: &Validator<'_>) -> Result<Connection, ConfigError> {
    let api_token_env = match v.text(Opt::ApiTokenEnv) {
        Some(name) => {
            let ok = !looks_like_token(&name)
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(v.invalid(
                    Opt::ApiTokenEnv,
                    &name,
                    "it takes the name of an environment variable (letters, digits and `_`), not \
                     the token itself"
                        .to_owned(),
                ));
            }
            name
        }
        None => "BUILDKITE_API_TOKEN".to_owned(),
    };
    Ok(Connection {
        api_url: v.api_url()?,
        api_token_env,
        oidc: v.choice(Opt::Oidc)?,
        timeout: Duration::from_secs(v.number(Opt::StallTimeout)?),
    })
}

/// What is reported: `annotate`, `annotation-context`, `report-file`.
#[derive(Debug, Clone)]
pub(super) struct Reporting {
    pub annotate: bool,
    pub annotation_context: Option<String>,
    pub report_file: Option<PathBuf>,
}

pub(super) fn reporting(v: &Validator<'_>) -> Result<Reporting, ConfigError> {
    let annotation_context = v.text(Opt::AnnotationContext);
    if let Some(text) = &annotation_context {
        if text.chars().count() > 100 || text.contains(['\n', '\r']) {
            return Err(ConfigError::Invalid {
                option: Opt::AnnotationContext.name(),
                origin: v.said(Opt::AnnotationContext),
                value: show_value(text),
                accepted: "it accepts a single line of at most 100 characters (Buildkite's limit)".to_owned(),
            });
        }
    }
    Ok(Reporting {
        annotate: v.boolean(Opt::Annotate)?,
        annotation_context,
        report_file: v.text(Opt::ReportFile).map(PathBuf::from),
    })
}
