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

#[path = "identity.rs"]
mod identity;

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

// ---------------------------------------------------------------- middleware

/// Latency, scripted faults, chaos and the request log.
async fn middleware(State(state): State<Shared>, req: Request, next: axum::middleware::Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let headers = req.headers().clone();
    let auth = match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        None => "none".to_owned(),
        Some(v) if v.starts_with("Bearer eyJ") => "oidc".to_owned(),
        Some(v) if v.starts_with("Bearer ") => "token".to_owned(),
        Some(_) => "other".to_owned(),
    };
    let content_length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let is_publish = method == "POST" && path.ends_with("/packages") && !path.starts_with("/_");
    let (latency, fault, chaos, arrival, in_flight, arrived_ms) = {
        let mut s = state.lock().unwrap();
        s.arrivals += 1;
        let arrival = s.arrivals;
        let arrived_ms = s
            .started
            .map_or(0, |t| u64::try_from(t.elapsed().as_millis()).unwrap_or(0));
        let in_flight = if is_publish {
            s.publishes_in_flight += 1;
            s.publishes_in_flight
        } else {
            0
        };
        let jitter = s.cfg().jitter_ms;
        let latency = s.cfg().latency_ms + if jitter > 0 { fastrand::u64(0..=jitter) } else { 0 };
        let fault = pick_fault(&mut s, &method, &path);
        let chaos = if is_publish && fault.is_none() {
            roll_chaos(&mut s)
        } else {
            None
        };
        (latency, fault, chaos, arrival, in_flight, arrived_ms)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let fault = fault.or(chaos);
    // A dropped connection is logged with status 0.
    let log = |status: u16, file: Option<String>| {
        if is_publish {
            state.lock().unwrap().publishes_in_flight -= 1;
        }
        record(
            &state,
            Record {
                method: method.clone(),
                path: path.clone(),
                query: query.clone(),
                status,
                auth: auth.clone(),
                user_agent: user_agent.clone(),
                content_length,
                file_name: file,
                arrival,
                in_flight,
                arrived_ms,
            },
        );
    };
    let mut response = match fault {
        Some(f) => {
            if f.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
            }
            if f.think_ms > 0 {
                let answer = next.run(req).await;
                tokio::time::sleep(Duration::from_millis(f.think_ms)).await;
                trickle(answer, f.trickle_ms)
            } else if f.after_commit {
                let committed = next.run(req).await;
                if f.drop {
                    log(0, None);
                    std::panic::resume_unwind(Box::new("emulator: dropping the connection after commit"));
                }
                drop(committed);
                fault_response(&f)
            } else if f.drop {
                // Read a little of the body so the drop happens mid-upload.
                let mut body = req.into_body().into_data_stream();
                use futures_util::StreamExt;
                let _ = body.next().await;
                log(0, None);
                std::panic::resume_unwind(Box::new("emulator: dropping the connection"));
            } else if f.status.is_some() {
                // Read the whole request first, as a server does, so the client gets
                // the answer rather than a broken pipe.
                drain(req.into_body()).await;
                trickle(fault_response(&f), f.trickle_ms)
            } else {
                trickle(next.run(req).await, f.trickle_ms)
            }
        }
        None => next.run(req).await,
    };
    let file_name = response.extensions_mut().remove::<FileName>().map(|f| f.0);
    log(response.status().as_u16(), file_name);
    response
}

#[derive(Clone)]
struct FileName(String);

/// Reads and discards a request body without holding it in memory.
async fn drain(body: Body) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    while let Some(Ok(_)) = stream.next().await {}
}

