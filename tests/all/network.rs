//! Company networks, for real: the emulator served over TLS with a private CA made by
//! `openssl`, mitmproxy intercepting TLS with a CA trusted only through
//! `SSL_CERT_FILE`, a plain CONNECT proxy with a `NO_PROXY` exception, an unknown CA
//! refused once (handshakes counted), the `User-Agent` of API and storage calls, and
//! storage legs of either shape (S3 POST form, signed-URL PUT) on any host.

use std::time::{Duration, Instant};

use crate::support::tls::{connect_proxy, emulator_tls, mitmproxy, pki};
use crate::support::{EmuConfig, Job, emulator_with, fixtures};

const DEB: &str = "dist/a_1.0_amd64.deb";

/// The sha256 of the package [`DEB`] built with `payload`.
fn sha256(payload: &str) -> String {
    fixtures::deb_sha256("a_1.0_amd64.deb", payload)
}

#[test]
fn a_private_ca_in_ssl_cert_file_or_dir_is_trusted_for_the_api_and_the_storage_leg() {
    let pki = pki("Acme Corp Root CA");
    let emu = emulator_tls(EmuConfig::default(), &pki);
    let job = |var: &str, value: &str| {
        Job::local(&emu.handle, "debs", "dist/*.deb")
            .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
            .env(var, value)
            .deb(DEB, "deb bytes over https")
    };
    job("SSL_CERT_FILE", &pki.ca.display().to_string()).run().code(0);
    let stored = emu.handle.packages("debs");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].sha256, sha256("deb bytes over https"));
    let paths: Vec<String> = emu.handle.requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.iter().any(|p| p == "/_storage/bucket"), "{paths:?}");

    // A directory of PEM files works the same way (the re-run finds it identical).
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&pki.ca, dir.path().join("acme.pem")).unwrap();
    job("SSL_CERT_DIR", &dir.path().display().to_string())
        .run()
        .code(0)
        .has("identical");
}

#[test]
fn an_unknown_ca_is_refused_at_once_with_how_to_add_it() {
    let pki = pki("Acme Corp Root CA");
    let emu = emulator_tls(EmuConfig::default(), &pki);
    let started = Instant::now();
    let out = Job::local(&emu.handle, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_RETRIES", "5")
        .deb(DEB, "a")
        .run_within(Duration::from_secs(60));
    assert_ne!(out.code, 0, "{out:?}");
    out.has("not trusted")
        .has("UnknownIssuer")
        .has("This is a certificate problem, not a network failure, so it is not retried")
        .has("SSL_CERT_FILE")
        .has("system trust store");
    // One handshake, not one per retry, and no backoff waited for.
    assert_eq!(emu.handshakes(), 1, "handshakes");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(emu.handle.requests().is_empty());
}

#[test]
fn a_certificate_file_that_holds_no_certificate_is_a_configuration_error() {
    let emu = emulator_with(EmuConfig::default());
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .deb(DEB, "a")
        .file("not-a-ca.pem", "hello");
    let path = job.work().join("not-a-ca.pem").display().to_string();
    job.env("SSL_CERT_FILE", &path)
        .run()
        .code(2)
        .has("SSL_CERT_FILE is")
        .has("holds no certificate");
    assert!(emu.requests().is_empty());
}

/// mitmproxy intercepts every leg (the GitHub OIDC token request, the API, the
/// storage upload) with certificates of its own CA, which only `SSL_CERT_FILE`
/// trusts: the emulator's own CA is not trusted by the binary at all, so a request
/// that went around the proxy would fail.
#[test]
fn every_leg_goes_through_mitmproxy_whose_ca_is_trusted_only_via_ssl_cert_file() {
    let pki = pki("Emulator CA");
    let emu = emulator_tls(EmuConfig::default(), &pki);
    let mitm = mitmproxy(&pki.ca, Some("alice:s3cret-proxy-pw"));
    let job = Job::new()
        .env("GITHUB_ACTIONS", "true")
        .env("INPUT_REGISTRY", "acme/debs")
        .env("INPUT_ARTIFACTS", "dist/*.deb")
        .env("INPUT_UPLOAD-METHOD", "presigned")
        .env("INPUT_API-URL", emu.url())
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{}/_github/token?api-version=2.0", emu.url()),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token")
        .env(
            "HTTPS_PROXY",
            &format!("http://alice:s3cret-proxy-pw@127.0.0.1:{}", mitm.port),
        )
        .env("SSL_CERT_FILE", &mitm.ca.display().to_string())
        .deb(DEB, "through the inspecting proxy");
    let summary = job.dir.path().join("summary");
    let out = job
        .env("GITHUB_STEP_SUMMARY", &summary.display().to_string())
        .run_within(Duration::from_secs(60));
    out.code(0).lacks("s3cret-proxy-pw");
    assert_eq!(
        emu.handle.packages("debs")[0].sha256,
        sha256("through the inspecting proxy")
    );
    // Give mitmdump a moment to flush its flow lines.
    let mut log = String::new();
    for _ in 0..50 {
        log = mitm.log();
        if log.contains("201 Created") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // mitmdump shortens long URLs in its flow lines.
    let api = format!("POST {}/v2/packages/organizations/acme/", emu.url());
    for leg in ["/_github/token", "/_storage/bucket", &api] {
        assert!(log.contains(leg), "mitmproxy did not see {leg}:\n{log}");
    }
    // The slot request and the finalize.
    assert_eq!(log.matches(&api).count(), 2, "{log}");
}

/// A plain CONNECT proxy with credentials carries the API (`localhost`), while
/// `no_proxy` sends the token endpoint (`127.0.0.1`) around it.
#[test]
fn a_connect_proxy_carries_the_api_and_no_proxy_exempts_a_host() {
    let pki = pki("Acme Corp Root CA");
    let emu = emulator_tls(EmuConfig::default(), &pki);
    let proxy = connect_proxy(Some("bob:hunter2-pw"));
    let port = emu.handle.addr.port();
    let with_proxy = |credentials: &str| {
        let job = Job::new()
            .env("GITHUB_ACTIONS", "true")
            .env("INPUT_REGISTRY", "acme/debs")
            .env("INPUT_ARTIFACTS", "dist/*.deb")
            .env("INPUT_UPLOAD-METHOD", "presigned")
            .env("INPUT_RETRIES", "0")
            .env("INPUT_API-URL", &format!("https://localhost:{port}"))
            .env(
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                &format!("https://127.0.0.1:{port}/_github/token?api-version=2.0"),
            )
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token")
            .env(
                "HTTPS_PROXY",
                &proxy.url.replace("http://", &format!("http://{credentials}@")),
            )
            .env("no_proxy", "127.0.0.1")
            .env("SSL_CERT_FILE", &pki.ca.display().to_string())
            .deb(DEB, "through a CONNECT proxy");
        let summary = job.dir.path().join("summary");
        job.env("GITHUB_STEP_SUMMARY", &summary.display().to_string())
            .run_within(Duration::from_secs(60))
    };
    with_proxy("bob:hunter2-pw").code(0).lacks("hunter2-pw");
    assert_eq!(emu.handle.packages("debs").len(), 1);
    let targets = proxy.targets();
    assert!(!targets.is_empty());
    assert!(targets.iter().all(|t| *t == format!("localhost:{port}")), "{targets:?}");
    let token_requests = emu
        .handle
        .requests()
        .iter()
        .filter(|r| r.path == "/_github/token")
        .count();
    assert!(token_requests >= 1, "the token endpoint was reached directly");
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bob:hunter2-pw")
    );
    assert!(
        proxy
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|(_, auth)| auth.as_deref() == Some(&expected)),
        "every CONNECT carried the proxy's credentials"
    );

    // Wrong credentials: the proxy refuses, and the password is still never printed.
    let out = with_proxy("bob:wrong-pw-9");
    assert_ne!(out.code, 0, "{out:?}");
    out.lacks("wrong-pw-9");
}

