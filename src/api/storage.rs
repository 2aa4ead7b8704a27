//! The presigned flow's storage leg: the file sent to object storage exactly as the
//! upload slot's form says, which may name another host (an organization's own S3 or
//! GCS bucket) and another method. It never carries the Buildkite token.

use reqwest::multipart::Form;
use reqwest::{Method, RequestBuilder, Response, Url};

use super::model::UploadForm;
use super::{ApiError, Client, Upload, error_text, file_part, http_reason, net, snippet, watch};

impl Client {
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
    pub(crate) async fn upload_to_storage(&self, form: &UploadForm, upload: &Upload<'_>) -> Result<String, ApiError> {
        let (method, verb, url) = storage_target(form)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        // Errors name the object's URL without the query, which holds the signature.
        let mut shown = url.clone();
        shown.set_query(None);
        let (req, object) = if method == Method::PUT {
            let req = self
                .put_request(&url, form, upload)
                .map_err(|d| slot_error(form, verb, d))?;
            (req, shown.clone())
        } else {
            self.post_request(&url, form, upload)?
        };
        let req = req.header(reqwest::header::USER_AGENT, net::TOOL);
        let resp = watch(verb, &shown, req.send(), upload.progress)
            .await
            .map_err(|e| upload.blame(e))
            .map_err(|e| storage_context(e, &host))?;
        if !resp.status().is_success() {
            return Err(self.storage_refusal(resp, verb, &shown, host).await);
        }
        Ok(object.to_string())
    }

    /// The storage leg of a `POST` form: the `data` fields as text parts, then the
    /// file; and the object's URL (`key`, with `${filename}` filled in, under `url`).
    fn post_request(
        &self,
        url: &Url,
        form: &UploadForm,
        upload: &Upload<'_>,
    ) -> Result<(RequestBuilder, Url), ApiError> {
        let mut body = Form::new();
        let mut key = String::new();
        for (name, value) in &form.data {
            let text = field_text(value);
            if name == "key" {
                key = text.replace("${filename}", &upload.artifact.file_name);
            }
            body = body.text(name.clone(), text);
        }
        body = body.part(form.file_input.clone(), file_part(upload)?);
        let mut object = url.clone();
        object.set_query(None);
        {
            let mut segments = object.path_segments_mut().expect("http(s) URLs have paths");
            segments.pop_if_empty();
            segments.extend(key.split('/'));
        }
        Ok((self.0.http.post(url.clone()).multipart(body), object))
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
        let body = upload
            .body()
            .map_err(|e| format!("cannot read {}: {e}", artifact.rel))?;
        Ok(self
            .0
            .http
            .put(url.clone())
            .headers(headers)
            .header(CONTENT_LENGTH, artifact.size)
            .body(body))
    }

    /// Storage's refusal, with the start of its (usually XML) body.
    async fn storage_refusal(&self, resp: Response, verb: &'static str, shown: &Url, host: String) -> ApiError {
        let status = resp.status().as_u16();
        let body = error_text(resp, self.0.timeout).await;
        ApiError::Storage {
            method: verb,
            url: shown.to_string(),
            host,
            status,
            message: if body.trim().is_empty() {
                http_reason(status)
            } else {
                snippet(&body)
            },
        }
    }
}

/// The method and URL the slot's form names: POST or PUT, to an http(s) URL.
fn storage_target(form: &UploadForm) -> Result<(Method, &'static str, Url), ApiError> {
    let (method, verb) = match form.method.to_ascii_uppercase().as_str() {
        "POST" => (Method::POST, "POST"),
        "PUT" => (Method::PUT, "PUT"),
        other => {
            return Err(slot_error(
                form,
                "POST",
                format!("the upload slot's form asks for the method {other:?}; storage uploads are POST or PUT"),
            ));
        }
    };
    let url = Url::parse(&form.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| slot_error(form, verb, "the upload slot's URL is not an http(s) URL".to_owned()))?;
    Ok((method, verb, url))
}

/// An upload slot this client cannot use, named by its URL without the query.
fn slot_error(form: &UploadForm, method: &'static str, detail: String) -> ApiError {
    ApiError::Decode {
        method,
        url: form.url.split('?').next().unwrap_or_default().to_owned(),
        detail,
    }
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
            timed_out,
        } => ApiError::Transport {
            method,
            url,
            detail: format!(
                "{detail} (the storage host {host} must be reachable from here: egress allowlists and proxies must cover it)"
            ),
            ambiguous,
            timed_out,
        },
        other => other,
    }
}