/// Reads and discards the rest of a multipart body (early refusals).
async fn drain_multipart(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

fn record(state: &Shared, record: Record) {
    state.lock().unwrap().requests.push(record);
}

fn pick_fault(s: &mut EmuState, method: &str, path: &str) -> Option<Fault> {
    let idx = s.faults.iter().position(|f| {
        f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
            && f.path_contains.as_deref().is_none_or(|p| path.contains(p))
            && f.path_suffix.as_deref().is_none_or(|p| path.ends_with(p))
            && f.file_contains.is_none()
    })?;
    if s.faults[idx].skip > 0 {
        s.faults[idx].skip -= 1;
        return None;
    }
    let fault = s.faults[idx].clone();
    if fault.times > 0 {
        s.faults[idx].times -= 1;
        if s.faults[idx].times == 0 {
            s.faults.remove(idx);
        }
    }
    Some(fault)
}

fn roll_chaos(s: &mut EmuState) -> Option<Fault> {
    let chaos = s.cfg().chaos.clone()?;
    let rng = s.rng.as_mut()?;
    let roll = rng.u32(0..100);
    let mut edge = chaos.p503;
    if roll < edge {
        return Some(Fault {
            status: Some(503),
            body: Some(r#"{"message":"Service Unavailable"}"#.into()),
            ..Fault::default()
        });
    }
    edge += chaos.p429;
    if roll < edge {
        return Some(Fault {
            status: Some(429),
            headers: [
                ("RateLimit-Reset".to_owned(), "1".to_owned()),
                ("RateLimit-Remaining".to_owned(), "0".to_owned()),
            ]
            .into(),
            body: Some(r#"{"message":"Too many requests","scope":"rest","limit":200,"current":201,"reset":1}"#.into()),
            ..Fault::default()
        });
    }
    edge += chaos.pdrop;
    if roll < edge {
        return Some(Fault {
            drop: true,
            ..Fault::default()
        });
    }
    edge += chaos.pcommit_drop;
    if roll < edge {
        return Some(Fault {
            drop: true,
            after_commit: true,
            ..Fault::default()
        });
    }
    edge += chaos.pstall;
    if roll < edge {
        return Some(Fault {
            delay_ms: chaos.stall_ms,
            ..Fault::default()
        });
    }
    None
}

/// Re-sends an answer's body one byte every `every_ms` milliseconds (0: as it is).
fn trickle(resp: Response, every_ms: u64) -> Response {
    if every_ms == 0 {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let stream = futures_util::stream::unfold(
        (body.into_data_stream(), Vec::<u8>::new()),
        move |(mut body, mut buf)| async move {
            use futures_util::StreamExt;
            if buf.is_empty() {
                match body.next().await {
                    Some(Ok(chunk)) => buf = chunk.to_vec(),
                    _ => return None,
                }
            }
            tokio::time::sleep(Duration::from_millis(every_ms)).await;
            let byte = buf.remove(0);
            Some((
                Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![byte])),
                (body, buf),
            ))
        },
    );
    Response::from_parts(parts, Body::from_stream(stream))
}

fn fault_response(f: &Fault) -> Response {
    let status = StatusCode::from_u16(f.status.unwrap_or(500)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::builder().status(status);
    for (k, v) in &f.headers {
        resp = resp.header(k, v);
    }
    if f.body_bytes > 0 {
        let mut left = f.body_bytes;
        let filler = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
        let stream = futures_util::stream::poll_fn(move |_| {
            if left == 0 {
                return std::task::Poll::Ready(None);
            }
            let n = left.min(filler.len() as u64);
            left = left.saturating_sub(n);
            std::task::Poll::Ready(Some(Ok::<_, std::io::Error>(filler.slice(..n as usize))))
        });
        return resp.body(Body::from_stream(stream)).unwrap();
    }
    let body = f
        .body
        .clone()
        .unwrap_or_else(|| json!({"message": status.canonical_reason().unwrap_or("error")}).to_string());
    resp.body(Body::from(body)).unwrap()
}

// ---------------------------------------------------------------- auth

fn err(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// Checks the bearer token for `scope` on `registry`.
fn authorize(s: &EmuState, headers: &HeaderMap, org: &str, registry: &str, scope: &str) -> Result<(), Response> {
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "Authentication required. Please supply a valid API Access Token",
        ));
    };
    if token.starts_with("eyJ") {
        let claims = decode_jwt(token).ok_or_else(|| err(StatusCode::UNAUTHORIZED, "Invalid OIDC token"))?;
        let aud = format!("https://packages.buildkite.com/{org}/{registry}");
        if claims.get("aud").and_then(Value::as_str) != Some(aud.as_str()) {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                &format!("OIDC token audience must be {aud}"),
            ));
        }
        let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        if exp <= now || exp.saturating_sub(iat) > 300 {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                "OIDC token expired or lives longer than 5 minutes",
            ));
        }
        if !s.cfg().oidc_scopes.iter().any(|x| x == scope) {
            return Err(err(
                StatusCode::FORBIDDEN,
                &format!("The OIDC policy does not grant the {scope} scope"),
            ));
        }
        return Ok(());
    }
    match s.cfg().tokens.get(token) {
        None => Err(err(
            StatusCode::UNAUTHORIZED,
            "Authentication required. Please supply a valid API Access Token",
        )),
        Some(scopes) if !scopes.iter().any(|x| x == scope) => Err(err(
            StatusCode::FORBIDDEN,
            &format!("Your access token doesn't have the {scope} scope"),
        )),
        Some(_) => Ok(()),
    }
}

