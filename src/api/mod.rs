//! The Packages API client, and the only place an HTTP client is built. One
//! [`Client`] (cheap to clone) serves every call: publish (direct multipart, and the
//! presigned slot / storage / finalize legs), list with cursor pagination, get, copy,
//! delete, and reading a registry. Tokens are passed per call because OIDC tokens are
//! minted per registry audience. The storage leg of the presigned flow never gets the
//! Buildkite token.
//!
//! Idempotent reads and deletes retry here; publish and copy retry in their callers,
//! which must look the package up after an ambiguous failure before sending again.
//!
//! Every API request passes the run's rate-limit gate ([`gate`]): once an answer says
//! the organization's limit is reached, no request leaves before the reset.
//!
//! Every wait is bounded: JSON calls have a total time limit (`stall-timeout`, so a
//! silent or trickling server is abandoned), uploads are watched for stalls, answers
//! are read up to a size cap, and pagination stops after [`MAX_PAGES`] pages.

pub mod body;
pub mod error;
pub mod gate;
pub mod model;
pub mod net;

use std::sync::Arc;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, Response, Url};
use serde::de::DeserializeOwned;

pub use body::{Progress, ReadState};
pub use error::ApiError;
use gate::Gate;
use model::{Package, PackagePage, Registry, UploadForm, UploadSlot};

use crate::artifact::Artifact;
use crate::config::Network;
use crate::retry::{self, RetryPolicy};
use crate::secret::Secret;

/// How long to wait for a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Page size asked for when listing.
pub const PAGE_SIZE: u32 = 100;
/// The most pages one listing follows (100 000 packages at [`PAGE_SIZE`]).
pub const MAX_PAGES: usize = 1000;
/// The largest successful answer read into memory (a page of packages is a few KiB).
pub const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// How much of an error answer is read: enough for any message, never a whole page
/// of HTML or an endless stream.
pub const MAX_ERROR_BYTES: usize = 64 * 1024;

/// The Packages API client.
#[derive(Clone)]
pub struct Client(Arc<Inner>);

struct Inner {
    http: reqwest::Client,
    base: Url,
    policy: RetryPolicy,
    /// The total time limit of one JSON call, and of reading an upload's answer.
    timeout: Duration,
    /// sha256 digests of packages fetched (or being fetched), by `org/registry/id`:
    /// concurrent lookups of one package share one request.
    digests: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::OnceCell<Option<String>>>>>,
    /// The run's rate-limit gate: every API request waits here.
    gate: Gate,
}

/// The most package digests remembered in one run.
const MAX_REMEMBERED_DIGESTS: usize = 100_000;

