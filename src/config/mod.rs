//! The validated configuration of a run. Raw values are gathered from the platform's
//! source by [`sources`], then checked here once, in one place: nothing after this
//! module validates options again. The environment arrives as an injected map so tests
//! never touch the process environment.

pub mod error;
pub mod options;
pub mod sources;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::ci::Platform;
pub use error::ConfigError;
use error::show_value;
use options::Kind;
use sources::{RawMap, RawValue};

/// What to do when a pattern matches no file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfNoFilesFound {
    Error,
    Warn,
    Ignore,
}

/// What to do when a package's name and version are already in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfExists {
    /// Skip when the sha256 matches; fail when it differs.
    SkipIdentical,
    /// Skip whatever the content.
    Skip,
    /// Fail.
    Fail,
    /// Delete the existing package, then publish.
    Replace,
}

/// Whether OIDC may be used when no API token is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcMode {
    Auto,
    Required,
    Off,
}

/// How file bytes reach the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMethod {
    Auto,
    Direct,
    Presigned,
}

/// A validated configuration. Fields are private: nothing after this module changes
/// or re-validates it; callers read it through the accessors.
#[derive(Debug, Clone)]
pub struct Config {
    /// Organization slug.
    organization: String,
    /// Registry slug to publish to; `None` only in a promote-only step.
    registry: Option<String>,
    /// Glob patterns, in the order given (excludes start with `!`).
    artifacts: Vec<String>,
    /// Artifact queries for `buildkite-agent artifact download`.
    download: Vec<String>,
    /// Build to download from (`None`: this build).
    download_build: Option<String>,
    if_no_files_found: IfNoFilesFound,
    if_exists: IfExists,
    /// Registries to copy each package into after all publishes succeeded.
    promote_to: Vec<String>,
    /// Source registry of a promote-only step.
    promote_from: Option<String>,
    concurrency: usize,
    retries: u32,
    stall_timeout: Duration,
    /// Name of the variable holding an API token.
    api_token_env: String,
    oidc: OidcMode,
    /// Glob patterns of attestation files.
    attestations: Vec<String>,
    upload_method: UploadMethod,
    dry_run: bool,
    annotate: bool,
    annotation_context: Option<String>,
    report_file: Option<PathBuf>,
    /// API base URL, without a trailing slash.
    api_url: Url,
    /// Where the options came from, for the log.
    source: &'static str,
}

impl Config {
    /// Organization slug.
    #[must_use]
    pub fn organization(&self) -> &str {
        &self.organization
    }
    /// Registry slug to publish to; `None` only in a promote-only step.
    #[must_use]
    pub fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }
    /// Glob patterns, in the order given (excludes start with `!`).
    #[must_use]
    pub fn artifacts(&self) -> &[String] {
        &self.artifacts
    }
    /// Artifact queries for `buildkite-agent artifact download`.
    #[must_use]
    pub fn download(&self) -> &[String] {
        &self.download
    }
    /// Build to download from (`None`: this build).
    #[must_use]
    pub fn download_build(&self) -> Option<&str> {
        self.download_build.as_deref()
    }
    #[must_use]
    pub fn if_no_files_found(&self) -> IfNoFilesFound {
        self.if_no_files_found
    }
    #[must_use]
    pub fn if_exists(&self) -> IfExists {
        self.if_exists
    }
    /// Registries to copy each package into after all publishes succeeded.
    #[must_use]
    pub fn promote_to(&self) -> &[String] {
        &self.promote_to
    }
    /// Source registry of a promote-only step.
    #[must_use]
    pub fn promote_from(&self) -> Option<&str> {
        self.promote_from.as_deref()
    }
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }
    #[must_use]
    pub fn retries(&self) -> u32 {
        self.retries
    }
    #[must_use]
    pub fn stall_timeout(&self) -> Duration {
        self.stall_timeout
    }
    /// Name of the variable holding an API token.
    #[must_use]
    pub fn api_token_env(&self) -> &str {
        &self.api_token_env
    }
    #[must_use]
    pub fn oidc(&self) -> OidcMode {
        self.oidc
    }
    /// Glob patterns of attestation files.
    #[must_use]
    pub fn attestations(&self) -> &[String] {
        &self.attestations
    }
    #[must_use]
    pub fn upload_method(&self) -> UploadMethod {
        self.upload_method
    }
    #[must_use]
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }
    #[must_use]
    pub fn annotate(&self) -> bool {
        self.annotate
    }
    #[must_use]
    pub fn annotation_context(&self) -> Option<&str> {
        self.annotation_context.as_deref()
    }
    #[must_use]
    pub fn report_file(&self) -> Option<&std::path::Path> {
        self.report_file.as_deref()
    }
    /// API base URL.
    #[must_use]
    pub fn api_url(&self) -> &Url {
        &self.api_url
    }
    /// Where the options came from, for the log.
    #[must_use]
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The registry packages are taken from: the publish target, or `promote-from`.
    #[must_use]
    pub fn source_registry(&self) -> &str {
        self.registry
            .as_deref()
            .or(self.promote_from.as_deref())
            .unwrap_or_default()
    }
}

