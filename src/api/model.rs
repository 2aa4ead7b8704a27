//! The JSON shapes of the Packages API, as documented and as observed. Every field the
//! docs do not promise is optional, and unknown fields are ignored, because the live
//! service adds fields over time (`digests` appeared in 2025).
//!
//! A package, as the docs show it:
//! `{"id":"0191…","url":"https://api.buildkite.com/v2/packages/…","web_url":"https://buildkite.com/…",
//!   "name":"hello","version":"1.0.0","digests":{"sha256":"…","sha512":"…"},
//!   "organization":{…},"registry":{…},"created_at":"…"}`

use serde::{Deserialize, Serialize};

/// A package in a registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Package {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What tells apart several files of one name and version (an architecture, a
    /// wheel's tags, a gem's platform), when the registry says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digests: Option<Digests>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryRef>,
}

impl Package {
    /// The sha256 the registry reports, if any.
    #[must_use]
    pub(crate) fn sha256(&self) -> Option<&str> {
        self.digests.as_ref().and_then(|d| d.sha256.as_deref())
    }
}

/// Content digests the registry computed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Digests {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
}

/// The registry a package belongs to, as embedded in a package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RegistryRef {
    #[serde(default)]
    pub slug: String,
}

/// One page of `GET …/packages`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PackagePage {
    #[serde(default)]
    pub items: Vec<Package>,
    #[serde(default)]
    pub links: Links,
}

/// Cursor links of a page; only `next` is followed, verbatim.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Links {
    #[serde(default)]
    pub next: Option<String>,
}

/// A registry, from `GET …/registries/{slug}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Registry {
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

/// The upload slot of the presigned flow (`POST …/packages/upload`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct UploadSlot {
    pub form: UploadForm,
}

/// The browser-POST form to send the file to storage with.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct UploadForm {
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_file_input")]
    pub file_input: String,
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

fn default_method() -> String {
    "POST".to_owned()
}

fn default_file_input() -> String {
    "file".to_owned()
}

/// Ecosystems whose packages the copy endpoint accepts (Packages API docs).
pub(crate) const COPYABLE_ECOSYSTEMS: &[&str] = &[
    "alpine",
    "debian",
    "files",
    "javascript",
    "npm",
    "python",
    "redhat",
    "red-hat",
    "ruby",
];

/// Whether packages of `ecosystem` can be copied between registries.
#[must_use]
pub(crate) fn is_copyable(ecosystem: &str) -> bool {
    COPYABLE_ECOSYSTEMS.contains(&ecosystem.to_ascii_lowercase().as_str())
}