fn decode_jwt(token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn check_org(s: &EmuState, org: &str, registry: &str) -> Result<(), Response> {
    if org != s.cfg().org {
        return Err(err(StatusCode::NOT_FOUND, "No organization found"));
    }
    if !s.registries.contains_key(registry) {
        return Err(err(StatusCode::NOT_FOUND, "No registry found"));
    }
    Ok(())
}

fn package_json(s: &EmuState, base: &str, org: &str, registry: &str, p: &Pkg) -> Value {
    let _ = s;
    json!({
        "id": p.id,
        "url": format!("{base}/v2/packages/organizations/{org}/registries/{registry}/packages/{}", p.id),
        "web_url": format!("https://buildkite.com/organizations/{org}/packages/registries/{registry}/packages/{}", p.id),
        "name": p.name,
        "version": p.version,
        "variant": p.variant,
        "created_at": p.created_at,
        "digests": { "sha256": p.sha256, "sha512": p.sha512 },
        "organization": { "slug": org },
        "registry": { "slug": registry },
    })
}

/// The emulator's URL as the client reached it: `https` when a TLS front says so
/// with `X-Forwarded-Proto`, as reverse proxies do.
fn base_url(headers: &HeaderMap) -> String {
    let scheme = match headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()) {
        Some("https") => "https",
        _ => "http",
    };
    format!(
        "{scheme}://{}",
        headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1")
    )
}

// ---------------------------------------------------------------- handlers

async fn get_registry(
    State(state): State<Shared>,
    Path((org, registry)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) =
        check_org(&s, &org, &registry).and_then(|()| authorize(&s, &headers, &org, &registry, "read_registries"))
    {
        return r;
    }
    let r = &s.registries[&registry];
    axum::Json(json!({ "slug": registry, "name": registry, "ecosystem": r.ecosystem, "web_url": format!("https://buildkite.com/organizations/{org}/packages/registries/{registry}") })).into_response()
}

/// An uploaded file: its digests, and its bytes spooled to a temporary file (none in
/// sink mode) for the registry to read the package from.
#[derive(Debug, Clone)]
pub struct Upload {
    file_name: String,
    size: u64,
    sha256: String,
    sha512: String,
    spool: Option<Arc<tempfile::TempPath>>,
}

/// Takes an upload's bytes chunk by chunk: hashes them and spools them to disk.
struct Spool {
    sha256: Sha256,
    sha512: Sha512,
    size: u64,
    file: Option<(std::fs::File, tempfile::TempPath)>,
}

