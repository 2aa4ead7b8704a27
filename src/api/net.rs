//! The HTTP client's view of the network, decided in one place from the run's
//! [`Network`] settings: which certificates are trusted, which proxies carry which
//! requests, and what the `User-Agent` says.
//!
//! **Trust** is the system store plus `SSL_CERT_FILE` and `SSL_CERT_DIR`, added to it
//! (unlike OpenSSL, where they replace it: a company CA given alone must not make the
//! public storage host untrusted). On Linux and the BSDs the system store is every PEM
//! file in the system's certificate directories (`/etc/ssl/certs`,
//! `/etc/pki/tls/certs`, ... as `openssl-probe` lists them), read without looking at
//! the process environment, so the injected variables alone decide what is added. On
//! macOS and Windows the store comes from the keychain or the system store through
//! `rustls-native-certs`, which there also reads `SSL_CERT_FILE` and `SSL_CERT_DIR`
//! from the process (the same values in a real run). No built-in root list is
//! compiled in: the machine's administrators decide what is trusted.
//!
//! **Proxies** come only from the injected `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`
//! (reqwest's own reading of the process environment is switched off), for every
//! request the client sends: the API, the storage leg and the GitHub OIDC token
//! endpoint. Credentials in a proxy URL are sent as `Proxy-Authorization` and never
//! printed.
//!
//! **User-Agent**: API calls name the tool, its version and the CI job (for the
//! registry's audit log); the storage leg names only the tool and version, since the
//! storage host is a third party that has no use for the job's URL.

use std::path::Path;

use reqwest::{Certificate, ClientBuilder, Proxy};
use rustls::pki_types::CertificateDer;

use crate::config::Network;

/// The tool and its version: the whole `User-Agent` of a storage upload.
pub(crate) const TOOL: &str = concat!("package-publisher/", env!("PACKAGE_PUBLISHER_VERSION"));

/// The `User-Agent` of API calls: the tool, its version and the CI job, if any.
#[must_use]
pub(crate) fn user_agent(network: &Network) -> String {
    match &network.job {
        Some(job) => format!("{TOOL} (+{job})"),
        None => TOOL.to_owned(),
    }
}

/// Why the client could not be built: a certificate source or a proxy given in the
/// environment is unusable. It names the variable, so it is a configuration error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NetworkError {
    #[error("{var} is {path}, but {detail}; it takes a PEM file of CA certificates (`-----BEGIN CERTIFICATE-----`)")]
    CertFile {
        var: &'static str,
        path: String,
        detail: String,
    },
    #[error("{var} names the proxy {proxy}, which cannot be used: {detail}")]
    Proxy {
        var: &'static str,
        proxy: String,
        detail: String,
    },
}

/// Applies the trust store and the proxies to `builder`. Returns it with how many
/// certificates came from the system store (none means the machine has no CA bundle,
/// which a certificate error then says).
pub(crate) fn configure(mut builder: ClientBuilder, network: &Network) -> Result<(ClientBuilder, usize), NetworkError> {
    builder = builder.tls_built_in_root_certs(false);
    let system = system_roots();
    let mut added = Vec::new();
    if let Some(file) = &network.cert_file {
        let found = rustls_native_certs::load_certs_from_paths(Some(file), None);
        added.extend(checked("SSL_CERT_FILE", file, found)?);
    }
    for dir in &network.cert_dirs {
        let found = rustls_native_certs::load_certs_from_paths(None, Some(dir));
        added.extend(checked("SSL_CERT_DIR", dir, found)?);
    }
    let (with_system, system_count) = add_roots(builder, system);
    let (with_added, _) = add_roots(with_system, added);
    builder = with_added;

    // Nothing from the process environment; only what the run was given.
    builder = builder.no_proxy();
    let no_proxy = network.no_proxy.as_deref().and_then(reqwest::NoProxy::from_string);
    for (var, url, https) in [
        ("HTTPS_PROXY", &network.https_proxy, true),
        ("HTTP_PROXY", &network.http_proxy, false),
    ] {
        let Some(url) = url else { continue };
        let target = url.expose().as_str();
        let proxy = if https {
            Proxy::https(target)
        } else {
            Proxy::http(target)
        };
        let proxy = proxy.map_err(|e| NetworkError::Proxy {
            var,
            proxy: url.redacted(),
            detail: e.to_string(),
        })?;
        builder = builder.proxy(proxy.no_proxy(no_proxy.clone()));
    }
    Ok((builder, system_count))
}

/// The certificates of `var`, or why there are none to use: a source the user named
/// that cannot be read, or holds no certificate, is a mistake worth stopping for.
fn checked(
    var: &'static str,
    path: &Path,
    found: rustls_native_certs::CertificateResult,
) -> Result<Vec<CertificateDer<'static>>, NetworkError> {
    let fail = |detail: String| NetworkError::CertFile {
        var,
        path: path.display().to_string(),
        detail,
    };
    if let Some(err) = found.errors.first() {
        return Err(fail(format!("it cannot be read ({err})")));
    }
    if found.certs.is_empty() {
        return Err(fail("it holds no certificate".to_owned()));
    }
    Ok(found.certs)
}

/// Adds each certificate rustls can use as a trust anchor, skipping the rest (system
/// stores often hold ancient or malformed ones, which would otherwise fail the whole
/// client). Returns the builder and how many were added.
fn add_roots(mut builder: ClientBuilder, certs: Vec<CertificateDer<'static>>) -> (ClientBuilder, usize) {
    let mut probe = rustls::RootCertStore::empty();
    let mut added = 0;
    for der in certs {
        if probe.add(der.clone()).is_err() {
            continue;
        }
        if let Ok(cert) = Certificate::from_der(&der) {
            builder = builder.add_root_certificate(cert);
            added += 1;
        }
    }
    (builder, added)
}

/// The system's CA certificates, from the known certificate directories (the process
/// environment is not consulted).
#[cfg(all(unix, not(target_os = "macos")))]
fn system_roots() -> Vec<CertificateDer<'static>> {
    let mut certs: Vec<CertificateDer<'static>> = openssl_probe::candidate_cert_dirs()
        .flat_map(|dir| rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs)
        .collect();
    certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    certs.dedup();
    certs
}

/// The system's CA certificates, from the keychain or the system store.
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn system_roots() -> Vec<CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}

/// Whether `err` (anywhere in its chain of causes) is the peer's certificate being
/// refused, and rustls's words for why. rustls's error arrives wrapped in I/O errors
/// (tokio-rustls wraps it, the connector wraps that again), whose `source` skips the
/// wrapped error, so each I/O error is opened too.
#[must_use]
pub(crate) fn certificate_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(e) = current {
        let mut inner: &(dyn std::error::Error + 'static) = e;
        while let Some(wrapped) = inner.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            inner = wrapped;
        }
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType
            )
            .then(|| tls.to_string());
        }
        current = e.source();
    }
    None
}