impl Client {
    /// Builds the client: one connection pool, a user agent naming this tool and the
    /// CI job, the trust store and proxies of `network` (see [`net`]), no automatic
    /// redirects (a redirected upload would have to resend its body, and a redirect
    /// must never carry the token elsewhere). `timeout` bounds every JSON call from
    /// connect to the last byte of the answer. An unusable certificate file or proxy
    /// is an error naming its variable.
    pub fn new(base: &Url, policy: RetryPolicy, timeout: Duration, network: &Network) -> anyhow::Result<Self> {
        let builder = reqwest::Client::builder()
            .user_agent(net::user_agent(network))
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true);
        let (builder, _) = net::configure(builder, network)?;
        let http = builder.build()?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Client(Arc::new(Inner {
            http,
            base,
            policy,
            timeout,
            digests: std::sync::Mutex::default(),
            gate: Gate::default(),
        })))
    }

    /// After `cancel` fires, a request still waiting out a rate limit is never sent.
    pub fn cancel_with(&self, cancel: tokio_util::sync::CancellationToken) {
        self.0.gate.cancel_with(cancel);
    }

    /// How long the rate-limit gate stays shut, if it is shut now.
    #[must_use]
    pub fn rate_limited_for(&self) -> Option<Duration> {
        self.0.gate.shut_for()
    }

    /// Sends an API request through the rate-limit gate, and lets its answer teach
    /// the gate. `send` is the request (or an upload watching it).
    async fn through_gate(
        &self,
        method: &'static str,
        url: &Url,
        send: impl std::future::Future<Output = Result<Response, ApiError>>,
    ) -> Result<Response, ApiError> {
        self.0
            .gate
            .wait()
            .await
            .map_err(|gate::Cancelled| ApiError::Cancelled {
                method,
                url: url.to_string(),
            })?;
        let resp = send.await?;
        self.0.gate.observe(resp.status(), resp.headers());
        Ok(resp)
    }

    /// The retry policy every caller shares.
    #[must_use]
    pub fn policy(&self) -> RetryPolicy {
        self.0.policy
    }

    /// `…/v2/packages/organizations/{org}/registries/{registry}/` plus `rest` segments.
    fn url(&self, org: &str, registry: &str, rest: &[&str]) -> Url {
        let mut url = self.0.base.clone();
        {
            let mut segments = url.path_segments_mut().expect("http(s) URLs have paths");
            segments.pop_if_empty();
            segments.extend(["v2", "packages", "organizations", org, "registries", registry]);
            segments.extend(rest);
        }
        url
    }

    /// A JSON call: authorised, and bounded by the client's time limit.
    fn json_request(&self, method: Method, url: Url, token: &Secret) -> RequestBuilder {
        self.request(method, url, token).timeout(self.0.timeout)
    }

    fn request(&self, method: Method, url: Url, token: &Secret) -> RequestBuilder {
        self.0
            .http
            .request(method, url)
            .bearer_auth(token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Publishes a file with the documented multipart POST (`file` part, streamed from
    /// disk, named with the file's base name). One attempt; the caller retries. With
    /// `digest`, the file is hashed while it streams.
    pub async fn publish_direct(
        &self,
        org: &str,
        registry: &str,
        token: &Secret,
        upload: &Upload<'_>,
    ) -> Result<Package, ApiError> {
        let url = self.url(org, registry, &["packages"]);
        let mut form = Form::new();
        if let Some(bundle) = upload.attestation_bundle {
            form = form.part("attestation_bundle", bundle_part(bundle));
        }
        let form = form.part("file", file_part(upload)?);
        let req = self.request(Method::POST, url.clone(), token).multipart(form);
        let resp = self
            .through_gate("POST", &url, watch("POST", &url, req.send(), upload.progress))
            .await
            .map_err(|e| upload.blame(e))?;
        self.decode_within("POST", &url, resp).await
    }

    /// Presigned flow, leg 1: ask for an upload slot.
    pub async fn request_upload_slot(&self, org: &str, registry: &str, token: &Secret) -> Result<UploadForm, ApiError> {
        let url = self.url(org, registry, &["packages", "upload"]);
        let req = self.json_request(Method::POST, url.clone(), token);
        let resp = self.through_gate("POST", &url, send(req, "POST", &url)).await?;
        let slot: UploadSlot = decode("POST", &url, resp).await?;
        // A POST form names the object by its `key`; a PUT URL names it itself.
        if !slot.form.method.eq_ignore_ascii_case("PUT") && !slot.form.data.contains_key("key") {
            return Err(ApiError::Decode {
                method: "POST",
                url: url.to_string(),
                detail: "the upload slot's form has no `key` field, so the uploaded object could not be named"
                    .to_owned(),
            });
        }
        Ok(slot.form)
    }

    /// Presigned flow, leg 2: send the file to storage as the slot's form says. The
    /// form may name any host (an organization can link its own S3 or GCS bucket) and
    /// either method:
    ///
    /// - `POST` (an S3 browser-POST form): the `data` fields as text parts first, the
    ///   file last, as the part `file_input`; the object is `key` under `url`.
    /// - `PUT` (a signed URL): the file as the raw body; the `data` entries are sent
    ///   as request headers (a signed URL is checked against the headers it was signed
    ///   with); the object is `url` without its query. The file name travels as
    ///   `Content-Disposition` unless `data` sets one, since the URL may not carry it.
    ///
    /// The length is exact (storage refuses chunked bodies), no Buildkite header is
    /// sent, and the `User-Agent` names only this tool. Errors name the storage host,
    /// which egress allowlists and proxies must cover. Returns the `package_url` for
    /// finalize.
    pub async fn upload_to_storage(&self, form: &UploadForm, upload: &Upload<'_>) -> Result<String, ApiError> {
        let artifact = upload.artifact;
        let decode_error = |method: &'static str, detail: String| ApiError::Decode {
            method,
            url: form.url.split('?').next().unwrap_or_default().to_owned(),
            detail,
        };
        let (method, verb) = match form.method.to_ascii_uppercase().as_str() {
            "POST" => (Method::POST, "POST"),
            "PUT" => (Method::PUT, "PUT"),
            other => {
                return Err(decode_error(
                    "POST",
                    format!("the upload slot's form asks for the method {other:?}; storage uploads are POST or PUT"),
                ));
            }
        };
        let url = Url::parse(&form.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| decode_error(verb, "the upload slot's URL is not an http(s) URL".to_owned()))?;
        // Errors name the object's URL without the query, which holds the signature.
        let mut object = url.clone();
        object.set_query(None);
        let host = url.host_str().unwrap_or_default().to_owned();
        let req = if method == Method::PUT {
            self.put_request(&url, form, upload)
                .map_err(|d| decode_error(verb, d))?
        } else {
            let mut body = Form::new();
            let mut key = String::new();
            for (name, value) in &form.data {
                let text = field_text(value);
                if name == "key" {
                    key = text.replace("${filename}", &artifact.file_name);
                }
                body = body.text(name.clone(), text);
            }
            body = body.part(form.file_input.clone(), file_part(upload)?);
            let mut segments = object.path_segments_mut().expect("http(s) URLs have paths");
            segments.pop_if_empty();
            segments.extend(key.split('/'));
            drop(segments);
            self.0.http.post(url.clone()).multipart(body)
        };
        let req = req.header(reqwest::header::USER_AGENT, net::TOOL);
        let shown = {
            let mut u = url.clone();
            u.set_query(None);
            u
        };
        let resp = watch(verb, &shown, req.send(), upload.progress)
            .await
            .map_err(|e| upload.blame(e))
            .map_err(|e| storage_context(e, &host))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body = error_text(resp, self.0.timeout).await;
            return Err(ApiError::Storage {
                method: verb,
                url: shown.to_string(),
                host,
                status,
                message: if body.trim().is_empty() {
                    http_reason(status)
                } else {
                    snippet(&body)
                },
            });
        }
        Ok(object.to_string())
    }

    /// The storage leg of a `PUT` form: the file as the raw body with its exact
    /// length, the form's `data` as headers. The error is the reason a header cannot
    /// be sent.
    fn put_request(&self, url: &Url, form: &UploadForm, upload: &Upload<'_>) -> Result<RequestBuilder, String> {
        use reqwest::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
        let artifact = upload.artifact;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &form.data {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("the upload slot's form has a field {name:?} that is not a header name"))?;
            // The length is this client's to state; these say how the body is framed.
            if matches!(
                header.as_str(),
                "content-length" | "transfer-encoding" | "host" | "connection"
            ) {
                continue;
            }
            let value = HeaderValue::from_str(&field_text(value))
                .map_err(|_| format!("the upload slot's form field {name:?} is not a valid header value"))?;
            headers.append(header, value);
        }
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        }
        if !headers.contains_key(CONTENT_DISPOSITION) {
            if let Ok(value) = HeaderValue::from_str(&content_disposition(&artifact.file_name)) {
                headers.insert(CONTENT_DISPOSITION, value);
            }
        }
        let body = body::file_body(
            &artifact.path,
            artifact.size,
            artifact.file_id,
            upload.progress,
            &upload.read,
        )
        .map_err(|e| format!("cannot read {}: {e}", artifact.rel))?;
        Ok(self
            .0
            .http
            .put(url.clone())
            .headers(headers)
            .header(CONTENT_LENGTH, artifact.size)
            .body(body))
    }

    /// Presigned flow, leg 3: register the uploaded object as a package.
    pub async fn finalize_upload(
        &self,
        org: &str,
        registry: &str,
        token: &Secret,
        package_url: &str,
        attestation_bundle: Option<&str>,
    ) -> Result<Package, ApiError> {
        let url = self.url(org, registry, &["packages"]);
        let mut form = Form::new().text("package_url", package_url.to_owned());
        if let Some(bundle) = attestation_bundle {
            form = form.part("attestation_bundle", bundle_part(bundle));
        }
        let req = self.json_request(Method::POST, url.clone(), token).multipart(form);
        let resp = self.through_gate("POST", &url, send(req, "POST", &url)).await?;
        decode("POST", &url, resp).await
    }

    /// Every package in a registry (optionally only those named `name`), following
    /// `links.next` to the end, at most [`MAX_PAGES`] pages. `limit` stops early once
    /// that many are collected.
    pub async fn list(
        &self,
        org: &str,
        registry: &str,
        token: &Secret,
        name: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Package>, ApiError> {
        let mut url = self.url(org, registry, &["packages"]);
        {
            let mut q = url.query_pairs_mut();
            if let Some(name) = name {
                q.append_pair("name", name);
            }
            q.append_pair("per_page", &PAGE_SIZE.to_string());
        }
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for page_number in 1.. {
            if page_number > MAX_PAGES {
                return Err(ApiError::Limit {
                    method: "GET",
                    url: url.to_string(),
                    detail: format!(
                        "the listing goes on past {MAX_PAGES} pages ({} packages so far); stopped following links.next (narrow it with a name)",
                        out.len()
                    ),
                });
            }
            let page: PackagePage = self.get_json(url.clone(), token).await?;
            out.extend(page.items);
            if limit.is_some_and(|l| out.len() >= l) {
                out.truncate(limit.unwrap_or(usize::MAX));
                break;
            }
            let Some(next) = page.links.next.filter(|n| !n.is_empty()) else {
                break;
            };
            let next = self.0.base.join(&next).map_err(|e| ApiError::Decode {
                method: "GET",
                url: url.to_string(),
                detail: format!("links.next {next:?} is not a URL ({e})"),
            })?;
            // The token goes only to the API's own origin, and a cursor that repeats
            // would loop forever.
            if next.origin() != self.0.base.origin() || !seen.insert(next.to_string()) {
                return Err(ApiError::Decode {
                    method: "GET",
                    url: url.to_string(),
                    detail: format!("links.next points somewhere it should not ({next})"),
                });
            }
            url = next;
        }
        Ok(out)
    }

    /// A package's sha256, fetched by id once per run: listings carry no digests, and
    /// a release with many files under one name and version would otherwise fetch
    /// each of them again for every file looked up.
    pub async fn sha256_of(
        &self,
        org: &str,
        registry: &str,
        token: &Secret,
        id: &str,
    ) -> Result<Option<String>, ApiError> {
        let cell = {
            let mut cache = self.0.digests.lock().expect("digest cache lock");
            let key = format!("{org}/{registry}/{id}");
            match cache.get(&key) {
                Some(cell) => Arc::clone(cell),
                None if cache.len() >= MAX_REMEMBERED_DIGESTS => Arc::default(),
                None => Arc::clone(cache.entry(key).or_default()),
            }
        };
        let sha = cell
            .get_or_try_init(|| async {
                let pkg = self.get(org, registry, token, id).await?;
                Ok::<_, ApiError>(pkg.sha256().map(str::to_owned))
            })
            .await?;
        Ok(sha.clone())
    }

    /// One package by id.
    pub async fn get(&self, org: &str, registry: &str, token: &Secret, id: &str) -> Result<Package, ApiError> {
        self.get_json(self.url(org, registry, &["packages", id]), token).await
    }

    /// The registry itself (needs `read_registries`; OIDC tokens cannot read it).
    pub async fn registry(&self, org: &str, registry: &str, token: &Secret) -> Result<Registry, ApiError> {
        let mut url = self.0.base.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have paths")
            .pop_if_empty()
            .extend(["v2", "packages", "organizations", org, "registries", registry]);
        self.get_json(url, token).await
    }

    /// Copies a package into another registry of the organization. One attempt; the
    /// caller checks the destination before retrying.
    pub async fn copy(
        &self,
        org: &str,
        registry: &str,
        token: &Secret,
        id: &str,
        to: &str,
    ) -> Result<Package, ApiError> {
        let mut url = self.url(org, registry, &["packages", id, "copy"]);
        url.query_pairs_mut().append_pair("to", to);
        let req = self
            .json_request(Method::POST, url.clone(), token)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        let resp = self.through_gate("POST", &url, send(req, "POST", &url)).await?;
        decode("POST", &url, resp).await
    }

    /// Deletes a package, retrying transient failures; a 404 on a retry means an
    /// earlier attempt already deleted it.
    pub async fn delete(&self, org: &str, registry: &str, token: &Secret, id: &str) -> Result<(), ApiError> {
        let url = self.url(org, registry, &["packages", id]);
        let once = |attempt: u32| {
            let req = self.json_request(Method::DELETE, url.clone(), token);
            let url = &url;
            async move {
                match self.through_gate("DELETE", url, send(req, "DELETE", url)).await {
                    Ok(resp) if resp.status().is_success() => Ok(()),
                    Ok(resp) if attempt > 0 && resp.status().as_u16() == 404 => Ok(()),
                    Ok(resp) => Err(status_error("DELETE", url, resp).await),
                    Err(e) => Err(e),
                }
            }
        };
        retry::run::retry(self.0.policy, &not_cancelled(), ApiError::retry_class, once)
            .await
            .map_err(retry::run::Stopped::into_inner)
    }

    /// GET with retries on transient failures.
    async fn get_json<T: DeserializeOwned>(&self, url: Url, token: &Secret) -> Result<T, ApiError> {
        let once = |_| {
            let req = self.json_request(Method::GET, url.clone(), token);
            let url = &url;
            async move {
                let resp = self.through_gate("GET", url, send(req, "GET", url)).await?;
                decode("GET", url, resp).await
            }
        };
        retry::run::retry(self.0.policy, &not_cancelled(), ApiError::retry_class, once)
            .await
            .map_err(retry::run::Stopped::into_inner)
    }
}

