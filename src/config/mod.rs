//! The validated configuration of a run. Raw values are gathered from the platform's
//! source by [`sources`] (with command-line flags on top), then checked once, section
//! by section (`sections`, reading values with `validate`); nothing after this
//! module validates options again. Every message names an option the way the user
//! wrote it ([`spelling`]). The environment arrives as an injected map so tests never
//! touch the process environment. Nothing here depends on the CI adapter: the
//! [`Platform`] is decided here (`platform`), from the environment, and the adapter
//! reads it. The network settings (certificates to trust, proxies, the CI job for
//! the `User-Agent`) are read here too (`network`), so the HTTP client is built from
//! the injected map alone. The submodules import one another, never this one.

pub(crate) mod error;
mod network;
pub(crate) mod options;
mod patterns;
mod platform;
mod sections;
pub(crate) mod sources;
pub(crate) mod spelling;
mod validate;
pub(crate) mod values;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;

pub(crate) use error::ConfigError;
pub(crate) use network::Network;
pub(crate) use options::Opt;
pub(crate) use patterns::{Pattern, Patterns};
pub(crate) use platform::Platform;
pub(crate) use sections::Mode;
use sections::{ApiTarget, Connection, Files, Registries, Reporting, Upload};
use sources::RawMap;
pub(crate) use spelling::Spelling;
use validate::Validator;
pub(crate) use values::{Choice, IfExists, IfNoFilesFound, OidcMode, UploadMethod};

/// Options given on the command line: their raw values (each with its flag as origin)
/// and the subcommand's flag table, so messages name options as flags.
#[derive(Debug, Clone)]
pub(crate) struct CommandLine {
    pub values: RawMap,
    pub flags: spelling::Flags,
}

/// A registry of an organization, as the API addresses it. The two slugs travel
/// together, so they cannot be passed the wrong way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegistryId<'a> {
    pub org: &'a str,
    pub slug: &'a str,
}

impl std::fmt::Display for RegistryId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.org, self.slug)
    }
}

/// A validated job configuration. Fields are private: nothing after this module
/// changes or re-validates it; callers read it through the accessors.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    registries: Registries,
    files: Files,
    upload: Upload,
    connection: Connection,
    reporting: Reporting,
    network: Network,
    spelling: Spelling,
    /// Where the options came from, for the log.
    source: String,
}

impl Config {
    /// Organization slug.
    #[must_use]
    pub(crate) fn organization(&self) -> &str {
        &self.registries.organization
    }
    /// What the job does: publish to a registry, or promote from one.
    #[must_use]
    pub(crate) fn mode(&self) -> &Mode {
        &self.registries.mode
    }
    /// A promote-only step (`promote-from`): nothing is uploaded.
    #[must_use]
    pub(crate) fn is_promote_only(&self) -> bool {
        matches!(self.registries.mode, Mode::PromoteOnly { .. })
    }
    /// Registries to copy each package into after all publishes succeeded.
    #[must_use]
    pub(crate) fn promote_to(&self) -> &[String] {
        &self.registries.promote_to
    }

