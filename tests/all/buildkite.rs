//! The binary as a Buildkite plugin: configuration from the agent, the annotation,
//! meta-data, log groups, OIDC through the agent, and redaction.

use crate::support::{Fault, Job, TOKEN, emulator, fixtures};

fn plugin(emu: &crate::support::Handle, config: &str) -> Job {
    let config = config.replace("EMU", &emu.url);
    Job::new()
        .env("BUILDKITE", "true")
        .env("BUILDKITE_ORGANIZATION_SLUG", "acme")
        .env("BUILDKITE_STEP_KEY", "publish")
        .env("BUILDKITE_PLUGIN_NAME", "PACKAGE_PUBLISHER")
        .env("BUILDKITE_PLUGIN_CONFIGURATION", &config)
}

#[test]
fn annotation_meta_data_and_log_groups() {
    let emu = emulator(&[]);
    let job = plugin(
        &emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU"}"#,
    )
    .env("BUILDKITE_API_TOKEN", TOKEN)
    .deb("dist/hello_1.0_amd64.deb", "hello");
    let out = job.run();
    out.code(0)
        .has("~~~ :package: package-publisher")
        .has("--- Publishing 1 file(s) to acme/debs")
        .has("+++ package-publisher: 1 published")
        .lacks(TOKEN);
    // Package links are terminal hyperlinks.
    out.has("\x1b]1339;url='https://buildkite.com/");

    let annotate = job.agent_calls_of(&["annotate"]);
    assert_eq!(annotate.len(), 1);
    let (args, body) = &annotate[0];
    assert_eq!(
        args[1..],
        [
            "--style",
            "success",
            "--context",
            "package-publisher-acme-debs-publish",
            "--priority",
            "3"
        ]
    );
    assert!(
        body.starts_with("#### ✅ Published 1 package to `acme/debs`") && body.contains("| File | Package | Status |"),
        "{body}"
    );
    assert!(body.contains("hello"), "{body}");

    let stored = job
        .stored_meta_data("package-publisher.acme.debs")
        .expect("report stored in meta-data");
    let report: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(report["packages"][0]["id"], emu.packages("debs")[0].id);

    // The API token was handed to the redactor on stdin, never as an argument.
    let redactor = job.agent_calls_of(&["redactor", "add"]);
    assert_eq!(redactor.len(), 1);
    assert_eq!(redactor[0].1, TOKEN);
    assert!(
        job.agent_calls()
            .iter()
            .all(|(a, _)| !a.iter().any(|x| x.contains(TOKEN)))
    );
}

#[test]
fn flattened_plugin_variables_with_any_plugin_name() {
    let emu = emulator(&[]);
    let job = Job::new()
        .env("BUILDKITE", "true")
        .env("BUILDKITE_ORGANIZATION_SLUG", "acme")
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .env("BUILDKITE_PLUGIN_NAME", "MY_FORK")
        .env("BUILDKITE_PLUGIN_MY_FORK_REGISTRY", "debs")
        .env("BUILDKITE_PLUGIN_MY_FORK_ARTIFACTS_0", "a/*.deb")
        .env("BUILDKITE_PLUGIN_MY_FORK_ARTIFACTS_1", "b/*.deb")
        .env("BUILDKITE_PLUGIN_MY_FORK_API_URL", &emu.url)
        .env("BUILDKITE_PLUGIN_MY_FORK_ANNOTATE", "false")
        .deb("a/x_1.0_amd64.deb", "x")
        .deb("b/y_1.0_amd64.deb", "y");
    job.run().code(0);
    assert_eq!(emu.packages("debs").len(), 2);
    assert!(
        job.agent_calls_of(&["annotate"]).is_empty(),
        "annotate: false writes no annotation"
    );
}

#[test]
fn oidc_tokens_come_from_the_agent_per_registry_audience_and_are_redacted() {
    let emu = emulator(&[("production", "debian")]);
    let job = plugin(
        &emu,
        r#"{"registry":"debs","artifacts":"dist/*.deb","promote-to":"production","api-url":"EMU"}"#,
    )
    .deb("dist/a_1.0_amd64.deb", "a");
    let out = job.run();
    out.code(0).has("OIDC");
    let requests = job.agent_calls_of(&["oidc", "request-token"]);
    let audiences: Vec<&str> = requests.iter().map(|(a, _)| a[3].as_str()).collect();
    assert!(
        audiences.contains(&"https://packages.buildkite.com/acme/debs"),
        "{audiences:?}"
    );
    assert!(
        audiences.contains(&"https://packages.buildkite.com/acme/production"),
        "{audiences:?}"
    );
    assert!(requests.iter().all(|(a, _)| a[4..] == ["--lifetime", "300"]));
    let mut unique = audiences.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        audiences.len(),
        "one token per audience (cached while fresh)"
    );
    assert!(
        emu.requests()
            .iter()
            .filter(|r| r.path.starts_with("/v2/"))
            .all(|r| r.auth == "oidc")
    );
    // Each token went to the redactor before use, and none was printed.
    let redacted: Vec<String> = job
        .agent_calls_of(&["redactor", "add"])
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(redacted.len(), audiences.len());
    for token in redacted {
        assert!(token.starts_with("eyJ"));
        out.lacks(&token);
    }
    assert_eq!(emu.packages("production").len(), 1);
}

