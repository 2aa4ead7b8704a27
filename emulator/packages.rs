//! The emulator's package endpoints: read a registry, publish (the registry reads the
//! package's identity from its bytes and refuses a duplicate or an invalid package),
//! list with cursors and an optional lagging index, get, delete, copy, and the test
//! hooks that dump the state and add faults.

use super::*;

pub(super) fn package_json(s: &EmuState, base: &str, org: &str, registry: &str, p: &Pkg) -> Value {
    let mut body = json!({
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
    });
    // A sink never hashes what it takes, so it has no digests to show.
    if s.cfg().sink {
        body.as_object_mut().expect("an object").remove("digests");
    }
    body
}

/// The emulator's URL as the client reached it: `https` when a TLS front says so
/// with `X-Forwarded-Proto`, as reverse proxies do.
pub(super) fn base_url(headers: &HeaderMap) -> String {
    let scheme = match headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()) {
        Some("https") => "https",
        _ => "http",
    };
    format!(
        "{scheme}://{}",
        headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1")
    )
}

pub(super) async fn get_registry(
    State(state): State<Shared>,
    Path((org, registry)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = guard(&s, &headers, &org, &registry, &["read_registries"]) {
        return r;
    }
    let r = &s.registries[&registry];
    axum::Json(json!({ "slug": registry, "name": registry, "ecosystem": r.ecosystem, "web_url": format!("https://buildkite.com/organizations/{org}/packages/registries/{registry}") })).into_response()
}

/// What the registry makes of an upload for a registry of `ecosystem`: the package's
/// own identity (or why it is refused), read on a blocking thread.
pub(super) async fn read_identity(upload: &Upload, ecosystem: &str) -> Result<identity::Ident, String> {
    if let Some(ident) = identity::by_name(&upload.file_name, ecosystem) {
        return ident;
    }
    let Some(path) = upload.spool.clone() else {
        return Ok(identity::unread(&upload.file_name));
    };
    let (name, eco) = (upload.file_name.clone(), ecosystem.to_owned());
    tokio::task::spawn_blocking(move || identity::identify(&path, &name, &eco))
        .await
        .map_err(|e| e.to_string())?
}

pub(super) async fn publish(
    State(state): State<Shared>,
    Path((org, registry)): Path<(String, String)>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let refused = {
        let s = state.lock().unwrap();
        guard(&s, &headers, &org, &registry, &["write_packages"])
    };
    if let Err(r) = refused {
        drain_multipart(&mut multipart).await;
        return r;
    }
    let (max, sink, ecosystem) = {
        let s = state.lock().unwrap();
        (
            s.cfg().max_direct_bytes,
            s.cfg().sink,
            s.registries[&registry].ecosystem.clone(),
        )
    };
    // Only ecosystems that read the package's bytes need them kept.
    let keep = !sink && identity::by_name("", &ecosystem).is_none();
    let (upload, package_url, bundle) = match read_form(&mut multipart, max, sink, keep).await {
        Ok(form) => form,
        Err(r) => return r,
    };
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
    let ident = match read_identity(&upload, &ecosystem).await {
        Ok(ident) => ident,
        Err(message) => return err(StatusCode::UNPROCESSABLE_ENTITY, &message),
    };
    store(&state, &headers, (&org, &registry), upload, ident, bundle)
}

/// The publish form's parts: the file (hashed as it arrives), or a staged object's
/// `package_url`, and the attestation bundle.
async fn read_form(
    multipart: &mut Multipart,
    max: u64,
    sink: bool,
    keep: bool,
) -> Result<(Option<Upload>, Option<String>, Option<String>), Response> {
    let (mut upload, mut package_url, mut bundle) = (None, None, None);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return Ok((upload, package_url, bundle)),
            Err(e) => return Err(err(StatusCode::BAD_REQUEST, &format!("Malformed multipart body: {e}"))),
        };
        match field.name().unwrap_or_default() {
            "file" => upload = Some(hash_field(field, max, !sink, keep).await?),
            "package_url" => package_url = field.text().await.ok(),
            "attestation_bundle" => bundle = field.text().await.ok(),
            _ => {}
        }
    }
}

/// Stores a package read from an upload, unless the registry holds it already (its
/// name, version and variant): 201 with the package, or 409.
fn store(
    state: &Shared,
    headers: &HeaderMap,
    (org, registry): (&str, &str),
    upload: Upload,
    ident: identity::Ident,
    bundle: Option<String>,
) -> Response {
    let mut s = state.lock().unwrap();
    // A package is its name, version and variant (the architecture, wheel tags or
    // platform), as the registry reads them from the package.
    if s.registries[registry].packages.iter().any(|p| p.same_package(&ident)) {
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
    let body = package_json(&s, &base_url(headers), org, registry, &pkg);
    let lag = Duration::from_millis(s.cfg().list_lag_ms);
    s.listed_from.insert(pkg.id.clone(), std::time::Instant::now() + lag);
    s.registries.get_mut(registry).unwrap().packages.push(pkg);
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    resp.extensions_mut().insert(FileName(upload.file_name));
    resp
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    pub(super) name: Option<String>,
    pub(super) per_page: Option<usize>,
    pub(super) after: Option<String>,
}

pub(super) async fn list(
    State(state): State<Shared>,
    Path((org, registry)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = guard(&s, &headers, &org, &registry, &["read_packages"]) {
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
pub(super) fn endless_page(headers: &HeaderMap, org: &str, registry: &str, after: Option<&str>) -> Response {
    let page: u64 = after.and_then(|a| a.strip_prefix("page-")?.parse().ok()).unwrap_or(0) + 1;
    let path = format!(
        "{}/v2/packages/organizations/{org}/registries/{registry}/packages",
        base_url(headers)
    );
    let next = format!("{path}?per_page=100&after=page-{page}");
    axum::Json(json!({ "items": [], "links": { "self": path, "next": next } })).into_response()
}

pub(super) async fn get_package(
    State(state): State<Shared>,
    Path((org, registry, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = guard(&s, &headers, &org, &registry, &["read_packages"]) {
        return r;
    }
    match s.registries[&registry].packages.iter().find(|p| p.id == id) {
        Some(p) => axum::Json(package_json(&s, &base_url(&headers), &org, &registry, p)).into_response(),
        None => err(StatusCode::NOT_FOUND, "No package found"),
    }
}

pub(super) async fn delete_package(
    State(state): State<Shared>,
    Path((org, registry, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = guard(&s, &headers, &org, &registry, &["delete_packages"]) {
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
pub(super) struct CopyQuery {
    pub(super) to: Option<String>,
}

pub(super) const COPYABLE: &[&str] = &["alpine", "debian", "files", "javascript", "python", "redhat", "ruby"];

pub(super) async fn copy(
    State(state): State<Shared>,
    Path((org, registry, id)): Path<(String, String, String)>,
    Query(q): Query<CopyQuery>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = guard(&s, &headers, &org, &registry, &["read_packages", "write_packages"]) {
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

pub(super) async fn dump(State(state): State<Shared>) -> Response {
    let s = state.lock().unwrap();
    axum::Json(json!({ "registries": s.registries, "requests": s.requests, "faults": s.faults })).into_response()
}

pub(super) async fn add_faults(State(state): State<Shared>, axum::Json(faults): axum::Json<Vec<Fault>>) -> Response {
    state.lock().unwrap().faults.extend(faults);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert("x-emulator", HeaderValue::from_static("ok"));
    resp
}
