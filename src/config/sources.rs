//! Reads the raw option values from the three places a run can be configured: the
//! Buildkite plugin configuration (typed JSON first, then the flattened
//! `BUILDKITE_PLUGIN_<NAME>_<KEY>` variables), GitHub Actions `INPUT_*` variables, and
//! local `PACKAGE_PUBLISHER_*` variables. Every source is turned into the same shape, a
//! map from option name to a [`RawValue`] that remembers where it came from, in the
//! words of its source, so validation in [`super`] is written once and its messages
//! still name each value the way the user gave it. A list option written as one string
//! follows one rule everywhere ([`split_items`]). The environment arrives as an
//! injected map; nothing here reads the process environment.

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::ConfigError;
use super::options::{self, Kind, Opt, OptionSpec};
use super::spelling::{ENV_PREFIX, Spelling, env_var};

/// One option's value as given, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawValue {
    /// Scalars have one item; list options may have several.
    pub items: Vec<String>,
    /// The variable, key or flag it came from, as the user wrote it, for messages:
    /// `PACKAGE_PUBLISHER_RETRIES`, `--retries`, plugin option `retries`
    /// (`BUILDKITE_PLUGIN_CONFIGURATION`), input `retries` (`INPUT_RETRIES`).
    pub origin: String,
}

impl RawValue {
    /// A single-valued raw option.
    #[must_use]
    pub(crate) fn scalar(value: impl Into<String>, origin: impl Into<String>) -> Self {
        RawValue {
            items: vec![value.into()],
            origin: origin.into(),
        }
    }

    /// The scalar value (the items joined, for a list given where one value is wanted).
    #[must_use]
    pub(crate) fn joined(&self) -> String {
        self.items.join("\n")
    }
}

/// Raw values by option name.
pub(crate) type RawMap = BTreeMap<Opt, RawValue>;

/// The first top-level key a JSON object gives twice (`serde_json` keeps the last one
/// silently); `json` is known to be an object.
fn repeated_key(json: &str) -> Option<String> {
    struct Repeated(Option<String>);
    impl<'de> serde::Deserialize<'de> for Repeated {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(Visitor)
        }
    }
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Repeated;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Repeated, A::Error> {
            let mut seen = std::collections::BTreeSet::new();
            let mut repeated = None;
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                if !seen.insert(key.clone()) && repeated.is_none() {
                    repeated = Some(key);
                }
            }
            Ok(Repeated(repeated))
        }
    }
    serde_json::from_str::<Repeated>(json).ok().and_then(|r| r.0)
}

/// `BUILDKITE_PLUGIN_CONFIGURATION`: the plugin's options as typed JSON.
pub(crate) fn from_buildkite_json(json: &str) -> Result<RawMap, ConfigError> {
    let mut out = RawMap::new();
    for (key, value) in plugin_object(json)? {
        let key_origin = format!("plugin option `{key}` ({PLUGIN_JSON})");
        let spec = plugin_option(&key, &key_origin)?;
        let items = plugin_items(&key, value, spec, &key_origin)?;
        out.insert(
            spec.opt,
            RawValue {
                items,
                origin: key_origin,
            },
        );
    }
    Ok(out)
}

const PLUGIN_JSON: &str = "BUILDKITE_PLUGIN_CONFIGURATION";

/// The plugin's options as a JSON object (null is no options); a key given twice is
/// an error, since `serde_json` would keep the last value silently.
fn plugin_object(json: &str) -> Result<serde_json::Map<String, Value>, ConfigError> {
    let malformed = |detail: String| ConfigError::Malformed {
        origin: PLUGIN_JSON.to_owned(),
        detail,
    };
    let value: Value = serde_json::from_str(json).map_err(|err| malformed(format!("it is not valid JSON ({err})")))?;
    match value {
        Value::Object(_) if repeated_key(json).is_some() => Err(malformed(format!(
            "the option `{}` is given twice; give it once",
            repeated_key(json).unwrap_or_default()
        ))),
        Value::Object(map) => Ok(map),
        Value::Null => Ok(serde_json::Map::new()),
        other => Err(malformed(format!(
            "expected an object of options, found {}",
            type_name(&other)
        ))),
    }
}

