//! Reading typed values out of the raw map: slugs and registry references (`slug` or
//! `org/slug`, one rule for every option that names a registry), choices, numbers in
//! their table range, booleans as each platform writes them, glob patterns and the API
//! URL. Every error names the value the way the user gave it (its origin), the value,
//! and what is accepted; an option that was not given is named in the run's
//! [`Spelling`]. The sections of the configuration are built from these readers.

use reqwest::Url;

use super::error::{ConfigError, show_value};
use super::options::Opt;
use super::patterns::Patterns;
use super::platform::Platform;
use super::sources::{RawMap, RawValue};
use super::spelling::Spelling;
use super::values::Choice;

/// A registry as written: `slug`, or `org/slug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RegistryRef {
    pub org: Option<String>,
    pub slug: String,
}

/// Reads typed values out of the raw map, producing errors that name the option.
pub(super) struct Validator<'a> {
    pub raw: &'a RawMap,
    pub platform: Platform,
    pub spelling: Spelling,
}

impl Validator<'_> {
    /// How to refer to an option in a message: where its value came from when it was
    /// given, else how the user would write it.
    pub(super) fn said(&self, option: Opt) -> String {
        self.raw
            .get(&option)
            .map_or_else(|| self.spelling.name(option), |v| v.origin.clone())
    }

    /// A required option that was not given.
    pub(super) fn missing(&self, option: Opt, hint: String) -> ConfigError {
        ConfigError::Missing {
            option: option.name(),
            name: self.spelling.name(option),
            hint,
        }
    }

    pub(super) fn invalid(&self, option: Opt, value: &str, accepted: String) -> ConfigError {
        ConfigError::Invalid {
            option: option.name(),
            origin: self.said(option),
            value: show_value(value),
            accepted,
        }
    }

    pub(super) fn text(&self, name: Opt) -> Option<String> {
        self.raw.get(&name).map(RawValue::joined).filter(|s| !s.is_empty())
    }

    pub(super) fn list(&self, name: Opt) -> Vec<String> {
        self.raw.get(&name).map(|v| v.items.clone()).unwrap_or_default()
    }

    pub(super) fn slug(&self, name: Opt) -> Result<Option<String>, ConfigError> {
        match self.raw.get(&name) {
            Some(value) => check_slug(name, &value.origin, &value.joined()).map(Some),
            None => Ok(None),
        }
    }

    /// A registry option given as one value: `slug` or `org/slug`.
    pub(super) fn registry(&self, name: Opt) -> Result<Option<RegistryRef>, ConfigError> {
        match self.raw.get(&name) {
            Some(value) => parse_registry(name, &value.origin, &value.joined()).map(Some),
            None => Ok(None),
        }
    }

    /// A registry list option: each item `slug` or `org/slug`.
    pub(super) fn registries(&self, name: Opt) -> Result<Vec<RegistryRef>, ConfigError> {
        let Some(value) = self.raw.get(&name) else {
            return Ok(Vec::new());
        };
        value
            .items
            .iter()
            .map(|item| parse_registry(name, &value.origin, item))
            .collect()
    }

    /// A choice option; its default when not given.
    pub(super) fn choice<C: Choice>(&self, name: Opt) -> Result<C, ConfigError> {
        match self.text(name) {
            None => Ok(C::DEFAULT),
            Some(value) => {
                C::parse(&value).ok_or_else(|| self.invalid(name, &value, format!("it accepts one of: {}", C::names())))
            }
        }
    }

    /// A numeric option, within the range and with the default of the option table.
    pub(super) fn number(&self, name: Opt) -> Result<u64, ConfigError> {
        let (min, max) = name.range();
        match self.text(name) {
            None => Ok(name
                .default()
                .parse()
                .expect("numeric defaults in the table are numbers")),
            Some(value) => match value.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(self.invalid(name, &value, format!("it accepts a whole number from {min} to {max}"))),
            },
        }
    }

    /// Booleans as each platform writes them: GitHub's toolkit accepts only
    /// `true|True|TRUE|false|False|FALSE`; Buildkite plugins conventionally also take
    /// `on`/`off` and `1`/`0`. The default is the option table's.
    pub(super) fn boolean(&self, name: Opt) -> Result<bool, ConfigError> {
        let Some(value) = self.text(name) else {
            return Ok(name.default() == "true");
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
    pub(super) fn patterns(&self, name: Opt) -> Result<Patterns, ConfigError> {
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
        }
        Patterns::parse(&items).map_err(|(item, err)| {
            self.invalid(
                name,
                &item,
                format!(
                    "it is not a valid glob pattern ({}); use `*`, `?`, `**` and `[...]`",
                    err.msg
                ),
            )
        })
    }

    pub(super) fn api_url(&self) -> Result<Url, ConfigError> {
        let Some(text) = self.text(Opt::ApiUrl) else {
            return Ok(Url::parse(Opt::ApiUrl.default()).expect("valid default URL"));
        };
        let accepted = "it accepts an http:// or https:// URL such as https://api.buildkite.com";
        let url = Url::parse(text.trim()).map_err(|_| self.invalid(Opt::ApiUrl, &text, accepted.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(self.invalid(Opt::ApiUrl, &text, accepted.to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.invalid(
                Opt::ApiUrl,
                "(a URL with credentials, not shown)",
                format!(
                    "credentials do not belong in the URL; put the token in the variable named by {}",
                    self.spelling.name(Opt::ApiTokenEnv)
                ),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.invalid(Opt::ApiUrl, &text, "the base URL takes no query or fragment".to_owned()));
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

/// Splits a registry reference into an optional organization and the registry slug.
fn parse_registry(option: Opt, origin: &str, text: &str) -> Result<RegistryRef, ConfigError> {
    let parts: Vec<&str> = text.trim().split('/').collect();
    match parts.as_slice() {
        [slug] => Ok(RegistryRef {
            org: None,
            slug: check_slug(option, origin, slug)?,
        }),
        [org, slug] => Ok(RegistryRef {
            org: Some(check_slug(option, origin, org)?),
            slug: check_slug(option, origin, slug)?,
        }),
        _ => Err(ConfigError::Invalid {
            option: option.name(),
            origin: origin.to_owned(),
            value: show_value(text),
            accepted: "it accepts a registry slug (`my-registry`) or `organization/registry`, \
                       with at most one `/`"
                .to_owned(),
        }),
    }
}

/// A Buildkite slug: lower-case letters, digits and hyphens, not starting with a hyphen.
pub(super) fn check_slug(option: Opt, origin: &str, value: &str) -> Result<String, ConfigError> {
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
            option: option.name(),
            origin: origin.to_owned(),
            value: show_value(value),
            accepted,
        })
    }
}