#[test]
fn failure_opens_the_log_group_and_styles_the_annotation_as_error() {
    let emu = emulator(&[]);
    emu.fault(Fault {
        method: Some("POST".into()),
        status: Some(422),
        body: Some(r#"{"message":"nope"}"#.into()),
        ..Fault::default()
    });
    let job = plugin(
        &emu,
        r#"{"registry":"debs","artifacts":"dist/*.deb","api-url":"EMU","annotation-context":"my-ctx"}"#,
    )
    .env("BUILDKITE_API_TOKEN", TOKEN)
    .deb("dist/a_1.0_amd64.deb", "a");
    job.run().code(1).has("^^^ +++").has("nope");
    let (args, body) = &job.agent_calls_of(&["annotate"])[0];
    assert_eq!(args[1..5], ["--style", "error", "--context", "my-ctx"]);
    assert!(body.contains("❌ failed"), "{body}");
}

#[test]
fn hostile_file_names_render_inert_in_the_annotation() {
    let emu = emulator(&[]);
    let job = plugin(
        &emu,
        r#"{"registry":"debs","artifacts":"dist/*.deb","api-url":"EMU","dry-run":true}"#,
    )
    .deb("dist/<script>alert(1)<|script>[x](javascript:y)_1.0_amd64.deb", "a");
    job.run().code(0);
    let (args, body) = &job.agent_calls_of(&["annotate"])[0];
    assert_eq!(args[2], "info");
    assert!(!body.contains("<script>"), "{body}");
    assert!(!body.contains("[x](javascript"), "{body}");
    assert!(body.contains("&lt;script&gt;"), "{body}");
}

#[test]
fn download_fetches_artifacts_before_globbing() {
    let emu = emulator(&[]);
    let job = plugin(&emu, r#"{"registry":"debs","artifacts":"pkg/*.deb","download":"pkg/*.deb","download-build":"0190-build","api-url":"EMU"}"#).env("BUILDKITE_API_TOKEN", TOKEN);
    std::fs::create_dir_all(job.artifact_store("0190-build").join("pkg")).unwrap();
    std::fs::write(
        job.artifact_store("0190-build").join("pkg/a_1.0_amd64.deb"),
        fixtures::deb_for("a_1.0_amd64.deb", "a"),
    )
    .unwrap();
    job.run().code(0);
    let calls = job.agent_calls_of(&["artifact", "download"]);
    assert_eq!(
        calls[0].0,
        ["artifact", "download", "pkg/*.deb", ".", "--build", "0190-build"]
    );
    assert_eq!(emu.packages("debs").len(), 1);
}

#[test]
fn oidc_tokens_are_refreshed_before_they_expire() {
    let emu = crate::support::emulator_with(crate::support::EmuConfig {
        latency_ms: 700,
        ..Default::default()
    });
    // Tokens that expire 61 s after issue are fresh for about one second under the
    // 60 s safety margin, so a run of a few seconds must ask for new ones.
    let job = plugin(
        &emu,
        r#"{"registry":"debs","artifacts":"dist/*.deb","api-url":"EMU","concurrency":1}"#,
    )
    .env("SHIM_TOKEN_LIFETIME", "61")
    .deb("dist/a_1.0_amd64.deb", "a")
    .deb("dist/b_1.0_amd64.deb", "b")
    .deb("dist/c_1.0_amd64.deb", "c");
    job.run().code(0);
    let requests = job.agent_calls_of(&["oidc", "request-token"]);
    assert!(
        requests.len() >= 2,
        "expected a refresh, got {} token request(s)",
        requests.len()
    );
    assert!(
        requests
            .iter()
            .all(|(a, _)| a[3] == "https://packages.buildkite.com/acme/debs")
    );
    assert_eq!(emu.packages("debs").len(), 3);
}

#[test]
fn an_agent_that_cannot_mint_tokens_is_retried_then_reported_as_refused() {
    let emu = emulator(&[]);
    let job = plugin(
        &emu,
        r#"{"registry":"debs","artifacts":"dist/*.deb","api-url":"EMU","retries":2}"#,
    )
    .env("SHIM_FAIL", "oidc request-token")
    .deb("dist/a_1.0_amd64.deb", "a");
    job.run()
        .code(4)
        .has("cannot get an OIDC token")
        .has("from the Buildkite agent");
    assert_eq!(
        job.agent_calls_of(&["oidc", "request-token"]).len(),
        3,
        "one attempt and two retries"
    );
    assert!(emu.requests().is_empty(), "nothing was sent without a token");
}

/// A step that exits non-zero is annotated as an error, whatever else succeeded, and
/// the annotation's first line says what failed.
#[test]
fn a_partly_failed_step_is_an_error_annotation_that_says_so_first() {
    let emu = emulator(&[]);
    emu.fault(Fault {
        method: Some("POST".into()),
        file_contains: Some("b_1.0".into()),
        status: Some(422),
        body: Some(r#"{"message":"Validation failed"}"#.into()),
        ..Fault::default()
    });
    let job = plugin(
        &emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU"}"#,
    )
    .env("BUILDKITE_API_TOKEN", TOKEN)
    .deb("dist/a_1.0_amd64.deb", "a")
    .deb("dist/b_1.0_amd64.deb", "b");
    job.run().code(1);
    let annotate = job.agent_calls_of(&["annotate"]);
    let (args, body) = &annotate[0];
    assert_eq!(args[2], "error", "{args:?}");
    assert!(body.starts_with("#### ❌ 1 of 2 files to `acme/debs` failed"), "{body}");
    assert_eq!(body.matches("Validation failed").count(), 1, "{body}");
}