/// The client's own retries are not cut short by a cancellation: its callers bound
/// every call with their cancellation grace, dropping the call when it is over.
fn not_cancelled() -> tokio_util::sync::CancellationToken {
    tokio_util::sync::CancellationToken::new()
}

/// One file upload: the file, its attestations, the progress counters, and what the
/// reader found (the sha256 computed while streaming, when asked; a local error).
pub struct Upload<'a> {
    pub artifact: &'a Artifact,
    pub attestation_bundle: Option<&'a str>,
    pub progress: &'a Arc<Progress>,
    pub read: ReadState,
}

impl Upload<'_> {
    /// A failed upload whose cause was the local file is a local error: the server
    /// never got the whole body, and another attempt would fail the same way.
    fn blame(&self, err: ApiError) -> ApiError {
        match self.read.error() {
            Some(detail) => ApiError::Local {
                path: self.artifact.rel.clone(),
                detail,
            },
            None => err,
        }
    }
}

/// The `file` part: streamed from disk by a reader thread with its exact length, so
/// the body is never held in memory and the multipart length is known.
fn file_part(upload: &Upload<'_>) -> Result<Part, ApiError> {
    let artifact = upload.artifact;
    let local = |e: &dyn std::fmt::Display| ApiError::Local {
        path: artifact.rel.clone(),
        detail: e.to_string(),
    };
    let body = body::file_body(
        &artifact.path,
        artifact.size,
        artifact.file_id,
        upload.progress,
        &upload.read,
    )
    .map_err(|e| local(&e))?;
    Part::stream_with_length(body, artifact.size)
        .file_name(artifact.file_name.clone())
        .mime_str("application/octet-stream")
        .map_err(|e| local(&e))
}

