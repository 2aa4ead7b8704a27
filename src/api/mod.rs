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

mod answer;
pub(crate) mod body;
pub(crate) mod error;
pub(crate) mod gate;
pub(crate) mod model;
pub(crate) mod net;
mod storage;

use std::sync::Arc;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, Response, Url};
use serde::de::DeserializeOwned;

pub(crate) use crate::config::RegistryId;
use answer::{Scope, decode, error_text, http_reason, send, snippet, status_error, watch};
pub(crate) use body::{Progress, ReadState};
pub(crate) use error::ApiError;
use gate::Gate;
use model::{Package, PackagePage, Registry, UploadForm, UploadSlot};

use crate::artifact::Artifact;
use crate::config::Network;
use crate::retry::{self, RetryPolicy};
use crate::secret::Secret;

/// How long to wait for a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Page size asked for when listing.
pub(crate) const PAGE_SIZE: u32 = 100;
/// The most pages one listing follows (100 000 packages at [`PAGE_SIZE`]).
pub(crate) const MAX_PAGES: usize = 1000;
/// The largest successful answer read into memory (a page of packages is a few KiB).
pub(crate) const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// How much of an error answer is read: enough for any message, never a whole page
/// of HTML or an endless stream.
pub(crate) const MAX_ERROR_BYTES: usize = 64 * 1024;