    /// The registry packages are taken from: the publish target, or `promote-from`.
    #[must_use]
    pub(crate) fn source_registry(&self) -> &str {
        self.registries.mode.source()
    }
    /// The source registry, addressed in the organization.
    #[must_use]
    pub(crate) fn source_at(&self) -> RegistryId<'_> {
        self.at(self.source_registry())
    }
    /// A registry of the organization (a destination), addressed.
    #[must_use]
    pub(crate) fn at<'a>(&'a self, slug: &'a str) -> RegistryId<'a> {
        RegistryId {
            org: self.organization(),
            slug,
        }
    }
    /// Glob patterns, in the order given (excludes start with `!`).
    #[must_use]
    pub(crate) fn artifacts(&self) -> &Patterns {
        &self.files.artifacts
    }
    /// Artifact queries for `buildkite-agent artifact download`.
    #[must_use]
    pub(crate) fn download(&self) -> &[String] {
        &self.files.download
    }
    /// Build to download from (`None`: this build).
    #[must_use]
    pub(crate) fn download_build(&self) -> Option<&str> {
        self.files.download_build.as_deref()
    }
    #[must_use]
    pub(crate) fn if_no_files_found(&self) -> IfNoFilesFound {
        self.files.if_no_files_found
    }
    /// Glob patterns of attestation files.
    #[must_use]
    pub(crate) fn attestations(&self) -> &Patterns {
        &self.files.attestations
    }
    #[must_use]
    pub(crate) fn if_exists(&self) -> IfExists {
        self.upload.if_exists
    }
    #[must_use]
    pub(crate) fn upload_method(&self) -> UploadMethod {
        self.upload.upload_method
    }
    #[must_use]
    pub(crate) fn concurrency(&self) -> usize {
        self.upload.concurrency
    }
    #[must_use]
    pub(crate) fn retries(&self) -> u32 {
        self.upload.retries
    }
    /// How long to wait for a lagging listing to show a package whose upload or copy
    /// may have landed (`settle-timeout`).
    #[must_use]
    pub(crate) fn settle_timeout(&self) -> Duration {
        self.upload.settle
    }
    #[must_use]
    pub(crate) fn dry_run(&self) -> bool {
        self.upload.dry_run
    }
    /// API base URL.
    #[must_use]
    pub(crate) fn api_url(&self) -> &Url {
        &self.connection.api_url
    }
    /// Name of the variable holding an API token.
    #[must_use]
    pub(crate) fn api_token_env(&self) -> &str {
        &self.connection.api_token_env
    }
    #[must_use]
    pub(crate) fn oidc(&self) -> OidcMode {
        self.connection.oidc
    }
    /// Seconds without upload progress before an attempt is retried; also the time
    /// limit of every JSON call and agent call.
    #[must_use]
    pub(crate) fn stall_timeout(&self) -> Duration {
        self.connection.timeout
    }
    #[must_use]
    pub(crate) fn annotate(&self) -> bool {
        self.reporting.annotate
    }
    #[must_use]
    pub(crate) fn annotation_context(&self) -> Option<&str> {
        self.reporting.annotation_context.as_deref()
    }
    #[must_use]
    pub(crate) fn report_file(&self) -> Option<&std::path::Path> {
        self.reporting.report_file.as_deref()
    }
    /// How the network is reached: trusted certificates, proxies, the CI job.
    #[must_use]
    pub(crate) fn network(&self) -> &Network {
        &self.network
    }
    /// How the user wrote the options, for messages that name one.
    #[must_use]
    pub(crate) fn spelling(&self) -> Spelling {
        self.spelling
    }
    /// Where the options came from, for the log.
    #[must_use]
    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}

/// The configuration of an API subcommand (`list`, `get`, `copy`, `delete`): a
/// registry, for `copy` a destination, and how to reach the API. It is not a job: no
/// files, no uploads, no reports.
#[derive(Debug, Clone)]
pub(crate) struct ApiConfig {
    target: ApiTarget,
    connection: Connection,
    network: Network,
}

impl ApiConfig {
    #[must_use]
    pub(crate) fn organization(&self) -> &str {
        &self.target.organization
    }
    #[must_use]
    pub(crate) fn registry(&self) -> &str {
        &self.target.registry
    }
    /// The registry, addressed in the organization.
    #[must_use]
    pub(crate) fn at(&self) -> RegistryId<'_> {
        RegistryId {
            org: self.organization(),
            slug: self.registry(),
        }
    }
    /// `copy`'s destination registry.
    #[must_use]
    pub(crate) fn destination(&self) -> Option<&str> {
        self.target.destination.as_deref()
    }
    #[must_use]
    pub(crate) fn api_url(&self) -> &Url {
        &self.connection.api_url
    }
    /// Name of the variable holding the API token.
    #[must_use]
    pub(crate) fn api_token_env(&self) -> &str {
        &self.connection.api_token_env
    }
    /// The time limit of each API call.
    #[must_use]
    pub(crate) fn timeout(&self) -> Duration {
        self.connection.timeout
    }
    /// How the network is reached: trusted certificates, proxies, the CI job.
    #[must_use]
    pub(crate) fn network(&self) -> &Network {
        &self.network
    }
}