/// A form field's value as text (strings as they are, anything else as JSON).
fn field_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `attachment; filename="…"` for a plain ASCII name, RFC 6266's `filename*` (UTF-8,
/// percent-encoded) for any other.
fn content_disposition(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_graphic() || c == ' ') && !name.contains(['"', '\\', '%']) {
        return format!("attachment; filename=\"{name}\"");
    }
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename*=UTF-8''{encoded}")
}

/// A failed storage request names the storage host: it is often not the API's, and
/// egress allowlists, proxies and `NO_PROXY` must cover it too.
fn storage_context(err: ApiError, host: &str) -> ApiError {
    match err {
        ApiError::Transport {
            method,
            url,
            detail,
            ambiguous,
        } => ApiError::Transport {
            method,
            url,
            detail: format!(
                "{detail} (the storage host {host} must be reachable from here: egress allowlists and proxies must cover it)"
            ),
            ambiguous,
        },
        other => other,
    }
}

fn bundle_part(bundle: &str) -> Part {
    Part::text(bundle.to_owned())
        .file_name("attestations.jsonl")
        .mime_str("application/x-ndjson")
        .expect("static mime type is valid")
}

/// Runs a request, aborting it when the upload makes no progress for `stall`. Waiting
/// for the answer after the body is sent counts as no progress too: a server that never
/// answers is as stuck as one that stops reading.
async fn watch(
    method: &'static str,
    url: &Url,
    send: impl std::future::Future<Output = reqwest::Result<Response>>,
    progress: &Arc<Progress>,
) -> Result<Response, ApiError> {
    let stall = progress.stall();
    let watchdog = async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if progress.idle() >= stall {
                return;
            }
        }
    };
    tokio::select! {
        result = send => result.map_err(|e| transport(method, url, &e)),
        () = watchdog => Err(ApiError::Stalled { method, url: url.to_string(), secs: stall.as_secs() }),
    }
}