/// The Packages API client.
#[derive(Clone)]
pub(crate) struct Client(Arc<Inner>);

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
    pub(crate) fn new(base: &Url, policy: RetryPolicy, timeout: Duration, network: &Network) -> anyhow::Result<Self> {
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
    pub(crate) fn cancel_with(&self, cancel: tokio_util::sync::CancellationToken) {
        self.0.gate.cancel_with(cancel);
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
    pub(crate) fn policy(&self) -> RetryPolicy {
        self.0.policy
    }

    /// `…/v2/packages/organizations/{org}/registries/{registry}/` plus `rest` segments.
    fn url(&self, at: RegistryId<'_>, rest: &[&str]) -> Url {
        let mut url = self.0.base.clone();
        {
            let mut segments = url.path_segments_mut().expect("http(s) URLs have paths");
            segments.pop_if_empty();
            segments.extend(["v2", "packages", "organizations", at.org, "registries", at.slug]);
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
    pub(crate) async fn publish_direct(
        &self,
        at: RegistryId<'_>,
        token: &Secret,
        upload: &Upload<'_>,
    ) -> Result<Package, ApiError> {
        let url = self.url(at, &["packages"]);
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
    pub(crate) async fn request_upload_slot(&self, at: RegistryId<'_>, token: &Secret) -> Result<UploadForm, ApiError> {
        let url = self.url(at, &["packages", "upload"]);
        let req = self.json_request(Method::POST, url.clone(), token);
        let resp = self.through_gate("POST", &url, send(req, "POST", &url)).await?;
        let slot: UploadSlot = decode("POST", &url, Scope::WritePackages, resp).await?;
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

    /// Presigned flow, leg 3: register the uploaded object as a package.
    pub(crate) async fn finalize_upload(
        &self,
        at: RegistryId<'_>,
        token: &Secret,
        package_url: &str,
        attestation_bundle: Option<&str>,
    ) -> Result<Package, ApiError> {
        let url = self.url(at, &["packages"]);
        let mut form = Form::new().text("package_url", package_url.to_owned());
        if let Some(bundle) = attestation_bundle {
            form = form.part("attestation_bundle", bundle_part(bundle));
        }
        let req = self.json_request(Method::POST, url.clone(), token).multipart(form);
        let resp = self.through_gate("POST", &url, send(req, "POST", &url)).await?;
        decode("POST", &url, Scope::WritePackages, resp).await
    }

    /// Every package in a registry (optionally only those named `name`), following
    /// `links.next` to the end, at most [`MAX_PAGES`] pages. `limit` stops early once
    /// that many are collected.
    pub(crate) async fn list(
        &self,
        at: RegistryId<'_>,
        token: &Secret,
        name: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Package>, ApiError> {
        let mut url = self.url(at, &["packages"]);
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
            let page: PackagePage = self.get_json(url.clone(), Scope::ReadPackages, token).await?;
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
    pub(crate) async fn sha256_of(
        &self,
        at: RegistryId<'_>,
        token: &Secret,
        id: &str,
    ) -> Result<Option<String>, ApiError> {
        let cell = {
            let mut cache = self.0.digests.lock().expect("digest cache lock");
            let key = format!("{at}/{id}");
            match cache.get(&key) {
                Some(cell) => Arc::clone(cell),
                None if cache.len() >= MAX_REMEMBERED_DIGESTS => Arc::default(),
                None => Arc::clone(cache.entry(key).or_default()),
            }
        };
        let sha = cell
            .get_or_try_init(|| async {
                let pkg = self.get(at, token, id).await?;
                Ok::<_, ApiError>(pkg.sha256().map(str::to_owned))
            })
            .await?;
        Ok(sha.clone())
    }

    /// One package by id.
    pub(crate) async fn get(&self, at: RegistryId<'_>, token: &Secret, id: &str) -> Result<Package, ApiError> {
        self.get_json(self.url(at, &["packages", id]), Scope::ReadPackages, token)
            .await
    }

    /// The registry itself (needs `read_registries`; OIDC tokens cannot read it).
    pub(crate) async fn registry(&self, at: RegistryId<'_>, token: &Secret) -> Result<Registry, ApiError> {
        let mut url = self.0.base.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have paths")
            .pop_if_empty()
            .extend(["v2", "packages", "organizations", at.org, "registries", at.slug]);
        self.get_json(url, Scope::ReadRegistries, token).await
    }

    /// Copies a package into another registry of the organization. One attempt; the
    /// caller checks the destination before retrying.
    pub(crate) async fn copy(
        &self,
        at: RegistryId<'_>,
        token: &Secret,
        id: &str,
        to: &str,
    ) -> Result<Package, ApiError> {
        let mut url = self.url(at, &["packages", id, "copy"]);
        url.query_pairs_mut().append_pair("to", to);
        let req = self
            .json_request(Method::POST, url.clone(), token)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        let resp = self.through_gate("POST", &url, send(req, "POST", &url)).await?;
        decode("POST", &url, Scope::CopyPackages, resp).await
    }

    /// Deletes a package, retrying transient failures; a 404 on a retry means an
    /// earlier attempt already deleted it.
    pub(crate) async fn delete(&self, at: RegistryId<'_>, token: &Secret, id: &str) -> Result<(), ApiError> {
        let url = self.url(at, &["packages", id]);
        let once = |attempt: u32| {
            let req = self.json_request(Method::DELETE, url.clone(), token);
            let url = &url;
            async move {
                match self.through_gate("DELETE", url, send(req, "DELETE", url)).await {
                    Ok(resp) if resp.status().is_success() => Ok(()),
                    Ok(resp) if attempt > 0 && resp.status().as_u16() == 404 => Ok(()),
                    Ok(resp) => Err(status_error("DELETE", url, Scope::DeletePackages, resp).await),
                    Err(e) => Err(e),
                }
            }
        };
        retry::run::retry(self.0.policy, &not_cancelled(), ApiError::retry_class, once)
            .await
            .map_err(retry::run::Stopped::into_inner)
    }

    /// GET with retries on transient failures.
    async fn get_json<T: DeserializeOwned>(&self, url: Url, scope: Scope, token: &Secret) -> Result<T, ApiError> {
        let once = |_| {
            let req = self.json_request(Method::GET, url.clone(), token);
            let url = &url;
            async move {
                let resp = self.through_gate("GET", url, send(req, "GET", url)).await?;
                decode("GET", url, scope, resp).await
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
pub(crate) struct Upload<'a> {
    pub artifact: &'a Artifact,
    pub attestation_bundle: Option<&'a str>,
    pub progress: &'a Arc<Progress>,
    pub read: ReadState,
}

impl Upload<'_> {
    /// The file as a streamed request body (opened and checked to be the file that
    /// was planned), counting progress and hashing as this upload's read state says.
    fn body(&self) -> std::io::Result<reqwest::Body> {
        let a = self.artifact;
        body::file_body(&a.path, a.size, a.file_id, self.progress, &self.read)
    }

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
    let body = upload.body().map_err(|e| local(&e))?;
    Part::stream_with_length(body, artifact.size)
        .file_name(artifact.file_name.clone())
        .mime_str("application/octet-stream")
        .map_err(|e| local(&e))
}

fn bundle_part(bundle: &str) -> Part {
    Part::text(bundle.to_owned())
        .file_name("attestations.jsonl")
        .mime_str("application/x-ndjson")
        .expect("static mime type is valid")
}

impl Client {
    /// Asks the GitHub Actions runner for an ID token with `audience`
    /// (`ACTIONS_ID_TOKEN_REQUEST_URL` plus `&audience=…`, the request token as Bearer;
    /// the answer is `{"value": "<jwt>"}`).
    pub(crate) async fn github_id_token(
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
        let token: IdToken = self.get_json(url, Scope::Other, request_token).await?;
        Ok(Secret::new(token.value))
    }
}
