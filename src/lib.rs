//! package-publisher publishes CI build artifacts (`.deb`, `.rpm`, `.apk`, Python,
//! Helm, Terraform and generic files) to Buildkite Package Registries through the REST
//! Packages API, optionally promotes them into further registries by copy, and reports
//! what happened as a Buildkite annotation or GitHub job summary, step outputs and a
//! JSON report. The same binary is a Buildkite plugin, a GitHub Action and a small CLI
//! over every Packages API operation.
//!
//! The story of one run lives in [`app`]; each step it takes has its own module.

pub mod api;
pub mod app;
pub mod artifact;
pub mod attestation;
pub mod auth;
pub mod cancel;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod config;
pub mod discover;
pub mod exit;
pub mod lookup;
pub mod package;
pub mod promote;
pub mod publish;
pub mod registry;
pub mod report;
pub mod retry;
pub mod secret;
pub mod summary;

/// The version this binary reports: the Cargo.toml version for a release build, and
/// `<version>-dev+<commit>` for any other (see `build.rs`).
pub const VERSION: &str = env!("PACKAGE_PUBLISHER_VERSION");