/// Sends a request, its transport failure as an [`ApiError`].
async fn send(req: RequestBuilder, method: &'static str, url: &Url) -> Result<Response, ApiError> {
    req.send().await.map_err(|e| transport(method, url, &e))
}

fn transport(method: &'static str, url: &Url, err: &reqwest::Error) -> ApiError {
    // A refused certificate is not a network failure: it fails the same way every
    // time, so it has a kind of its own that is never retried.
    if let Some(detail) = net::certificate_problem(err) {
        return ApiError::Certificate {
            method,
            url: url.to_string(),
            host: url.host_str().unwrap_or_default().to_owned(),
            detail,
        };
    }
    // The error names the method and URL once; reqwest's own text repeats the URL.
    let mut detail = match err.url() {
        Some(u) => err.to_string().replace(&format!(" for url ({u})"), ""),
        None => err.to_string(),
    };
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    ApiError::Transport {
        method,
        url: url.to_string(),
        detail,
        ambiguous: !err.is_connect(),
    }
}

impl Client {
    /// [`decode`] for a request without a total time limit (an upload): reading the
    /// answer gets the client's time limit of its own.
    async fn decode_within<T: DeserializeOwned>(
        &self,
        method: &'static str,
        url: &Url,
        resp: Response,
    ) -> Result<T, ApiError> {
        tokio::time::timeout(self.0.timeout, decode(method, url, resp))
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::Stalled {
                    method,
                    url: url.to_string(),
                    secs: self.0.timeout.as_secs(),
                })
            })
    }
}