impl Spool {
    fn new(keep: bool) -> Spool {
        let file = keep.then(|| tempfile::NamedTempFile::new().expect("temporary file").into_parts());
        Spool {
            sha256: Sha256::new(),
            sha512: Sha512::new(),
            size: 0,
            file,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        use std::io::Write;
        self.size += chunk.len() as u64;
        if let Some((file, _)) = &mut self.file {
            self.sha256.update(chunk);
            self.sha512.update(chunk);
            file.write_all(chunk).expect("spool write");
        }
    }

    fn finish(self, file_name: String) -> Upload {
        Upload {
            file_name,
            size: self.size,
            sha256: format!("{:x}", self.sha256.finalize()),
            sha512: format!("{:x}", self.sha512.finalize()),
            spool: self.file.map(|(_, path)| Arc::new(path)),
        }
    }
}

/// What the registry makes of an upload for a registry of `ecosystem`: the package's
/// own identity (or why it is refused), read on a blocking thread.
async fn read_identity(upload: &Upload, ecosystem: &str) -> Result<identity::Ident, String> {
    let Some(path) = upload.spool.clone() else {
        return Ok(identity::unread(&upload.file_name));
    };
    let (name, eco) = (upload.file_name.clone(), ecosystem.to_owned());
    tokio::task::spawn_blocking(move || identity::identify(&path, &name, &eco))
        .await
        .map_err(|e| e.to_string())?
}

async fn publish(
    State(state): State<Shared>,
    Path((org, registry)): Path<(String, String)>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let refused = {
        let s = state.lock().unwrap();
        check_org(&s, &org, &registry).and_then(|()| authorize(&s, &headers, &org, &registry, "write_packages"))
    };
    if let Err(r) = refused {
        drain_multipart(&mut multipart).await;
        return r;
    }
    let (max, sink) = {
        let s = state.lock().unwrap();
        (s.cfg().max_direct_bytes, s.cfg().sink)
    };
    let mut upload = None;
    let mut package_url = None;
    let mut bundle = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return err(StatusCode::BAD_REQUEST, &format!("Malformed multipart body: {e}")),
        };
        match field.name().unwrap_or_default() {
            "file" => match hash_field(field, max, !sink).await {
                Ok(u) => upload = Some(u),
                Err(r) => return r,
            },
            "package_url" => package_url = field.text().await.ok(),
            "attestation_bundle" => bundle = field.text().await.ok(),
            _ => {}
        }
    }
    let upload = match (upload, package_url) {
        (Some(u), _) => u,
        (None, Some(url)) => match fetch_object(&state, &url).await {
            Ok(upload) => upload,
            Err(r) => return r,
        },
        (None, None) => return err(StatusCode::UNPROCESSABLE_ENTITY, "Missing file"),
    };
    let poisoned = {
        let s = state.lock().unwrap();
        s.faults
            .iter()
            .find(|f| f.file_contains.as_deref().is_some_and(|n| upload.file_name.contains(n)))
            .cloned()
    };
    if let Some(f) = poisoned {
        return fault_response(&f);
    }
    let ecosystem = state.lock().unwrap().registries[&registry].ecosystem.clone();
    let ident = match read_identity(&upload, &ecosystem).await {
        Ok(ident) => ident,
        Err(message) => return err(StatusCode::UNPROCESSABLE_ENTITY, &message),
    };
    let mut s = state.lock().unwrap();
    // A package is its name, version and variant (the architecture, wheel tags or
    // platform), as the registry reads them from the package.
    if s.registries[&registry].packages.iter().any(|p| p.same_package(&ident)) {
        return err(StatusCode::CONFLICT, "Package version already exists");
    }
    s.counter += 1;
    let pkg = Pkg {
        id: format!("0191e8a2-0000-7000-8000-{:012x}", s.counter),
        name: ident.name,
        version: ident.version,
        variant: ident.variant,
        file_name: upload.file_name.clone(),
        size: upload.size,
        sha256: upload.sha256,
        sha512: upload.sha512,
        created_at: format!("2026-11-27T00:00:{:02}Z", s.counter % 60),
        attestation_bundle: bundle,
    };
    let mut body = package_json(&s, &base_url(&headers), &org, &registry, &pkg);
    if s.cfg().sink {
        body.as_object_mut().unwrap().remove("digests");
    }
    let lag = Duration::from_millis(s.cfg().list_lag_ms);
    s.listed_from.insert(pkg.id.clone(), std::time::Instant::now() + lag);
    s.registries.get_mut(&registry).unwrap().packages.push(pkg);
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    resp.extensions_mut().insert(FileName(upload.file_name));
    resp
}

