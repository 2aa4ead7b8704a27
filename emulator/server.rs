//! A stateful emulator of the Buildkite Packages API, for tests, the README demo and
//! benchmarks. It keeps packages (name, version, size, sha256/sha512 digests, never
//! the bytes) per registry, answers duplicates with 409, paginates lists with `after`
//! cursors and `links.next`, enforces token scopes (401/403) for API tokens and OIDC
//! JWTs (audience and lifetime checked), implements the presigned flow with its own
//! storage endpoint, records every request, and can be scripted to fail: status codes
//! with `Retry-After`/`RateLimit-Reset`, delays, dropped connections, failures after
//! the request was committed, a think-time after a committed request, answers that
//! trickle or never end, and seeded random chaos. It can also lag: a listing that
//! does not show fresh packages yet, and a listing whose `links.next` never ends.
//! Python registries store names in their PEP 503 normal form, as real indexes do.
//!
//! This file holds the state, the configuration and the router; the rest is split by
//! concern: `faults.rs` (recording, latency, scripted faults and chaos), `auth.rs` (the
//! one credentials check), `packages.rs` (the package endpoints), `storage.rs` (the
//! presigned flow's storage side) and `identity.rs` (what an uploaded package is, read
//! from its bytes).

// Handlers answer early with a ready `Response`; boxing it would only add noise to test code.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

#[path = "auth.rs"]
mod auth;
#[path = "faults.rs"]
mod faults;
#[path = "identity.rs"]
mod identity;
#[path = "packages.rs"]
mod packages;
#[path = "storage.rs"]
mod storage;

use auth::*;
use faults::*;
use packages::*;
use storage::*;

/// A stored package.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pkg {
    pub id: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub variant: Option<String>,
    pub file_name: String,
    pub size: u64,
    pub sha256: String,
    pub sha512: String,
    pub created_at: String,
    pub attestation_bundle: Option<String>,
}

impl Pkg {
    /// Whether this stored package is the one `ident` names.
    fn same_package(&self, ident: &identity::Ident) -> bool {
        self.name == ident.name && self.version == ident.version && self.variant == ident.variant
    }
}

/// A registry and its packages (newest last).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Registry {
    pub ecosystem: String,
    pub packages: Vec<Pkg>,
}

/// A scripted failure. It applies to requests whose method and path match, `times`
/// times (0 = forever).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fault {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path_contains: Option<String>,
    #[serde(default)]
    pub path_suffix: Option<String>,
    /// Only requests whose uploaded file name contains this.
    #[serde(default)]
    pub file_contains: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub times: u32,
    #[serde(default)]
    pub delay_ms: u64,
    /// Close the connection without an answer.
    #[serde(default)]
    pub drop: bool,
    /// Carry out the request first, then fail as scripted (the ambiguous case).
    #[serde(default)]
    pub after_commit: bool,
    /// Carry out the request, then wait this long before answering with its real
    /// answer (a server that thinks after the body arrived).
    #[serde(default)]
    pub think_ms: u64,
    /// Send the answer (scripted or real) one byte every this many milliseconds.
    #[serde(default)]
    pub trickle_ms: u64,
    /// With `status`: an answer body of this many filler bytes, streamed (`u64::MAX`
    /// never ends).
    #[serde(default)]
    pub body_bytes: u64,
    /// Let this many matching requests through before the fault applies.
    #[serde(default)]
    pub skip: u32,
}

/// Seeded random faults on publish requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Chaos {
    pub seed: u64,
    /// Percent of publish requests answered 503.
    pub p503: u32,
    /// Percent answered 429 with reset headers.
    pub p429: u32,
    /// Percent whose connection is dropped mid-body.
    pub pdrop: u32,
    /// Percent committed, then dropped (the package landed but the client does not know).
    pub pcommit_drop: u32,
    /// Percent that stall for `stall_ms` before answering.
    pub pstall: u32,
    pub stall_ms: u64,
}

/// A recorded request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub auth: String,
    pub user_agent: String,
    pub content_length: Option<u64>,
    pub file_name: Option<String>,
    /// Order of arrival (1, 2, …).
    pub arrival: u64,
    /// Publish requests in flight when this one arrived, itself included (0 for others).
    pub in_flight: u32,
    /// When it arrived, in milliseconds since the emulator started.
    #[serde(default)]
    pub arrived_ms: u64,
}