/// Reads and validates a job's configuration for `platform` from `vars`, with
/// `command_line` (the `publish` and `promote` subcommands' flags) over the
/// `PACKAGE_PUBLISHER_*` variables.
pub(crate) fn load(
    vars: &BTreeMap<String, String>,
    platform: Platform,
    command_line: Option<CommandLine>,
) -> Result<Config, ConfigError> {
    let (raw, spelling, source) = match command_line {
        Some(command_line) => with_flags(vars, command_line)?,
        None => gather(vars, platform)?,
    };
    let v = Validator {
        raw: &raw,
        platform,
        spelling,
    };
    let registries = sections::registries(&v, vars)?;
    let promote_only = matches!(registries.mode, Mode::PromoteOnly { .. });
    Ok(Config {
        files: sections::files(&v, promote_only)?,
        registries,
        upload: sections::upload(&v)?,
        connection: sections::connection(&v)?,
        reporting: sections::reporting(&v)?,
        network: network::network(vars)?,
        spelling,
        source,
    })
}

/// Reads and validates an API subcommand's configuration: its flags over the
/// `PACKAGE_PUBLISHER_*` variables, the same rules as a job's.
pub(crate) fn load_api(vars: &BTreeMap<String, String>, command_line: CommandLine) -> Result<ApiConfig, ConfigError> {
    let (raw, spelling, _) = with_flags(vars, command_line)?;
    let v = Validator {
        raw: &raw,
        platform: Platform::Local,
        spelling,
    };
    Ok(ApiConfig {
        target: sections::api_target(&v, vars)?,
        connection: sections::connection(&v)?,
        network: network::network(vars)?,
    })
}

/// The local variables with the flags on top, and where they came from.
fn with_flags(
    vars: &BTreeMap<String, String>,
    command_line: CommandLine,
) -> Result<(RawMap, Spelling, String), ConfigError> {
    let mut raw = sources::from_local(vars)?;
    let source = match (command_line.values.is_empty(), raw.is_empty()) {
        (false, true) => "command-line flags",
        (false, false) => "command-line flags and PACKAGE_PUBLISHER_* variables",
        (true, _) => "PACKAGE_PUBLISHER_* variables",
    };
    raw.extend(command_line.values);
    Ok((raw, Spelling::Flags(command_line.flags), source.to_owned()))
}