/// Finds the object a finalize names: in the emulator's own storage, or fetched from
/// the external S3 bucket and hashed.
async fn fetch_object(state: &Shared, url: &str) -> Result<Upload, Response> {
    let external = state.lock().unwrap().cfg().storage_url.clone();
    if let Some(bucket) = external.filter(|b| url.starts_with(b.as_str())) {
        // The registry reads the private object with its own credentials; moto checks
        // that a request is signed but not the signature.
        let resp = reqwest::Client::new()
            .get(url)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=emulator/20261127/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .map_err(|e| err(StatusCode::UNPROCESSABLE_ENTITY, &format!("Cannot fetch {url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(err(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("No uploaded object at {url} ({})", resp.status()),
            ));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| err(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()))?;
        let key = percent_decode(url.trim_start_matches(bucket.as_str()).trim_start_matches('/'));
        let mut spool = Spool::new(true);
        spool.push(&bytes);
        return Ok(spool.finish(key.rsplit('/').next().unwrap_or_default().to_owned()));
    }
    let s = state.lock().unwrap();
    let key = percent_decode(
        url.split_once("/_storage/bucket/")
            .or_else(|| url.split_once("/_storage/object/"))
            .map(|(_, k)| k)
            .unwrap_or_default(),
    );
    match s.objects.get(&key) {
        Some(upload) => Ok(upload.clone()),
        None => Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("No uploaded object at {url}"),
        )),
    }
}

async fn hash_field(mut field: axum::extract::multipart::Field<'_>, max: u64, hash: bool) -> Result<Upload, Response> {
    let file_name = field.file_name().unwrap_or_default().to_owned();
    let mut spool = Spool::new(hash);
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if max > 0 && spool.size + chunk.len() as u64 > max {
                    // Keep reading so the client receives the 413 rather than a reset.
                    spool.size += chunk.len() as u64;
                    continue;
                }
                spool.push(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(err(StatusCode::BAD_REQUEST, &format!("Body read failed: {e}"))),
        }
    }
    if max > 0 && spool.size > max {
        return Err(err(StatusCode::PAYLOAD_TOO_LARGE, "Request entity too large"));
    }
    Ok(spool.finish(file_name))
}