/// Emulator configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub org: String,
    /// slug → ecosystem.
    pub registries: BTreeMap<String, String>,
    /// API token → scopes.
    pub tokens: BTreeMap<String, Vec<String>>,
    /// Scopes granted to a valid OIDC token.
    pub oidc_scopes: Vec<String>,
    /// Added to every request.
    pub latency_ms: u64,
    /// Largest body accepted by the direct publish (413 above it); 0 = no limit.
    pub max_direct_bytes: u64,
    pub chaos: Option<Chaos>,
    /// An external S3 bucket URL (for example a moto server's `http://127.0.0.1:PORT/bucket`)
    /// to hand out in upload slots instead of the emulator's own storage endpoint.
    #[serde(default)]
    pub storage_url: Option<String>,
    /// Fresh packages (published or copied) stay out of listings for this long (a
    /// lagging index); GET by id and duplicate checks see them at once.
    #[serde(default)]
    pub list_lag_ms: u64,
    /// Every listing page links to a next page, forever.
    #[serde(default)]
    pub endless_pages: bool,
    /// Up to this much random latency added to every request, on top of `latency_ms`.
    #[serde(default)]
    pub jitter_ms: u64,
    /// Answer publishes by reading and discarding the file without hashing it (a sink
    /// for benchmarks that measure the client): digests are left out.
    #[serde(default)]
    pub sink: bool,
    /// Hand out upload slots in the signed-URL shape (`PUT` the raw file to a URL that
    /// names the object, the form's `data` as headers), as a linked GCS bucket does,
    /// instead of an S3 browser-POST form.
    #[serde(default)]
    pub storage_put: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            org: "acme".into(),
            registries: [("debs".to_owned(), "debian".to_owned())].into(),
            tokens: [(
                "bkua_test_token".to_owned(),
                ["read_packages", "write_packages", "delete_packages", "read_registries"]
                    .map(String::from)
                    .to_vec(),
            )]
            .into(),
            oidc_scopes: ["read_packages", "write_packages"].map(String::from).to_vec(),
            latency_ms: 0,
            max_direct_bytes: 0,
            chaos: None,
            storage_url: None,
            list_lag_ms: 0,
            endless_pages: false,
            jitter_ms: 0,
            sink: false,
            storage_put: false,
        }
    }
}

/// The emulator's whole state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct EmuState {
    pub config: Option<Config>,
    pub registries: BTreeMap<String, Registry>,
    pub faults: Vec<Fault>,
    pub requests: Vec<Record>,
    /// Presigned objects: key → the stored upload.
    #[serde(skip)]
    pub objects: BTreeMap<String, Upload>,
    /// Policies issued with upload slots.
    pub policies: Vec<String>,
    pub counter: u64,
    pub arrivals: u64,
    pub publishes_in_flight: u32,
    #[serde(skip)]
    pub rng: Option<fastrand::Rng>,
    /// Package id → when it starts to show in listings.
    #[serde(skip)]
    pub listed_from: BTreeMap<String, std::time::Instant>,
    /// When the emulator started.
    #[serde(skip)]
    pub started: Option<std::time::Instant>,
}

impl EmuState {
    fn cfg(&self) -> &Config {
        self.config.as_ref().expect("configured")
    }

    /// All packages of a registry.
    #[must_use]
    pub fn packages(&self, registry: &str) -> Vec<Pkg> {
        self.registries
            .get(registry)
            .map(|r| r.packages.clone())
            .unwrap_or_default()
    }
}

pub type Shared = Arc<Mutex<EmuState>>;

/// A running emulator.
pub struct Handle {
    pub url: String,
    pub addr: SocketAddr,
    pub state: Shared,
}

impl Handle {
    /// Adds a scripted fault.
    pub fn fault(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    /// Packages of a registry.
    #[must_use]
    pub fn packages(&self, registry: &str) -> Vec<Pkg> {
        self.state.lock().unwrap().packages(registry)
    }

    /// Recorded requests.
    #[must_use]
    pub fn requests(&self) -> Vec<Record> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Lets the listing show package `id` from now on, however far it lags: a test
    /// sets up "long listed" without waiting for the lag to pass.
    pub fn list_now(&self, id: &str) {
        self.state
            .lock()
            .unwrap()
            .listed_from
            .insert(id.to_owned(), std::time::Instant::now());
    }
}

/// Builds the state for `config`.
#[must_use]
pub fn new_state(config: Config) -> Shared {
    let mut state = EmuState::default();
    for (slug, eco) in &config.registries {
        state.registries.insert(
            slug.clone(),
            Registry {
                ecosystem: eco.clone(),
                packages: Vec::new(),
            },
        );
    }
    state.rng = config.chaos.as_ref().map(|c| fastrand::Rng::with_seed(c.seed));
    state.started = Some(std::time::Instant::now());
    state.config = Some(config);
    Arc::new(Mutex::new(state))
}

/// The router.
pub fn router(state: Shared) -> Router {
    let base = "/v2/packages/organizations/{org}/registries/{registry}";
    Router::new()
        .route(base, get(get_registry))
        .route(&format!("{base}/packages"), post(publish).get(list))
        .route(&format!("{base}/packages/upload"), post(upload_slot))
        .route(
            &format!("{base}/packages/{{id}}"),
            get(get_package).delete(delete_package),
        )
        .route(&format!("{base}/packages/{{id}}/copy"), post(copy))
        .route("/_storage/bucket", post(storage))
        .route("/_storage/object/{*key}", put(storage_put))
        .route("/_github/token", get(github_token))
        .route("/_emulator/state", get(dump))
        .route("/_emulator/faults", post(add_faults))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware))
        // Packages are large; the emulator streams them through its hashers.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serves on `addr` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: Shared) {
    axum::serve(listener, router(state)).await.expect("emulator server");
}

/// Starts an emulator on a random loopback port in a background thread.
#[must_use]
pub fn start(config: Config) -> Handle {
    let state = new_state(config);
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = state.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            serve(listener, shared).await;
        });
    });
    let addr = rx.recv().unwrap();
    Handle {
        url: format!("http://{addr}"),
        addr,
        state,
    }
}
