//! The presigned flow's storage side: upload slots (an S3-style POST form, or a
//! signed-URL PUT), the storage endpoints that hash and spool what they receive, and
//! finding an object again (in the emulator's own storage or an external S3 bucket)
//! when a publish names it.

use super::*;

/// An uploaded file: its digests, and its bytes spooled to a temporary file (none in
/// sink mode) for the registry to read the package from.
#[derive(Debug, Clone)]
pub struct Upload {
    pub(super) file_name: String,
    pub(super) size: u64,
    pub(super) sha256: String,
    pub(super) sha512: String,
    pub(super) spool: Option<Arc<tempfile::TempPath>>,
}

/// Takes an upload's bytes chunk by chunk: hashes them and spools them to disk.
pub(super) struct Spool {
    sha256: Sha256,
    sha512: Sha512,
    pub(super) size: u64,
    hash: bool,
    pub(super) file: Option<(std::fs::File, tempfile::TempPath)>,
}

impl Spool {
    /// `hash`: compute the digests (not in sink mode); `keep`: spool the bytes for
    /// an ecosystem that reads identity from them.
    fn new(hash: bool, keep: bool) -> Spool {
        let file = keep.then(|| tempfile::NamedTempFile::new().expect("temporary file").into_parts());
        Spool {
            sha256: Sha256::new(),
            sha512: Sha512::new(),
            size: 0,
            hash,
            file,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        use std::io::Write;
        self.size += chunk.len() as u64;
        if self.hash {
            self.sha256.update(chunk);
            self.sha512.update(chunk);
        }
        if let Some((file, _)) = &mut self.file {
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

/// Finds the object a finalize names: in the emulator's own storage, or fetched from
/// the external S3 bucket and hashed.
pub(super) async fn fetch_object(state: &Shared, url: &str) -> Result<Upload, Response> {
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
        let mut spool = Spool::new(true, true);
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

pub(super) async fn hash_field(
    mut field: axum::extract::multipart::Field<'_>,
    max: u64,
    hash: bool,
    keep: bool,
) -> Result<Upload, Response> {
    let file_name = field.file_name().unwrap_or_default().to_owned();
    let mut spool = Spool::new(hash, keep);
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

pub(super) fn percent_decode(s: &str) -> String {
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

pub(super) fn percent_bytes(seg: &str) -> Vec<u8> {
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

pub(super) async fn upload_slot(
    State(state): State<Shared>,
    Path((org, registry)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = guard(&s, &headers, &org, &registry, &["write_packages"]) {
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

/// An S3-style error answer.
fn s3_error(status: StatusCode, code: &str, msg: &str) -> Response {
    (
        status,
        [("content-type", "application/xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{msg}</Message></Error>"
        ),
    )
        .into_response()
}

/// What every storage request is refused for: a Buildkite token sent to the storage
/// host, or no `Content-Length`.
fn refuse_unsigned(headers: &HeaderMap) -> Option<Response> {
    if headers.contains_key("authorization") {
        return Some(s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Unsupported Authorization Type",
        ));
    }
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if length.is_none() {
        return Some(s3_error(
            StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        ));
    }
    None
}

pub(super) async fn storage(State(state): State<Shared>, headers: HeaderMap, mut multipart: Multipart) -> Response {
    if let Some(refused) = refuse_unsigned(&headers) {
        return refused;
    }
    let (fields, upload) = match read_post_form(&mut multipart).await {
        Ok(form) => form,
        Err(r) => return r,
    };
    let mut s = state.lock().unwrap();
    let policy = fields.get("policy").cloned().unwrap_or_default();
    if !s.policies.contains(&policy) || fields.get("x-amz-signature") != Some(&format!("sig-{policy}")) {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Invalid according to Policy: Policy Condition failed",
        );
    }
    let Some(upload) = upload else {
        return s3_error(
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

/// A POST form's fields and its file, which must come last.
async fn read_post_form(multipart: &mut Multipart) -> Result<(BTreeMap<String, String>, Option<Upload>), Response> {
    let mut fields = BTreeMap::new();
    let mut upload = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return Ok((fields, upload)),
            Err(e) => {
                return Err(s3_error(
                    StatusCode::BAD_REQUEST,
                    "MalformedPOSTRequest",
                    &e.to_string(),
                ));
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            upload = Some(hash_field(field, 0, true, true).await?);
        } else if upload.is_some() {
            return Err(s3_error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "The file must be the last field of the form",
            ));
        } else {
            fields.insert(name, field.text().await.unwrap_or_default());
        }
    }
}

/// An upload slot in the signed-URL shape: the URL names the object (without the
/// file name, which the uploader sends as `Content-Disposition`) and carries the
/// signature in its query; `data` holds headers the upload must send as they are.
pub(super) fn put_slot(base: &str, counter: u64, policy: &str) -> Value {
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
pub(super) async fn storage_put(
    State(state): State<Shared>,
    Path(key): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refused) = refuse_unsigned(&headers) {
        return refused;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let policy = header("x-goog-meta-slot");
    let signed = query.get("X-Goog-Signature") == Some(&format!("sig-{policy}"));
    if !signed
        || !state.lock().unwrap().policies.contains(&policy)
        || header("content-type") != "application/octet-stream"
    {
        return s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    let length = header("content-length").parse::<u64>().unwrap_or_default();
    let file_name = put_file_name(&header("content-disposition"), &key);
    match spool_body(body, length, file_name).await {
        Ok(upload) => {
            state.lock().unwrap().objects.insert(key, upload);
            StatusCode::OK.into_response()
        }
        Err(r) => r,
    }
}

/// The file name a PUT names in its `Content-Disposition` (RFC 6266 `filename*` first),
/// else the object key's last segment.
fn put_file_name(disposition: &str, key: &str) -> String {
    match disposition.split_once("filename*=UTF-8''") {
        Some((_, encoded)) => percent_decode(encoded),
        None => disposition
            .split_once("filename=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map_or_else(
                || key.rsplit('/').next().unwrap_or_default().to_owned(),
                |(name, _)| name.to_owned(),
            ),
    }
}

/// A PUT body, hashed as it arrives, which must be exactly `length` bytes.
async fn spool_body(body: Body, length: u64, file_name: String) -> Result<Upload, Response> {
    use futures_util::StreamExt;
    let mut spool = Spool::new(true, true);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Err(s3_error(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "The request body ended early.",
            ));
        };
        spool.push(&chunk);
    }
    if spool.size != length {
        return Err(s3_error(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "The body does not match the Content-Length.",
        ));
    }
    Ok(spool.finish(file_name))
}