fn percent_decode(s: &str) -> String {
    reqwest::Url::parse(&format!("http://x/{s}"))
        .ok()
        .and_then(|u| {
            u.path_segments().map(|segs| {
                segs.map(|seg| {
                    let bytes: Vec<u8> = percent_bytes(seg);
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .collect::<Vec<_>>()
                .join("/")
            })
        })
        .unwrap_or_else(|| s.to_owned())
}

fn percent_bytes(seg: &str) -> Vec<u8> {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&seg[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

async fn upload_slot(
    State(state): State<Shared>,
    Path((org, registry)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) =
        check_org(&s, &org, &registry).and_then(|()| authorize(&s, &headers, &org, &registry, "write_packages"))
    {
        return r;
    }
    s.counter += 1;
    let key = format!("uploads/{:08x}/${{filename}}", s.counter);
    let policy = format!("policy-{:08x}", s.counter);
    s.policies.push(policy.clone());
    let base = base_url(&headers);
    if s.cfg().storage_put {
        return axum::Json(put_slot(&base, s.counter, &policy)).into_response();
    }
    let storage = s
        .cfg()
        .storage_url
        .clone()
        .unwrap_or_else(|| format!("{base}/_storage/bucket"));
    axum::Json(json!({
        "uri": format!("s3://bucket/{key}"),
        "form": {
            "file_input": "file",
            "method": "POST",
            "url": storage,
            "data": { "key": key, "acl": "private", "policy": policy, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-signature": format!("sig-{policy}") }
        }
    }))
    .into_response()
}

async fn storage(State(state): State<Shared>, headers: HeaderMap, mut multipart: Multipart) -> Response {
    let xml = |status: StatusCode, code: &str, msg: &str| {
        (
            status,
            [("content-type", "application/xml")],
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{msg}</Message></Error>"
            ),
        )
            .into_response()
    };
    if headers.contains_key("authorization") {
        return xml(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Unsupported Authorization Type",
        );
    }
    if !headers.contains_key("content-length") {
        return xml(
            StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        );
    }
    let mut fields = BTreeMap::new();
    let mut upload = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return xml(StatusCode::BAD_REQUEST, "MalformedPOSTRequest", &e.to_string()),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            match hash_field(field, 0, true).await {
                Ok(u) => upload = Some(u),
                Err(r) => return r,
            }
        } else if upload.is_some() {
            return xml(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "The file must be the last field of the form",
            );
        } else {
            fields.insert(name, field.text().await.unwrap_or_default());
        }
    }
    let mut s = state.lock().unwrap();
    let policy = fields.get("policy").cloned().unwrap_or_default();
    if !s.policies.contains(&policy) || fields.get("x-amz-signature") != Some(&format!("sig-{policy}")) {
        return xml(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Invalid according to Policy: Policy Condition failed",
        );
    }
    let Some(upload) = upload else {
        return xml(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "POST requires exactly one file upload per request.",
        );
    };
    let key = fields
        .get("key")
        .cloned()
        .unwrap_or_default()
        .replace("${filename}", &upload.file_name);
    s.objects.insert(key, upload);
    StatusCode::NO_CONTENT.into_response()
}

/// An upload slot in the signed-URL shape: the URL names the object (without the
/// file name, which the uploader sends as `Content-Disposition`) and carries the
/// signature in its query; `data` holds headers the upload must send as they are.
fn put_slot(base: &str, counter: u64, policy: &str) -> Value {
    json!({
        "uri": format!("gs://bucket/uploads/{counter:08x}"),
        "form": {
            "method": "PUT",
            "url": format!("{base}/_storage/object/uploads/{counter:08x}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=sig-{policy}"),
            "data": { "x-goog-meta-slot": policy, "content-type": "application/octet-stream" }
        }
    })
}

/// The signed-URL storage endpoint: a `PUT` of the raw file, with an exact
/// `Content-Length`, no Buildkite token, and the headers the slot named (a signed URL
/// is checked against them).
async fn storage_put(
    State(state): State<Shared>,
    Path(key): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let xml = |status: StatusCode, code: &str, msg: &str| {
        (
            status,
            [("content-type", "application/xml")],
            format!("<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{msg}</Message></Error>"),
        )
            .into_response()
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    if headers.contains_key("authorization") {
        return xml(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Unsupported Authorization Type",
        );
    }
    let Ok(length) = header("content-length").parse::<u64>() else {
        return xml(
            StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        );
    };
    let policy = header("x-goog-meta-slot");
    let signed = query.get("X-Goog-Signature") == Some(&format!("sig-{policy}"));
    if !signed
        || !state.lock().unwrap().policies.contains(&policy)
        || header("content-type") != "application/octet-stream"
    {
        return xml(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    let disposition = header("content-disposition");
    let file_name = match disposition.split_once("filename*=UTF-8''") {
        Some((_, encoded)) => percent_decode(encoded),
        None => disposition
            .split_once("filename=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(name, _)| name.to_owned())
            .unwrap_or_else(|| key.rsplit('/').next().unwrap_or_default().to_owned()),
    };
    let mut spool = Spool::new(true);
    let mut stream = body.into_data_stream();
    use futures_util::StreamExt;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return xml(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "The request body ended early.",
            );
        };
        spool.push(&chunk);
    }
    if spool.size != length {
        return xml(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "The body does not match the Content-Length.",
        );
    }
    state.lock().unwrap().objects.insert(key, spool.finish(file_name));
    StatusCode::OK.into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    name: Option<String>,
    per_page: Option<usize>,
    after: Option<String>,
}

async fn list(
    State(state): State<Shared>,
    Path((org, registry)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) =
        check_org(&s, &org, &registry).and_then(|()| authorize(&s, &headers, &org, &registry, "read_packages"))
    {
        return r;
    }
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    // Newest first.
    let now = std::time::Instant::now();
    let all: Vec<&Pkg> = s.registries[&registry]
        .packages
        .iter()
        .rev()
        .filter(|p| q.name.as_deref().is_none_or(|n| p.name == n))
        .filter(|p| s.listed_from.get(&p.id).is_none_or(|from| *from <= now))
        .collect();
    if s.cfg().endless_pages {
        return endless_page(&headers, &org, &registry, q.after.as_deref());
    }
    let start = match &q.after {
        Some(cursor) => match all.iter().position(|p| &p.id == cursor) {
            Some(i) => i + 1,
            None => return err(StatusCode::BAD_REQUEST, "Invalid cursor"),
        },
        None => 0,
    };
    let page: Vec<&Pkg> = all.iter().skip(start).take(per_page).copied().collect();
    let base = base_url(&headers);
    let path = format!("{base}/v2/packages/organizations/{org}/registries/{registry}/packages");
    let mut next = Value::Null;
    if start + page.len() < all.len() {
        let mut url = reqwest::Url::parse(&path).unwrap();
        {
            let mut qp = url.query_pairs_mut();
            if let Some(n) = &q.name {
                qp.append_pair("name", n);
            }
            qp.append_pair("per_page", &per_page.to_string());
            qp.append_pair("after", &page.last().unwrap().id);
        }
        next = Value::String(url.to_string());
    }
    let items: Vec<Value> = page
        .iter()
        .map(|p| {
            let mut v = package_json(&s, &base, &org, &registry, p);
            // Like the live listing, items carry no digests: clients must GET for them.
            v.as_object_mut().unwrap().remove("digests");
            v
        })
        .collect();
    axum::Json(json!({ "items": items, "links": { "self": path, "next": next } })).into_response()
}

/// A listing page that always links to one more.
fn endless_page(headers: &HeaderMap, org: &str, registry: &str, after: Option<&str>) -> Response {
    let page: u64 = after.and_then(|a| a.strip_prefix("page-")?.parse().ok()).unwrap_or(0) + 1;
    let path = format!(
        "{}/v2/packages/organizations/{org}/registries/{registry}/packages",
        base_url(headers)
    );
    let next = format!("{path}?per_page=100&after=page-{page}");
    axum::Json(json!({ "items": [], "links": { "self": path, "next": next } })).into_response()
}

async fn get_package(
    State(state): State<Shared>,
    Path((org, registry, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) =
        check_org(&s, &org, &registry).and_then(|()| authorize(&s, &headers, &org, &registry, "read_packages"))
    {
        return r;
    }
    match s.registries[&registry].packages.iter().find(|p| p.id == id) {
        Some(p) => axum::Json(package_json(&s, &base_url(&headers), &org, &registry, p)).into_response(),
        None => err(StatusCode::NOT_FOUND, "No package found"),
    }
}

async fn delete_package(
    State(state): State<Shared>,
    Path((org, registry, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) =
        check_org(&s, &org, &registry).and_then(|()| authorize(&s, &headers, &org, &registry, "delete_packages"))
    {
        return r;
    }
    let packages = &mut s.registries.get_mut(&registry).unwrap().packages;
    match packages.iter().position(|p| p.id == id) {
        Some(i) => {
            packages.remove(i);
            StatusCode::NO_CONTENT.into_response()
        }
        None => err(StatusCode::NOT_FOUND, "No package found"),
    }
}

#[derive(Deserialize)]
struct CopyQuery {
    to: Option<String>,
}

const COPYABLE: &[&str] = &["alpine", "debian", "files", "javascript", "python", "redhat", "ruby"];

async fn copy(
    State(state): State<Shared>,
    Path((org, registry, id)): Path<(String, String, String)>,
    Query(q): Query<CopyQuery>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = check_org(&s, &org, &registry)
        .and_then(|()| authorize(&s, &headers, &org, &registry, "read_packages"))
        .and_then(|()| authorize(&s, &headers, &org, &registry, "write_packages"))
    {
        return r;
    }
    let Some(to) = q.to.filter(|t| !t.is_empty()) else {
        return err(StatusCode::UNPROCESSABLE_ENTITY, "Missing destination registry (to)");
    };
    let Some(dest) = s.registries.get(&to) else {
        return err(StatusCode::NOT_FOUND, "No destination registry found");
    };
    let src = &s.registries[&registry];
    if !COPYABLE.contains(&src.ecosystem.as_str()) {
        return err(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Copying {} packages is not supported", src.ecosystem),
        );
    }
    if dest.ecosystem != src.ecosystem {
        return err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Destination registry has a different ecosystem",
        );
    }
    let Some(pkg) = src.packages.iter().find(|p| p.id == id).cloned() else {
        return err(StatusCode::NOT_FOUND, "No package found");
    };
    if dest
        .packages
        .iter()
        .any(|p| p.name == pkg.name && p.version == pkg.version && p.variant == pkg.variant)
    {
        return err(
            StatusCode::CONFLICT,
            "Package version already exists in the destination registry",
        );
    }
    s.counter += 1;
    let copy = Pkg {
        id: format!("0191e8a2-0000-7000-8000-{:012x}", s.counter),
        ..pkg
    };
    let body = package_json(&s, &base_url(&headers), &org, &to, &copy);
    let lag = Duration::from_millis(s.cfg().list_lag_ms);
    s.listed_from.insert(copy.id.clone(), std::time::Instant::now() + lag);
    s.registries.get_mut(&to).unwrap().packages.push(copy);
    axum::Json(body).into_response()
}

async fn dump(State(state): State<Shared>) -> Response {
    let s = state.lock().unwrap();
    axum::Json(json!({ "registries": s.registries, "requests": s.requests, "faults": s.faults })).into_response()
}

async fn add_faults(State(state): State<Shared>, axum::Json(faults): axum::Json<Vec<Fault>>) -> Response {
    state.lock().unwrap().faults.extend(faults);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert("x-emulator", HeaderValue::from_static("ok"));
    resp
}

#[derive(Deserialize)]
struct TokenQuery {
    audience: Option<String>,
}

/// A stand-in for the GitHub runner's ID token endpoint: needs the request token
/// `gh-request-token` as Bearer and answers `{"value": "<jwt>"}` for `audience`.
async fn github_token(Query(q): Query<TokenQuery>, headers: HeaderMap) -> Response {
    use base64::Engine;
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer gh-request-token") {
        return err(StatusCode::UNAUTHORIZED, "bad request token");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let jwt = format!(
        "{}.{}.c2ln",
        enc(&json!({"alg": "RS256", "typ": "JWT"})),
        enc(
            &json!({"iss": "https://token.actions.githubusercontent.com", "aud": q.audience, "iat": now, "exp": now + 300})
        )
    );
    axum::Json(json!({ "value": jwt })).into_response()
}
