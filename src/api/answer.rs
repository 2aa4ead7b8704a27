//! How a request's answer is read: a send watched for stalls, transport failures as
//! typed errors (a refused certificate its own kind), bodies read up to a cap, JSON
//! decoded, and a non-2xx answer turned into an error that keeps the server's message,
//! the wait it asked for, and a hint (the scope a 401/403 needs, where a redirect
//! pointed).

use std::sync::Arc;
use std::time::Duration;

use reqwest::{RequestBuilder, Response, Url};
use serde::de::DeserializeOwned;

use super::body::Progress;
use super::{ApiError, Client, MAX_ANSWER_BYTES, MAX_ERROR_BYTES, net};

/// Runs a request, aborting it when the upload makes no progress for `stall`. Waiting
/// for the answer after the body is sent counts as no progress too: a server that never
/// answers is as stuck as one that stops reading.
pub(super) async fn watch(
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
        () = watchdog => Err(ApiError::Stalled {
            method,
            url: url.to_string(),
            secs: stall.as_secs(),
            sent: Some(progress.sent()),
        }),
    }
}

/// Sends a request, its transport failure as an [`ApiError`].
pub(super) async fn send(req: RequestBuilder, method: &'static str, url: &Url) -> Result<Response, ApiError> {
    req.send().await.map_err(|e| transport(method, url, &e))
}

pub(super) fn transport(method: &'static str, url: &Url, err: &reqwest::Error) -> ApiError {
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
    // The error names the method and URL once, so reqwest's own text (which repeats
    // the URL) is not used: what went wrong is said from the error's kind, then its
    // causes.
    let mut detail = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() {
        "failed while sending the body"
    } else if err.is_decode() {
        "failed while reading the answer"
    } else if err.is_request() {
        "failed to send or get an answer"
    } else {
        "failed"
    }
    .to_owned();
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
        timed_out: err.is_timeout(),
    }
}

impl Client {
    /// [`decode`] for a request without a total time limit (an upload): reading the
    /// answer gets the client's time limit of its own.
    pub(super) async fn decode_within<T: DeserializeOwned>(
        &self,
        method: &'static str,
        url: &Url,
        resp: Response,
    ) -> Result<T, ApiError> {
        tokio::time::timeout(self.0.timeout, decode(method, url, Scope::WritePackages, resp))
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::Stalled {
                    method,
                    url: url.to_string(),
                    secs: self.0.timeout.as_secs(),
                    sent: None,
                })
            })
    }
}

/// Reads a body up to `cap` bytes, and whether it was cut there (the rest is not read).
pub(super) async fn read_capped(mut resp: Response, cap: usize) -> reqwest::Result<(Vec<u8>, bool)> {
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
pub(super) async fn error_text(resp: Response, limit: Duration) -> String {
    match tokio::time::timeout(limit, read_capped(resp, MAX_ERROR_BYTES)).await {
        Ok(Ok((bytes, _))) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    }
}

/// Any 2xx is success; the body (at most [`MAX_ANSWER_BYTES`]) is decoded as `T`.
/// Anything else becomes a status error that keeps the server's message.
pub(super) async fn decode<T: DeserializeOwned>(
    method: &'static str,
    url: &Url,
    scope: Scope,
    resp: Response,
) -> Result<T, ApiError> {
    if !resp.status().is_success() {
        return Err(status_error(method, url, scope, resp).await);
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
pub(super) async fn status_error(method: &'static str, url: &Url, scope: Scope, resp: Response) -> ApiError {
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
        _ => scope_hint(scope, status),
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
pub(super) fn server_wait(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    ["retry-after", "ratelimit-reset", "ratelimit-user-reset"]
        .iter()
        .filter_map(|h| headers.get(*h)?.to_str().ok()?.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        // A day is already far past what retry honours; clamping keeps absurd
        // header values from overflowing.
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
        .max()
}

/// The token scope an endpoint needs, named by the call that makes the request (never
/// guessed from its URL), for the hint of a 401 or 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// Lists and reads packages.
    ReadPackages,
    /// Publishes (direct, upload slot, finalize).
    WritePackages,
    /// Copies: read and write, on both registries.
    CopyPackages,
    DeletePackages,
    /// Reads a registry's settings.
    ReadRegistries,
    /// Not the Packages API (GitHub's token endpoint): no scope to name.
    Other,
}

impl Scope {
    fn describe(self) -> &'static str {
        match self {
            Scope::ReadPackages | Scope::Other => "read_packages",
            Scope::WritePackages => "read_packages and write_packages",
            Scope::CopyPackages => "read_packages and write_packages (on both registries)",
            Scope::DeletePackages => "delete_packages",
            Scope::ReadRegistries => "read_registries",
        }
    }
}

/// Says which token scope an endpoint needs when it answered 401 or 403.
pub(super) fn scope_hint(scope: Scope, status: u16) -> String {
    let scope = scope.describe();
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

pub(super) fn http_reason(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no message")
        .to_owned()
}

/// The start of a body, on one line.
pub(super) fn snippet(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_scope_the_call_needs() {
        assert!(scope_hint(Scope::CopyPackages, 403).contains("read_packages and write_packages (on both registries)"));
        assert!(scope_hint(Scope::DeletePackages, 401).contains("needs the delete_packages scope"));
        assert!(scope_hint(Scope::ReadRegistries, 403).contains("read_registries"));
        assert!(scope_hint(Scope::WritePackages, 403).contains("needs the read_packages and write_packages scope"));
        assert!(scope_hint(Scope::ReadPackages, 404).starts_with("; check the organization"));
        assert_eq!(scope_hint(Scope::ReadPackages, 500), "");
    }

    #[test]
    fn the_longest_server_wait_wins_and_nonsense_is_ignored() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        headers.insert("ratelimit-reset", "7.5".parse().unwrap());
        headers.insert("ratelimit-user-reset", "-1".parse().unwrap());
        assert_eq!(server_wait(&headers), Some(Duration::from_secs_f64(7.5)));
        headers.insert("retry-after", "1e300".parse().unwrap());
        assert_eq!(server_wait(&headers), Some(Duration::from_secs(86_400)));
    }
}
