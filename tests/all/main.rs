//! The integration tests: the compiled binary run as a process against the Packages
//! API emulator on loopback, with a `buildkite-agent` shim and GitHub runner files.

#![allow(
    unreachable_pub,
    reason = "test and emulator code shares items across its files; it is no API"
)]

mod support;

// Bad configuration and input: each refused with a clear message and the right code.
mod config_errors;
// Publishing end to end: reports, re-runs, if-exists, dry runs, ordering.
mod publish;
// Retries, rate limits, dropped connections and stalls.
mod resilience;
// The publish engine at its edges: scheduling, lost answers, replace, cancellation, bounds.
mod engine;
// Platform limits, old and hung agents, hostile file names, answers and environments.
mod limits;
// The subcommands for people: list, get, copy, delete, help.
mod cli;
// Buildkite: plugin configuration, annotation, meta-data, OIDC, log groups.
mod buildkite;
// GitHub Actions: inputs, summary, outputs, workflow commands, OIDC.
mod github;
// Promotion: publish-then-promote and promote-only steps.
mod promote;
// A slow index after a lost answer: settle-timeout, and the unverified status.
mod settle;
// The presigned upload's storage leg against a real S3 server (moto).
mod storage;
// Packages known by their contents: odd names, epochs, scopes, platforms, invalid files.
mod identity;
// Company networks: private CAs, TLS-intercepting and CONNECT proxies, the
// User-Agent, and storage legs on other hosts and methods.
mod network;