/// The option a plugin key names. One spelling: plugin options are kebab-case, as
/// plugin.yml declares them (the action's inputs cannot take another spelling either).
fn plugin_option(key: &str, key_origin: &str) -> Result<&'static OptionSpec, ConfigError> {
    if let Some(spec) = options::find(key) {
        return Ok(spec);
    }
    Err(match lookup(key) {
        Some(spec) => ConfigError::Unknown {
            name: key_origin.to_owned(),
            suggestion: format!(
                "; options are written in kebab-case, exactly as in plugin.yml: write `{}`",
                spec.name
            ),
        },
        None => unknown(key, key_origin.to_owned(), Spelling::Plugin),
    })
}

/// A plugin option's value as text items: a YAML list item by item (strings only), a
/// scalar split by the one list rule.
fn plugin_items(key: &str, value: Value, spec: &OptionSpec, key_origin: &str) -> Result<Vec<String>, ConfigError> {
    let invalid = |value: &str, accepted: String| ConfigError::Invalid {
        option: spec.name,
        origin: key_origin.to_owned(),
        value: value.to_owned(),
        accepted,
    };
    match value {
        Value::Null => Err(ConfigError::Null {
            option: key.to_owned(),
            origin: PLUGIN_JSON.to_owned(),
        }),
        Value::Array(_) if spec.kind != Kind::List => {
            Err(invalid("a list", format!("it takes a single {}", spec.kind.describe())))
        }
        Value::Array(values) => values
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                scalar_text(&item).ok_or_else(|| match item {
                    Value::Null => ConfigError::Null {
                        option: format!("{key}[{index}]"),
                        origin: PLUGIN_JSON.to_owned(),
                    },
                    other => ConfigError::Invalid {
                        option: spec.name,
                        origin: format!("plugin option `{key}` item {index} ({PLUGIN_JSON})"),
                        value: type_name(&other).to_owned(),
                        accepted: "list items must be strings".to_owned(),
                    },
                })
            })
            .collect(),
        other => match scalar_text(&other) {
            Some(text) => Ok(split_list(spec, &text)),
            None => Err(invalid(
                type_name(&other),
                format!("it takes a {}", spec.kind.describe()),
            )),
        },
    }
}

/// The flattened `BUILDKITE_PLUGIN_<NAME>_<KEY>` variables the agent also exports; the
/// prefix comes from `BUILDKITE_PLUGIN_NAME`, never from a hard-coded repository name.
pub(crate) fn from_buildkite_flat(vars: &BTreeMap<String, String>, plugin_name: &str) -> Result<RawMap, ConfigError> {
    let prefix = format!("BUILDKITE_PLUGIN_{plugin_name}_");
    let mut lists: BTreeMap<Opt, (String, BTreeMap<usize, String>)> = BTreeMap::new();
    let mut out = RawMap::new();
    for (var, value) in vars.iter().filter(|(k, _)| k.starts_with(&prefix)) {
        let key = &var[prefix.len()..];
        let unknown_key = || {
            let name = format!("plugin option `{}` ({var})", key.to_ascii_lowercase());
            unknown(key, name, Spelling::Plugin)
        };
        let (spec, index) = match_flat_key(key).ok_or_else(unknown_key)?;
        match index {
            None => {
                out.insert(
                    spec.opt,
                    RawValue {
                        items: split_list(spec, value),
                        origin: format!("plugin option `{}` ({var})", spec.name),
                    },
                );
            }
            Some(index) => {
                if spec.kind != Kind::List {
                    return Err(unknown_key());
                }
                let entry = lists.entry(spec.opt).or_insert_with(|| {
                    let var = format!("{prefix}{}_N", upper(spec.name));
                    (format!("plugin option `{}` ({var})", spec.name), BTreeMap::new())
                });
                entry.1.insert(index, value.clone());
            }
        }
    }
    for (opt, (origin, items)) in lists {
        out.insert(
            opt,
            RawValue {
                items: items.into_values().collect(),
                origin,
            },
        );
    }
    Ok(out)
}

