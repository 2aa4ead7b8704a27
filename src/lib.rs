//! package-publisher publishes CI build artifacts (`.deb`, `.rpm`, `.apk`, Python,
//! Helm, Terraform and generic files) to Buildkite Package Registries through the REST
//! Packages API, optionally promotes them into further registries by copy, and reports
//! what happened as a Buildkite annotation or GitHub job summary, step outputs and a
//! JSON report. The same binary is a Buildkite plugin, a GitHub Action and a small CLI
//! over every Packages API operation.
//!
//! The story of one run lives in [`app`]; each step it takes has its own module. Only
//! `app` (the entry point) and `exit` (its outcome) are public: everything else is
//! the crate's own, and `unreachable_pub` keeps it that way.

#![allow(
    rustdoc::private_intra_doc_links,
    reason = "an application: its docs are built with --document-private-items, where every link resolves"
)]

pub(crate) mod api;
pub mod app;
pub(crate) mod artifact;
pub(crate) mod attestation;
pub(crate) mod auth;
pub(crate) mod cancel;
pub(crate) mod ci;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod digest;
pub(crate) mod discover;
pub mod exit;
pub(crate) mod lookup;
pub(crate) mod package;
pub(crate) mod promote;
pub(crate) mod publish;
pub(crate) mod registry;
pub(crate) mod report;
pub(crate) mod retry;
pub(crate) mod secret;
pub(crate) mod summary;

/// The version this binary reports: the Cargo.toml version for a release build, and
/// `<version>-dev+<commit>` for any other (see `build.rs`).
pub const VERSION: &str = env!("PACKAGE_PUBLISHER_VERSION");