/// Picks the source for the platform. On Buildkite the typed JSON wins over the
/// flattened variables; when the agent exported neither (it drops both when the YAML
/// holds a null), the local variables are the last resort, and if they are empty too
/// the error says why that usually happens.
fn gather(vars: &BTreeMap<String, String>, platform: Platform) -> Result<(RawMap, Spelling, String), ConfigError> {
    let local = |vars| -> Result<_, ConfigError> {
        Ok((
            sources::from_local(vars)?,
            Spelling::Env,
            "PACKAGE_PUBLISHER_* variables".to_owned(),
        ))
    };
    match platform {
        Platform::Buildkite => {
            if let Some(json) = vars.get("BUILDKITE_PLUGIN_CONFIGURATION") {
                let raw = sources::from_buildkite_json(json)?;
                return Ok((raw, Spelling::Plugin, "BUILDKITE_PLUGIN_CONFIGURATION".to_owned()));
            }
            if let Some(name) = vars.get("BUILDKITE_PLUGIN_NAME").filter(|n| !n.is_empty()) {
                let raw = sources::from_buildkite_flat(vars, name)?;
                return Ok((raw, Spelling::Plugin, "BUILDKITE_PLUGIN_* variables".to_owned()));
            }
            let found = local(vars)?;
            if found.0.is_empty() && vars.contains_key("BUILDKITE_PLUGINS") {
                return Err(ConfigError::Malformed {
                    origin: "the Buildkite plugin configuration".to_owned(),
                    detail: "the agent passed no BUILDKITE_PLUGIN_CONFIGURATION; it drops the \
                             whole configuration when any value in the plugin's YAML is null \
                             (a key with nothing after the colon)"
                        .to_owned(),
                });
            }
            Ok(found)
        }
        Platform::GitHub => {
            let inputs = sources::from_github(vars)?;
            if inputs.is_empty() {
                local(vars)
            } else {
                Ok((inputs, Spelling::Action, "INPUT_* variables".to_owned()))
            }
        }
        Platform::Local => local(vars),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn local(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load(&vars(pairs), Platform::Local, None)
    }

    #[test]
    fn minimal_local_config_has_the_documented_defaults() {
        let c = local(&[
            ("PACKAGE_PUBLISHER_REGISTRY", "acme/debs"),
            ("PACKAGE_PUBLISHER_ARTIFACTS", "dist/*.deb"),
        ])
        .unwrap();
        assert_eq!(c.organization(), "acme");
        assert_eq!(
            c.mode(),
            &Mode::Publish {
                registry: "debs".into()
            }
        );
        assert_eq!(c.concurrency(), 4);
        assert_eq!(c.retries(), 5);
        assert_eq!(c.settle_timeout(), Duration::from_secs(90));
        assert_eq!(c.stall_timeout(), Duration::from_secs(60));
        assert_eq!(c.if_exists(), IfExists::SkipIdentical);
        assert_eq!(c.if_no_files_found(), IfNoFilesFound::Error);
        assert_eq!(c.api_token_env(), "BUILDKITE_API_TOKEN");
        assert!(c.annotate() && !c.dry_run());
        assert_eq!(c.api_url().as_str(), "https://api.buildkite.com/");
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
            None,
        )
        .unwrap();
        assert_eq!(c.artifacts().texts(), vec!["dist/*.deb", "!dist/*-dbg*"]);
        assert_eq!(c.concurrency(), 8);
        assert!(c.dry_run());
        assert_eq!(c.organization(), "acme");
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
            None,
        )
        .unwrap();
        assert_eq!(c.artifacts().texts(), vec!["a/*.deb", "b/*.deb"]);
        assert_eq!(c.if_exists(), IfExists::Skip);
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
            None,
        )
        .unwrap();
        assert_eq!(c.artifacts().texts(), vec!["a/*.deb", "b/*.rpm"]);
        assert_eq!(c.if_exists(), IfExists::Replace);
        assert!(c.dry_run());
        assert!(c.report_file().is_none());
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
            None,
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
        assert_eq!(c.artifacts().texts(), vec!["dist/*.deb", "!dist/x.deb"]);
    }

    #[test]
    fn unknown_key_suggests_the_nearest_option() {
        let err = local(&[
            ("PACKAGE_PUBLISHER_REGISTRY", "acme/debs"),
            ("PACKAGE_PUBLISHER_ARTIFACTS", "x"),
            ("PACKAGE_PUBLISHER_CONCURENCY", "3"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("did you mean PACKAGE_PUBLISHER_CONCURRENCY?"),
            "{err}"
        );
    }

    #[test]
    fn null_in_plugin_json_points_at_the_key() {
        let err = load(
            &vars(&[(
                "BUILDKITE_PLUGIN_CONFIGURATION",
                r#"{"registry":"a/b","artifacts":null}"#,
            )]),
            Platform::Buildkite,
            None,
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
        assert!(text.contains("PACKAGE_PUBLISHER_API_TOKEN_ENV"), "{text}");
    }
}