/// Reads a body up to `cap` bytes, and whether it was cut there (the rest is not read).
async fn read_capped(mut resp: Response, cap: usize) -> reqwest::Result<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap - out.len();
        if chunk.len() > room {
            out.extend_from_slice(&chunk[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, false))
}

/// The start of an error answer as text: at most [`MAX_ERROR_BYTES`], within `limit`.
async fn error_text(resp: Response, limit: Duration) -> String {
    match tokio::time::timeout(limit, read_capped(resp, MAX_ERROR_BYTES)).await {
        Ok(Ok((bytes, _))) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    }
}

/// Any 2xx is success; the body (at most [`MAX_ANSWER_BYTES`]) is decoded as `T`.
/// Anything else becomes a status error that keeps the server's message.
async fn decode<T: DeserializeOwned>(method: &'static str, url: &Url, resp: Response) -> Result<T, ApiError> {
    if !resp.status().is_success() {
        return Err(status_error(method, url, resp).await);
    }
    let (bytes, cut) = read_capped(resp, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| transport(method, url, &e))?;
    if cut {
        return Err(ApiError::Limit {
            method,
            url: url.to_string(),
            detail: format!("the answer is larger than {} MiB; not read", MAX_ANSWER_BYTES >> 20),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
        method,
        url: url.to_string(),
        detail: format!("{e} (body starts with {:?})", snippet(&String::from_utf8_lossy(&bytes))),
    })
}

/// Builds a status error: the server's `message` (and `errors`), or the start of a
/// non-JSON body such as storage's XML; the wait the server asked for; and a hint.
async fn status_error(method: &'static str, url: &Url, resp: Response) -> ApiError {
    let status = resp.status().as_u16();
    let retry_after = server_wait(resp.headers());
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(ToOwned::to_owned);
    // Error answers of calls without a total time limit (uploads) get one here.
    let body = error_text(resp, Duration::from_secs(30)).await;
    let message = match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(json) => {
            let mut m = json
                .get("message")
                .and_then(|m| m.as_str())
                .map_or_else(|| snippet(&body), snippet);
            if let Some(errors) = json.get("errors").filter(|e| !e.is_null()) {
                m.push_str(&format!(" ({errors})"));
            }
            m
        }
        Err(_) if body.trim().is_empty() => http_reason(status),
        Err(_) => snippet(&body),
    };
    let hint = match location {
        // Redirects are never followed (the token must not go elsewhere, and an
        // upload would have to be sent again): say where it pointed.
        Some(to) if (300..400).contains(&status) => format!(
            "; the API redirected this request to {}: set api-url to the address it should use (an http:// URL is usually redirected to https://)",
            snippet(&to)
        ),
        _ => scope_hint(method, url, status),
    };
    ApiError::Status {
        method,
        url: url.to_string(),
        status,
        message,
        retry_after,
        hint,
    }
}