/// Reads and validates the configuration for `platform` from `vars`. `overrides`
/// (command-line flags) win over the environment.
pub fn load(vars: &BTreeMap<String, String>, platform: Platform, overrides: RawMap) -> Result<Config, ConfigError> {
    let (mut raw, source) = gather(vars, platform)?;
    raw.extend(overrides);
    validate(&raw, vars, platform, source)
}

/// Picks the source for the platform. On Buildkite the typed JSON wins over the
/// flattened variables; when the agent exported neither (it drops both when the YAML
/// holds a null), the local variables are the last resort, and if they are empty too
/// the error says why that usually happens.
fn gather(vars: &BTreeMap<String, String>, platform: Platform) -> Result<(RawMap, &'static str), ConfigError> {
    match platform {
        Platform::Buildkite => {
            if let Some(json) = vars.get("BUILDKITE_PLUGIN_CONFIGURATION") {
                return Ok((sources::from_buildkite_json(json)?, "BUILDKITE_PLUGIN_CONFIGURATION"));
            }
            if let Some(name) = vars.get("BUILDKITE_PLUGIN_NAME").filter(|n| !n.is_empty()) {
                return Ok((
                    sources::from_buildkite_flat(vars, name)?,
                    "BUILDKITE_PLUGIN_* variables",
                ));
            }
            let local = sources::from_local(vars)?;
            if local.is_empty() && vars.contains_key("BUILDKITE_PLUGINS") {
                return Err(ConfigError::Malformed {
                    origin: "the Buildkite plugin configuration".to_owned(),
                    detail: "the agent passed no BUILDKITE_PLUGIN_CONFIGURATION; it drops the \
                             whole configuration when any value in the plugin's YAML is null \
                             (a key with nothing after the colon)"
                        .to_owned(),
                });
            }
            Ok((local, "PACKAGE_PUBLISHER_* variables"))
        }
        Platform::GitHub => {
            let inputs = sources::from_github(vars)?;
            if inputs.is_empty() {
                Ok((sources::from_local(vars)?, "PACKAGE_PUBLISHER_* variables"))
            } else {
                Ok((inputs, "INPUT_* variables"))
            }
        }
        Platform::Local => Ok((sources::from_local(vars)?, "PACKAGE_PUBLISHER_* variables")),
    }
}