/// GitHub Actions inputs: `INPUT_<NAME>` with either `-` or `_`, trimmed; empty means
/// unset because a composite action maps every input, given or not.
pub(crate) fn from_github(vars: &BTreeMap<String, String>) -> Result<RawMap, ConfigError> {
    from_prefixed(vars, "INPUT_", Spelling::Action)
}

/// Local `PACKAGE_PUBLISHER_<KEY>` variables.
pub(crate) fn from_local(vars: &BTreeMap<String, String>) -> Result<RawMap, ConfigError> {
    from_prefixed(vars, ENV_PREFIX, Spelling::Env)
}

fn from_prefixed(vars: &BTreeMap<String, String>, prefix: &str, spelling: Spelling) -> Result<RawMap, ConfigError> {
    let mut out = RawMap::new();
    for (var, value) in vars.iter().filter(|(k, _)| k.starts_with(prefix)) {
        let key = &var[prefix.len()..];
        let Some(spec) = lookup(key) else {
            let name = match spelling {
                Spelling::Action => format!("input `{}` ({var})", key.to_ascii_lowercase()),
                _ => format!("variable {var}"),
            };
            return Err(unknown(key, name, spelling));
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let origin = match spelling {
            Spelling::Action => format!("input `{}` ({var})", spec.name),
            _ => var.clone(),
        };
        out.insert(
            spec.opt,
            RawValue {
                items: split_list(spec, value),
                origin,
            },
        );
    }
    Ok(out)
}

fn split_list(spec: &OptionSpec, value: &str) -> Vec<String> {
    if spec.kind == Kind::List {
        split_items(value)
    } else {
        vec![value.trim().to_owned()]
    }
}

/// Splits a list option written as one string, the same way wherever it was written (a
/// variable, an input, a plugin value that is not a YAML list, a flag's value): on
/// newlines, or on commas when it is all on one line (`a, b`). Items are trimmed and
/// empty ones dropped. YAML lists and repeated arguments are taken item by item.
#[must_use]
pub(crate) fn split_items(value: &str) -> Vec<String> {
    let by_comma = !value.contains('\n');
    value
        .split(|c| c == '\n' || (by_comma && c == ','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn match_flat_key(key: &str) -> Option<(&'static OptionSpec, Option<usize>)> {
    for spec in options::OPTIONS {
        let name = upper(spec.name);
        if key == name {
            return Some((spec, None));
        }
        if let Some(rest) = key.strip_prefix(&name).and_then(|r| r.strip_prefix('_')) {
            if let Ok(index) = rest.parse::<usize>() {
                return Some((spec, Some(index)));
            }
        }
    }
    None
}

fn upper(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

fn lookup(key: &str) -> Option<&'static OptionSpec> {
    options::find(&key.to_ascii_lowercase().replace('_', "-"))
}

/// An unknown key `key` (shown to the user as `name`), with the nearest option in the
/// user's spelling, or the list of options when none is near.
fn unknown(key: &str, name: String, spelling: Spelling) -> ConfigError {
    let normal = key.to_ascii_lowercase().replace('_', "-");
    let spell = |option: &str| match spelling {
        Spelling::Env | Spelling::Flags(_) => env_var(option),
        Spelling::Plugin | Spelling::Action => format!("`{option}`"),
    };
    let best = options::OPTIONS
        .iter()
        .map(|o| (strsim::jaro_winkler(&normal, o.name), o.name))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let suggestion = match best {
        Some((score, name)) if score > 0.8 => format!("; did you mean {}?", spell(name)),
        _ => format!(
            "; the options are: {}",
            options::OPTIONS
                .iter()
                .map(|o| spell(o.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    ConfigError::Unknown { name, suggestion }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