/// The wait a server asked for: the largest of `Retry-After` (seconds),
/// `RateLimit-Reset` and `RateLimit-User-Reset`.
fn server_wait(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    ["retry-after", "ratelimit-reset", "ratelimit-user-reset"]
        .iter()
        .filter_map(|h| headers.get(*h)?.to_str().ok()?.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        // A day is already far past what retry honours; clamping keeps absurd
        // header values from overflowing.
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
        .max()
}

/// Says which token scope an endpoint needs when it answered 401 or 403.
fn scope_hint(method: &str, url: &Url, status: u16) -> String {
    let path = url.path();
    let scope = if path.ends_with("/copy") {
        "read_packages and write_packages (on both registries)"
    } else if method == "DELETE" {
        "delete_packages"
    } else if method == "POST" {
        "read_packages and write_packages"
    } else if path.trim_end_matches('/').rsplit('/').nth(1) == Some("registries") {
        "read_registries"
    } else {
        "read_packages"
    };
    match status {
        401 => format!(
            "; the token was refused (missing, expired, revoked, or not valid for this organization). \
             An API token needs the {scope} scope; an OIDC token must have the registry's URL as its audience"
        ),
        403 => format!(
            "; the token is not allowed to do this: it needs the {scope} scope, or the registry's OIDC \
             policy must grant it"
        ),
        404 => "; check the organization, registry and package names (or the token cannot see them)".to_owned(),
        413 => "; the file is too large for a direct upload: use the presigned upload method (`upload-method` presigned, `--upload-method presigned` on the command line)".to_owned(),
        _ => String::new(),
    }
}

fn http_reason(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no message")
        .to_owned()
}

/// The start of a body, on one line.
fn snippet(text: &str) -> String {
    let t: String = text
        .trim()
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.trim().chars().count() > 300 {
        format!("{t}…")
    } else {
        t
    }
}

impl Client {
    /// Asks the GitHub Actions runner for an ID token with `audience`
    /// (`ACTIONS_ID_TOKEN_REQUEST_URL` plus `&audience=…`, the request token as Bearer;
    /// the answer is `{"value": "<jwt>"}`).
    pub async fn github_id_token(
        &self,
        request_url: &str,
        request_token: &Secret,
        audience: &str,
    ) -> Result<Secret, ApiError> {
        let mut url = Url::parse(request_url).map_err(|e| ApiError::Decode {
            method: "GET",
            url: "ACTIONS_ID_TOKEN_REQUEST_URL".to_owned(),
            detail: format!("not a URL ({e})"),
        })?;
        url.query_pairs_mut().append_pair("audience", audience);
        #[derive(serde::Deserialize)]
        struct IdToken {
            value: String,
        }
        let token: IdToken = self.get_json(url, request_token).await?;
        Ok(Secret::new(token.value))
    }
}