fn validate(
    raw: &RawMap,
    vars: &BTreeMap<String, String>,
    platform: Platform,
    source: &'static str,
) -> Result<Config, ConfigError> {
    let v = Validator { raw, platform };

    let promote_from = v.slug("promote-from")?;
    let (registry_org, registry) = match raw.get("registry") {
        Some(value) => {
            let (org, slug) = parse_registry(value)?;
            (org, Some(slug))
        }
        None => (None, None),
    };
    if registry.is_none() && promote_from.is_none() {
        return Err(ConfigError::Missing {
            option: "registry",
            hint: "give the registry slug (or `org/slug`) to publish to; only a promote-only \
                   step (with `promote-from`) may leave it out"
                .to_owned(),
        });
    }

    let explicit_org = v.slug("organization")?;
    let organization = match (explicit_org, registry_org) {
        (Some(a), Some(b)) if a != b => {
            return Err(ConfigError::Conflict(format!(
                "option `organization` is {a:?} but `registry` names the organization {b:?}; \
                 give the organization once"
            )));
        }
        (Some(org), _) | (None, Some(org)) => org,
        (None, None) => match vars.get("BUILDKITE_ORGANIZATION_SLUG").filter(|s| !s.is_empty()) {
            Some(org) => check_slug("organization", "BUILDKITE_ORGANIZATION_SLUG", org)?,
            None => {
                return Err(ConfigError::Missing {
                    option: "organization",
                    hint: "set `organization`, write `registry` as `org/slug`, or set \
                           BUILDKITE_ORGANIZATION_SLUG (Buildkite sets it for every job)"
                        .to_owned(),
                });
            }
        },
    };

    let artifacts = v.patterns("artifacts")?;
    if artifacts.is_empty() && promote_from.is_none() {
        return Err(ConfigError::Missing {
            option: "artifacts",
            hint: "give one or more glob patterns of files to publish, for example `dist/*.deb`".to_owned(),
        });
    }
    if !artifacts.is_empty() && artifacts.iter().all(|p| p.starts_with('!')) {
        return Err(ConfigError::Invalid {
            option: "artifacts",
            origin: raw["artifacts"].origin.clone(),
            value: show_value(&artifacts.join(", ")),
            accepted: "at least one pattern must include files (only `!` excludes were given)".to_owned(),
        });
    }

    let download = v.list("download");
    if !download.is_empty() && platform != Platform::Buildkite {
        return Err(ConfigError::Invalid {
            option: "download",
            origin: raw["download"].origin.clone(),
            value: show_value(&download.join(", ")),
            accepted: "`download` works only on Buildkite, where `buildkite-agent artifact \
                       download` is available"
                .to_owned(),
        });
    }

    let mut promote_to = Vec::new();
    if let Some(value) = raw.get("promote-to") {
        for item in &value.items {
            let slug = check_slug("promote-to", &value.origin, item)?;
            let source_registry = registry.as_deref().or(promote_from.as_deref());
            if source_registry == Some(slug.as_str()) {
                return Err(ConfigError::Invalid {
                    option: "promote-to",
                    origin: value.origin.clone(),
                    value: show_value(item),
                    accepted: "a destination must differ from the registry the packages come \
                               from"
                        .to_owned(),
                });
            }
            if !promote_to.contains(&slug) {
                promote_to.push(slug);
            }
        }
    }
    if promote_from.is_some() && promote_to.is_empty() {
        return Err(ConfigError::Missing {
            option: "promote-to",
            hint: "a promote-only step (`promote-from`) needs at least one destination".to_owned(),
        });
    }
    if let (Some(from), Some(to)) = (&promote_from, &registry) {
        if from != to {
            return Err(ConfigError::Conflict(format!(
                "`promote-from` ({from:?}) and `registry` ({to:?}) disagree: a promote-only step \
                 needs only `promote-from`"
            )));
        }
    }

    let api_token_env = match raw.get("api-token-env") {
        Some(value) => {
            let name = value.joined();
            let ok = !name.is_empty()
                && !error::looks_like_token(&name)
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(ConfigError::Invalid {
                    option: "api-token-env",
                    origin: value.origin.clone(),
                    value: show_value(&name),
                    accepted: "it takes the name of an environment variable (letters, digits \
                               and `_`), not the token itself"
                        .to_owned(),
                });
            }
            name
        }
        None => "BUILDKITE_API_TOKEN".to_owned(),
    };

    let annotation_context = match raw.get("annotation-context") {
        Some(value) => {
            let text = value.joined();
            if text.chars().count() > 100 || text.contains(['\n', '\r']) {
                return Err(ConfigError::Invalid {
                    option: "annotation-context",
                    origin: value.origin.clone(),
                    value: show_value(&text),
                    accepted: "a single line of at most 100 characters (Buildkite's limit)".to_owned(),
                });
            }
            Some(text)
        }
        None => None,
    };

    Ok(Config {
        organization,
        registry,
        artifacts,
        download,
        download_build: v.text("download-build"),
        if_no_files_found: match v.choice("if-no-files-found")? {
            "warn" => IfNoFilesFound::Warn,
            "ignore" => IfNoFilesFound::Ignore,
            _ => IfNoFilesFound::Error,
        },
        if_exists: match v.choice("if-exists")? {
            "skip" => IfExists::Skip,
            "fail" => IfExists::Fail,
            "replace" => IfExists::Replace,
            _ => IfExists::SkipIdentical,
        },
        promote_to,
        promote_from,
        concurrency: usize::try_from(v.number("concurrency", 4, 1, 64)?).unwrap_or(4),
        retries: u32::try_from(v.number("retries", 5, 0, 20)?).unwrap_or(5),
        stall_timeout: Duration::from_secs(v.number("stall-timeout", 60, 1, 3600)?),
        api_token_env,
        oidc: match v.choice("oidc")? {
            "true" => OidcMode::Required,
            "false" => OidcMode::Off,
            _ => OidcMode::Auto,
        },
        attestations: v.patterns("attestations")?,
        upload_method: match v.choice("upload-method")? {
            "direct" => UploadMethod::Direct,
            "presigned" => UploadMethod::Presigned,
            _ => UploadMethod::Auto,
        },
        dry_run: v.boolean("dry-run", false)?,
        annotate: v.boolean("annotate", true)?,
        annotation_context,
        report_file: v.text("report-file").map(PathBuf::from),
        api_url: v.api_url()?,
        source,
    })
}

