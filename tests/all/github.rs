//! The binary as a GitHub Action: inputs, the job summary, step outputs, workflow
//! commands and OIDC through the runner's token endpoint.

use std::collections::BTreeMap;

use crate::support::{Fault, Job, TOKEN, emulator};

fn action(emu: &crate::support::Handle) -> Job {
    let job = Job::new()
        .env("GITHUB_ACTIONS", "true")
        .env("INPUT_REGISTRY", "acme/debs")
        .env("INPUT_ARTIFACTS", "dist/*.deb")
        .env("INPUT_API-URL", &emu.url);
    let out = job.dir.path().join("github_output");
    let summary = job.dir.path().join("step_summary");
    job.env("GITHUB_OUTPUT", &out.display().to_string())
        .env("GITHUB_STEP_SUMMARY", &summary.display().to_string())
}

/// Parses `$GITHUB_OUTPUT` (`name<<DELIM` … `DELIM`).
fn outputs(job: &Job) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(job.dir.path().join("github_output")).unwrap();
    let mut map = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delim) = line.split_once("<<").expect("delimiter form");
        assert!(delim.starts_with("ghadelimiter_") && delim.len() > 20, "{delim}");
        let mut value = Vec::new();
        for l in lines.by_ref() {
            if l == delim {
                break;
            }
            value.push(l);
        }
        map.insert(name.to_owned(), value.join("\n"));
    }
    map
}

#[test]
fn outputs_and_summary() {
    let emu = emulator(&[]);
    let job = action(&emu)
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .env("INPUT_REPORT-FILE", "report.json")
        .deb("dist/a_1.0_amd64.deb", "a")
        .deb("dist/b_1.0_amd64.deb", "b");
    let out = job.run();
    out.code(0)
        .has("::group::")
        .has("::endgroup::")
        .has(&format!("::add-mask::{TOKEN}"));
    assert_eq!(
        out.stdout.matches(TOKEN).count(),
        1,
        "the token appears only in its add-mask command"
    );
    let o = outputs(&job);
    assert_eq!(o["published-count"], "2");
    assert_eq!(o["skipped-count"], "0");
    assert_eq!(o["failed-count"], "0");
    assert_eq!(o["promoted-count"], "0");
    assert_eq!(o["report-file"], "report.json");
    let packages: Vec<serde_json::Value> = serde_json::from_str(&o["packages"]).unwrap();
    assert_eq!(packages.len(), 2);
    assert_eq!(packages[0]["path"], "dist/a_1.0_amd64.deb");
    let summary = std::fs::read_to_string(job.dir.path().join("step_summary")).unwrap();
    assert!(
        summary.starts_with("#### ✅ Published 2 packages to `acme/debs`"),
        "{summary}"
    );
    assert!(summary.contains("| File | Package | Status |"), "{summary}");
    // A second run appends to the summary rather than replacing it.
    job.run().code(0);
    let summary = std::fs::read_to_string(job.dir.path().join("step_summary")).unwrap();
    assert_eq!(summary.matches("| File | Package | Status |").count(), 2);
    assert_eq!(outputs(&job)["skipped-count"], "2");
}

#[test]
fn failure_per_file_is_an_escaped_error_command() {
    let emu = emulator(&[]);
    emu.fault(Fault {
        method: Some("POST".into()),
        status: Some(422),
        body: Some(r#"{"message":"bad package\n::set-output name=pwned::1\r%"}"#.into()),
        ..Fault::default()
    });
    let job = action(&emu)
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .deb("dist/a:b,c%::warning::x_1.0_amd64.deb", "a");
    let out = job.run();
    out.code(1);
    let error = out
        .stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .expect("an error command");
    assert!(
        error.starts_with("::error title=Failed to publish dist/a%3Ab%2Cc%25%3A%3Awarning%3A%3Ax_1.0_amd64.deb::"),
        "{error}"
    );
    assert!(error.contains("bad package ::set-output name=pwned::1 %25"), "{error}");
    for line in out.stdout.lines() {
        assert!(
            !line.starts_with("::set-output") && !line.starts_with("::warning::x"),
            "{line}"
        );
    }
    assert_eq!(outputs(&job)["failed-count"], "1");
}

#[test]
fn oidc_token_from_the_runner() {
    let emu = emulator(&[]);
    let job = action(&emu)
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{}/_github/token?api-version=2.0", emu.url),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token")
        .deb("dist/a_1.0_amd64.deb", "a");
    let out = job.run();
    out.code(0);
    assert_eq!(emu.packages("debs").len(), 1);
    let mask_lines: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("::add-mask::")).collect();
    assert!(
        mask_lines.iter().any(|l| l.contains("eyJ")),
        "the JWT is masked: {mask_lines:?}"
    );
    for mask in &mask_lines {
        let secret = mask.trim_start_matches("::add-mask::");
        assert_eq!(
            out.stdout.matches(secret).count(),
            1,
            "{secret} appears only in its mask command"
        );
    }
    let token_request = emu.requests().into_iter().find(|r| r.path == "/_github/token").unwrap();
    assert!(
        token_request
            .query
            .contains("audience=https%3A%2F%2Fpackages.buildkite.com%2Facme%2Fdebs"),
        "{}",
        token_request.query
    );
}

#[test]
fn missing_id_token_permission_says_so() {
    let emu = emulator(&[]);
    action(&emu)
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(4)
        .has("id-token: write");
}

#[test]
fn a_run_that_stops_early_still_reports_the_error() {
    let emu = emulator(&[]);
    let job = action(&emu)
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .env("INPUT_REPORT-FILE", "r.json");
    job.run().code(3);
    let summary = std::fs::read_to_string(job.dir.path().join("step_summary")).unwrap();
    assert!(
        summary.contains("**Error:**") && summary.contains("matched no files"),
        "{summary}"
    );
    assert_eq!(outputs(&job)["failed-count"], "0");
    let report = job.json("r.json");
    assert!(report["error"].as_str().unwrap().contains("matched no files"));
    assert_eq!(report["packages"].as_array().unwrap().len(), 0);
}

#[test]
fn the_packages_output_shrinks_to_fit_the_output_limit() {
    let emu = emulator(&[("files", "files")]);
    let job = action(&emu)
        .env("INPUT_DRY-RUN", "true")
        .env("INPUT_REGISTRY", "acme/files")
        .env("INPUT_ARTIFACTS", "dist/*.bin")
        .env("BUILDKITE_API_TOKEN", TOKEN);
    let long = "x".repeat(60);
    std::fs::create_dir_all(job.work().join("dist")).unwrap();
    for i in 0..3200 {
        std::fs::write(job.work().join(format!("dist/{long}{i:04}-1.0.0.bin")), "p").unwrap();
    }
    // Even the short form of 3200 entries is over the budget once counted as UTF-16.
    job.run().code(0).has("`packages` output is an empty list");
    assert_eq!(outputs(&job)["packages"], "[]");
    let text = std::fs::read_to_string(job.dir.path().join("github_output")).unwrap();
    assert!(text.encode_utf16().count() * 2 <= 1_000_000);
}