#[test]
fn the_user_agent_names_the_build_for_the_api_and_only_the_tool_for_storage() {
    let emu = emulator_with(EmuConfig::default());
    Job::plugin(
        &emu,
        r#"{"registry":"debs","artifacts":"dist/*.deb","api-url":"EMU","upload-method":"presigned"}"#,
    )
    .env("BUILDKITE_API_TOKEN", crate::support::TOKEN)
    .env("BUILDKITE_BUILD_URL", "https://buildkite.com/acme/app/builds/7")
    .deb(DEB, "a")
    .run()
    .code(0);
    let tool = format!("package-publisher/{}", env!("PACKAGE_PUBLISHER_VERSION"));
    let requests = emu.requests();
    let (storage, api): (Vec<_>, Vec<_>) = requests.iter().partition(|r| r.path.starts_with("/_storage/"));
    assert!(!storage.is_empty() && !api.is_empty());
    for r in api {
        assert_eq!(
            r.user_agent,
            format!("{tool} (+https://buildkite.com/acme/app/builds/7#job-1)"),
            "{r:?}"
        );
    }
    for r in storage {
        assert_eq!(r.user_agent, tool, "{r:?}");
    }
}

/// A linked bucket may hand out a signed URL to `PUT` to: the file is the raw body
/// with its exact length, the form's `data` go as headers, and the object is the URL.
#[test]
fn a_put_storage_form_gets_the_raw_file_with_its_exact_length() {
    let emu = emulator_with(EmuConfig {
        storage_put: true,
        ..EmuConfig::default()
    });
    let content = "raw bytes for a signed URL";
    Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .deb(DEB, content)
        .run()
        .code(0)
        .has("published");
    let stored = emu.packages("debs");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].sha256, sha256(content));
    // The file name travelled as Content-Disposition, since the URL has none.
    assert_eq!(stored[0].file_name, "a_1.0_amd64.deb");
    let puts: Vec<_> = emu.requests().into_iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert!(puts[0].path.starts_with("/_storage/object/uploads/"), "{:?}", puts[0]);
    let size = fixtures::deb_for("a_1.0_amd64.deb", content).len() as u64;
    assert_eq!(puts[0].content_length, Some(size));
    assert_eq!(puts[0].auth, "none");
    assert_eq!(puts[0].status, 200);
}

/// The storage host is named when it cannot be reached: it is often not the API's
/// host, and egress allowlists and proxies must cover it.
#[test]
fn a_storage_leg_failure_names_the_storage_host() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let emu = emulator_with(EmuConfig {
        storage_url: Some(format!("http://localhost:{closed}/releases")),
        ..EmuConfig::default()
    });
    let out = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .env("PACKAGE_PUBLISHER_RETRIES", "0")
        .deb(DEB, "a")
        .run_within(Duration::from_secs(60));
    assert_ne!(out.code, 0, "{out:?}");
    out.has("the storage host localhost must be reachable from here");
}