/// Reads typed values out of the raw map, producing errors that name the option.
struct Validator<'a> {
    raw: &'a RawMap,
    platform: Platform,
}

impl Validator<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.raw.get(name).map(RawValue::joined).filter(|s| !s.is_empty())
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.raw.get(name).map(|v| v.items.clone()).unwrap_or_default()
    }

    fn slug(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        match self.raw.get(name) {
            Some(value) => check_slug(name, &value.origin, &value.joined()).map(Some),
            None => Ok(None),
        }
    }

    fn invalid(&self, name: &'static str, value: &str, accepted: String) -> ConfigError {
        ConfigError::Invalid {
            option: name,
            origin: self.raw.get(name).map(|v| v.origin.clone()).unwrap_or_default(),
            value: show_value(value),
            accepted,
        }
    }

    fn choice(&self, name: &'static str) -> Result<&'static str, ConfigError> {
        let spec = options::find(name).expect("option is in the table");
        let Kind::Choice(choices) = spec.kind else {
            unreachable!("{name} is a choice option")
        };
        match self.text(name) {
            None => Ok(spec.default),
            Some(value) => choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(value.trim()))
                .copied()
                .ok_or_else(|| self.invalid(name, &value, format!("it accepts one of: {}", choices.join(", ")))),
        }
    }

    fn number(&self, name: &'static str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        match self.text(name) {
            None => Ok(default),
            Some(value) => match value.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(self.invalid(name, &value, format!("it accepts a whole number from {min} to {max}"))),
            },
        }
    }

    /// Booleans as each platform writes them: GitHub's toolkit accepts only
    /// `true|True|TRUE|false|False|FALSE`; Buildkite plugins conventionally also take
    /// `on`/`off` and `1`/`0`.
    fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        let Some(value) = self.text(name) else {
            return Ok(default);
        };
        let v = value.trim();
        match v {
            "true" | "True" | "TRUE" => return Ok(true),
            "false" | "False" | "FALSE" => return Ok(false),
            _ => {}
        }
        if self.platform != Platform::GitHub {
            match v.to_ascii_lowercase().as_str() {
                "on" | "1" | "yes" => return Ok(true),
                "off" | "0" | "no" => return Ok(false),
                _ => {}
            }
        }
        let accepted = if self.platform == Platform::GitHub {
            "it accepts true, True, TRUE, false, False or FALSE (as the Actions toolkit does)"
        } else {
            "it accepts true or false (also on/off, 1/0)"
        };
        Err(self.invalid(name, &value, accepted.to_owned()))
    }

    /// Glob patterns: each must compile, stay relative, and not climb out of the
    /// working directory.
    fn patterns(&self, name: &'static str) -> Result<Vec<String>, ConfigError> {
        let raw = self.list(name);
        // An absolute path is refused before normalising, which would drop its `/`.
        if let Some(abs) = raw
            .iter()
            .find(|p| p.strip_prefix('!').unwrap_or(p).starts_with(['/', '\\']))
        {
            return Err(self.invalid(
                name,
                abs,
                "patterns are relative to the working directory (the checkout): write `dist/*.deb`, not an absolute path".to_owned(),
            ));
        }
        let items: Vec<String> = raw.iter().map(|p| normalize_pattern(p)).collect();
        for item in &items {
            let body = item.strip_prefix('!').unwrap_or(item);
            if body.is_empty() {
                return Err(self.invalid(name, item, "a pattern after `!` must not be empty".to_owned()));
            }
            if body.starts_with('/') || body.starts_with('\\') || body.split(['/', '\\']).any(|c| c == "..") {
                return Err(self.invalid(
                    name,
                    item,
                    "patterns are relative to the working directory and may not contain `..` \
                     or start with `/`"
                        .to_owned(),
                ));
            }
            if let Err(err) = glob::Pattern::new(body) {
                return Err(self.invalid(
                    name,
                    item,
                    format!(
                        "it is not a valid glob pattern ({}); use `*`, `?`, `**` and `[...]`",
                        err.msg
                    ),
                ));
            }
        }
        Ok(items)
    }

    fn api_url(&self) -> Result<Url, ConfigError> {
        let Some(text) = self.text("api-url") else {
            return Ok(Url::parse("https://api.buildkite.com").expect("valid default URL"));
        };
        let accepted = "it accepts an http:// or https:// URL such as https://api.buildkite.com";
        let url = Url::parse(text.trim()).map_err(|_| self.invalid("api-url", &text, accepted.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(self.invalid("api-url", &text, accepted.to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.invalid(
                "api-url",
                "(a URL with credentials, not shown)",
                "credentials do not belong in the URL; put the token in the variable named by \
                 `api-token-env`"
                    .to_owned(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.invalid("api-url", &text, "the base URL takes no query or fragment".to_owned()));
        }
        Ok(url)
    }
}

/// Drops `./` components and doubled slashes, so `./dist//*.deb` is `dist/*.deb`
/// (paths are matched relative to the working directory without them).
fn normalize_pattern(pattern: &str) -> String {
    let (bang, body) = match pattern.strip_prefix('!') {
        Some(rest) => ("!", rest),
        None => ("", pattern),
    };
    let parts: Vec<&str> = body.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    format!("{bang}{}", parts.join("/"))
}

/// Splits `registry` into an optional organization and the registry slug.
fn parse_registry(value: &RawValue) -> Result<(Option<String>, String), ConfigError> {
    let text = value.joined();
    let parts: Vec<&str> = text.trim().split('/').collect();
    match parts.as_slice() {
        [slug] => Ok((None, check_slug("registry", &value.origin, slug)?)),
        [org, slug] => Ok((
            Some(check_slug("registry", &value.origin, org)?),
            check_slug("registry", &value.origin, slug)?,
        )),
        _ => Err(ConfigError::Invalid {
            option: "registry",
            origin: value.origin.clone(),
            value: show_value(&text),
            accepted: "it accepts a registry slug (`my-registry`) or `organization/registry`, \
                       with at most one `/`"
                .to_owned(),
        }),
    }
}

/// A Buildkite slug: lower-case letters, digits and hyphens, not starting with a hyphen.
fn check_slug(option: &'static str, origin: &str, value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= 100
        && !v.starts_with('-')
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(v.to_owned())
    } else {
        let mut accepted = "a slug has only lower-case letters, digits, `-` and `_` (the registry's name in \
             kebab-case)"
            .to_owned();
        if v.chars().any(|c| c.is_ascii_uppercase()) {
            accepted.push_str("; slugs are lower-case");
        }
        Err(ConfigError::Invalid {
            option,
            origin: origin.to_owned(),
            value: show_value(value),
            accepted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn local(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load(&vars(pairs), Platform::Local, RawMap::new())
    }

    #[test]
    fn minimal_local_config_has_the_documented_defaults() {
        let c = local(&[
            ("PACKAGE_PUBLISHER_REGISTRY", "acme/debs"),
            ("PACKAGE_PUBLISHER_ARTIFACTS", "dist/*.deb"),
        ])
        .unwrap();
        assert_eq!(c.organization, "acme");
        assert_eq!(c.registry.as_deref(), Some("debs"));
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.retries, 5);
        assert_eq!(c.stall_timeout, Duration::from_secs(60));
        assert_eq!(c.if_exists, IfExists::SkipIdentical);
        assert_eq!(c.if_no_files_found, IfNoFilesFound::Error);
        assert_eq!(c.api_token_env, "BUILDKITE_API_TOKEN");
        assert!(c.annotate && !c.dry_run);
        assert_eq!(c.api_url.as_str(), "https://api.buildkite.com/");
    }

    #[test]
    fn buildkite_json_lists_and_types() {
        let json = r#"{"registry":"debs","artifacts":["dist/*.deb","!dist/*-dbg*"],"concurrency":8,"dry-run":true}"#;
        let c = load(
            &vars(&[
                ("BUILDKITE_PLUGIN_CONFIGURATION", json),
                ("BUILDKITE_ORGANIZATION_SLUG", "acme"),
            ]),
            Platform::Buildkite,
            RawMap::new(),
        )
        .unwrap();
        assert_eq!(c.artifacts, vec!["dist/*.deb", "!dist/*-dbg*"]);
        assert_eq!(c.concurrency, 8);
        assert!(c.dry_run);
        assert_eq!(c.organization, "acme");
    }

    #[test]
    fn buildkite_flat_variables_use_the_plugin_name_prefix() {
        let c = load(
            &vars(&[
                ("BUILDKITE_PLUGIN_NAME", "MY_FORK"),
                ("BUILDKITE_PLUGIN_MY_FORK_REGISTRY", "acme/debs"),
                ("BUILDKITE_PLUGIN_MY_FORK_ARTIFACTS_0", "a/*.deb"),
                ("BUILDKITE_PLUGIN_MY_FORK_ARTIFACTS_1", "b/*.deb"),
                ("BUILDKITE_PLUGIN_MY_FORK_IF_EXISTS", "skip"),
            ]),
            Platform::Buildkite,
            RawMap::new(),
        )
        .unwrap();
        assert_eq!(c.artifacts, vec!["a/*.deb", "b/*.deb"]);
        assert_eq!(c.if_exists, IfExists::Skip);
    }

    #[test]
    fn github_inputs_accept_both_spellings_and_comma_lists() {
        let c = load(
            &vars(&[
                ("INPUT_REGISTRY", " acme/debs "),
                ("INPUT_ARTIFACTS", "a/*.deb, b/*.rpm"),
                ("INPUT_IF-EXISTS", "replace"),
                ("INPUT_DRY_RUN", "True"),
                ("INPUT_REPORT-FILE", ""),
            ]),
            Platform::GitHub,
            RawMap::new(),
        )
        .unwrap();
        assert_eq!(c.artifacts, vec!["a/*.deb", "b/*.rpm"]);
        assert_eq!(c.if_exists, IfExists::Replace);
        assert!(c.dry_run);
        assert!(c.report_file.is_none());
    }

    #[test]
    fn github_rejects_booleans_the_toolkit_rejects() {
        let err = load(
            &vars(&[
                ("INPUT_REGISTRY", "acme/debs"),
                ("INPUT_ARTIFACTS", "x"),
                ("INPUT_DRY-RUN", "yes"),
            ]),
            Platform::GitHub,
            RawMap::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("INPUT_DRY-RUN"), "{err}");
    }

    #[test]
    fn patterns_are_normalized() {
        let c = local(&[
            ("PACKAGE_PUBLISHER_REGISTRY", "acme/debs"),
            ("PACKAGE_PUBLISHER_ARTIFACTS", "./dist//*.deb\n!./dist/x.deb"),
        ])
        .unwrap();
        assert_eq!(c.artifacts, vec!["dist/*.deb", "!dist/x.deb"]);
    }

    #[test]
    fn unknown_key_suggests_the_nearest_option() {
        let err = local(&[
            ("PACKAGE_PUBLISHER_REGISTRY", "acme/debs"),
            ("PACKAGE_PUBLISHER_ARTIFACTS", "x"),
            ("PACKAGE_PUBLISHER_CONCURENCY", "3"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("did you mean `concurrency`"), "{err}");
    }

    #[test]
    fn null_in_plugin_json_points_at_the_key() {
        let err = load(
            &vars(&[(
                "BUILDKITE_PLUGIN_CONFIGURATION",
                r#"{"registry":"a/b","artifacts":null}"#,
            )]),
            Platform::Buildkite,
            RawMap::new(),
        )
        .unwrap_err();
        assert!(
            matches!(err, ConfigError::Null { ref option, .. } if option == "artifacts"),
            "{err}"
        );
    }

    #[test]
    fn token_shaped_values_are_never_echoed() {
        let err = local(&[
            ("PACKAGE_PUBLISHER_REGISTRY", "acme/debs"),
            ("PACKAGE_PUBLISHER_ARTIFACTS", "x"),
            ("PACKAGE_PUBLISHER_API_TOKEN_ENV", "bkua_0123456789abcdef"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("bkua_0123"), "{text}");
        assert!(text.contains("api-token-env"), "{text}");
    }
}
