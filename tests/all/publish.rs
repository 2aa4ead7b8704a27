//! Publishing end to end against the emulator.

use serde_json::Value;

use crate::support::{Fault, Job, emulator, fixtures, published_earlier};

/// The sha256 of the package `dist/a_1.0_amd64.deb` built with `payload`.
fn sha256(payload: &str) -> String {
    fixtures::deb_sha256("a_1.0_amd64.deb", payload)
}

#[test]
fn publishes_every_file_and_the_report_matches_the_registry() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "out/report.json")
        .deb("dist/zeta_1.0_amd64.deb", "zeta")
        .deb("dist/alpha_2.0_amd64.deb", "alpha")
        .file("dist/notes.txt", "not a package");
    job.run()
        .code(0)
        .has("published  dist/alpha_2.0_amd64.deb")
        .has("report written to out/report.json");
    let report = job.json("out/report.json");
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["organization"], "acme");
    assert_eq!(report["registry"], "debs");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["totals"]["published"], 2);
    let packages = report["packages"].as_array().unwrap();
    let paths: Vec<&str> = packages.iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["dist/alpha_2.0_amd64.deb", "dist/zeta_1.0_amd64.deb"]);
    let stored = emu.packages("debs");
    assert_eq!(stored.len(), 2);
    for p in packages {
        let s = stored
            .iter()
            .find(|s| Some(s.id.as_str()) == p["id"].as_str())
            .expect("reported id is in the registry");
        assert_eq!(p["sha256"], s.sha256);
        assert_eq!(p["name"], s.name);
        assert_eq!(p["version"], s.version);
        assert_eq!(p["status"], "published");
        assert_eq!(p["error"], Value::Null);
        assert!(p["web_url"].as_str().unwrap().starts_with("https://buildkite.com/"));
    }
    assert_eq!(
        stored.iter().find(|p| p.name == "alpha").unwrap().sha256,
        fixtures::deb_sha256("alpha_2.0_amd64.deb", "alpha")
    );
    // The multipart file name is the base name: the registry parses it.
    let names: Vec<String> = emu.requests().iter().filter_map(|r| r.file_name.clone()).collect();
    assert!(names.contains(&"alpha_2.0_amd64.deb".to_owned()), "{names:?}");
}

#[test]
fn rerun_is_identical_and_uploads_nothing_new() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    job.run().code(0);
    job.run().code(0).has("identical  dist/a_1.0_amd64.deb");
    assert_eq!(job.json("r.json")["packages"][0]["status"], "identical");
    assert_eq!(emu.packages("debs").len(), 1);
}

#[test]
fn same_version_with_different_content_fails_naming_both_digests() {
    let emu = emulator(&[]);
    let first = Job::local(&emu, "debs", "dist/*.deb").deb("dist/a_1.0_amd64.deb", "one");
    first.run().code(0);
    let second = Job::local(&emu, "debs", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", "two")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json");
    second
        .run()
        .code(1)
        .has(&sha256("one"))
        .has(&sha256("two"))
        .has("different content");
    assert_eq!(second.json("r.json")["packages"][0]["status"], "failed");
    assert_eq!(emu.packages("debs")[0].sha256, sha256("one"));
}

#[test]
fn if_exists_skip_leaves_a_different_package_alone() {
    let emu = emulator(&[]);
    published_earlier(&emu, "debs", "dist/a_1.0_amd64.deb", "one");
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", "two")
        .env("PACKAGE_PUBLISHER_IF_EXISTS", "skip")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json");
    job.run().code(0).has("skipped");
    assert_eq!(job.json("r.json")["packages"][0]["status"], "skipped");
    assert_eq!(emu.packages("debs")[0].sha256, sha256("one"));
}

#[test]
fn if_exists_fail_fails_even_when_identical() {
    let emu = emulator(&[]);
    published_earlier(&emu, "debs", "dist/a_1.0_amd64.deb", "one");
    Job::local(&emu, "debs", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", "one")
        .env("PACKAGE_PUBLISHER_IF_EXISTS", "fail")
        .run()
        .code(1)
        .has("if-exists: fail")
        .has("409");
}

#[test]
fn if_exists_replace_deletes_then_publishes() {
    let emu = emulator(&[]);
    published_earlier(&emu, "debs", "dist/a_1.0_amd64.deb", "one");
    let old_id = emu.packages("debs")[0].id.clone();
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", "two")
        .env("PACKAGE_PUBLISHER_IF_EXISTS", "replace")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json");
    job.run().code(0).has("replaced");
    let stored = emu.packages("debs");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].id, old_id);
    assert_eq!(stored[0].sha256, sha256("two"));
    assert_eq!(job.json("r.json")["packages"][0]["status"], "replaced");
    assert!(
        emu.requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path.ends_with(&old_id))
    );
}

/// The requests a run sent that could change something (anything but a GET).
fn writes(emu: &crate::support::Handle) -> Vec<String> {
    emu.requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn dry_run_sends_nothing_and_says_what_would_happen() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_DRY_RUN", "true")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/hello_1.2.3-1_amd64.deb", "x");
    job.run()
        .code(0)
        .has("dry run")
        .has("planned    dist/hello_1.2.3-1_amd64.deb")
        .has("hello 1.2.3-1");
    assert!(writes(&emu).is_empty(), "{:?}", writes(&emu));
    let r = job.json("r.json");
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["packages"][0]["status"], "planned");
    assert_eq!(r["packages"][0]["name"], "hello");
    assert_eq!(
        r["packages"][0]["sha256"],
        fixtures::deb_sha256("hello_1.2.3-1_amd64.deb", "x")
    );
}

#[test]
fn dry_run_authenticates_and_reads_the_registry_like_the_real_run() {
    let emu = emulator(&[]);
    let dry = |registry: &str| {
        Job::local(&emu, registry, "dist/*.deb")
            .env("PACKAGE_PUBLISHER_DRY_RUN", "1")
            .deb("dist/a_1.0_amd64.deb", "a")
    };
    dry("debs")
        .env("BUILDKITE_API_TOKEN", "bkua_bogus")
        .run()
        .code(4)
        .has("401")
        .has("was refused")
        .lacks("bkua_bogus");
    dry("no-such-registry")
        .run()
        .code(4)
        .has("registry \"no-such-registry\" was not found");
    dry("debs")
        .unset("BUILDKITE_API_TOKEN")
        .run()
        .code(2)
        .has("no API token");
    assert!(writes(&emu).is_empty(), "{:?}", writes(&emu));
}

/// A new file, one already there with the same content, one already there with other
/// content, and one that is no package: the dry run says of each, and exits with,
/// what the real run then does.
#[test]
fn dry_run_statuses_and_exit_code_are_those_of_the_real_run() {
    for policy in ["skip-identical", "skip", "fail", "replace"] {
        let emu = emulator(&[]);
        Job::local(&emu, "debs", "dist/*.deb")
            .deb("dist/same_1.0_amd64.deb", "same")
            .deb("dist/conflict_1.0_amd64.deb", "old")
            .run()
            .code(0);
        let job = |dry: bool| {
            Job::local(&emu, "debs", "dist/*.deb")
                .env("PACKAGE_PUBLISHER_IF_EXISTS", policy)
                .env("PACKAGE_PUBLISHER_DRY_RUN", if dry { "true" } else { "false" })
                .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
                .deb("dist/new_1.0_amd64.deb", "new")
                .deb("dist/same_1.0_amd64.deb", "same")
                .deb("dist/conflict_1.0_amd64.deb", "new content")
                .file("dist/broken_1.0_amd64.deb", "not a package")
        };
        let before = emu.requests().len();
        let dry = job(true);
        let dry_out = dry.run();
        assert!(
            emu.requests()[before..].iter().all(|r| r.method == "GET"),
            "{policy}: the dry run wrote"
        );
        let dry_report = dry.json("r.json");
        let real = job(false);
        let real_out = real.run();
        assert_eq!(dry_out.code, real_out.code, "{policy}: exit codes differ");
        let real_report = real.json("r.json");
        let statuses = |r: &Value| -> Vec<String> {
            r["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| format!("{} {}", p["path"].as_str().unwrap(), p["status"].as_str().unwrap()))
                .collect()
        };
        let predicted: Vec<String> = statuses(&dry_report)
            .into_iter()
            .map(|s| s.replace(" planned", " published"))
            .collect();
        let real_statuses: Vec<String> = statuses(&real_report)
            .into_iter()
            .map(|s| s.replace(" replaced", " published"))
            .collect();
        assert_eq!(predicted, real_statuses, "{policy}");
    }
}

#[test]
fn excludes_hidden_files_and_order_with_many_concurrent_uploads() {
    // Random latency per request makes uploads finish out of input order.
    let emu = crate::support::emulator_with(crate::support::EmuConfig {
        latency_ms: 5,
        jitter_ms: 60,
        ..crate::support::EmuConfig::default()
    });
    let mut job = Job::local(&emu, "debs", "dist/**/*.deb\n!dist/**/*-dbg_*")
        .env("PACKAGE_PUBLISHER_CONCURRENCY", "8")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json");
    for i in 0..40 {
        job = job.deb(
            &format!("dist/sub{}/pkg{i:02}_1.0_amd64.deb", i % 3),
            &format!("content {i}"),
        );
    }
    job = job
        .deb("dist/pkg-dbg_1.0_amd64.deb", "debug")
        .deb("dist/.hidden_1.0_amd64.deb", "hidden");
    job.run().code(0);
    let r = job.json("r.json");
    let paths: Vec<String> = r["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "report is in input (sorted) order");
    // The registry saw them finish in another order, so the report really re-ordered.
    let finished: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .filter_map(|r| r.file_name)
        .collect();
    let input: Vec<&str> = paths.iter().map(|p| p.rsplit('/').next().unwrap()).collect();
    assert_eq!(finished.len(), input.len());
    assert_ne!(
        finished, input,
        "uploads finished in input order; the test proves nothing"
    );
    assert_eq!(paths.len(), 40);
    assert_eq!(emu.packages("debs").len(), 40);
    assert!(!paths.iter().any(|p| p.contains("dbg") || p.contains(".hidden")));
}

#[test]
fn if_no_files_found_warn_and_ignore_still_publish_the_rest() {
    let emu = emulator(&[]);
    Job::local(&emu, "debs", "dist/*.deb\ndist/*.rpm")
        .env("PACKAGE_PUBLISHER_IF_NO_FILES_FOUND", "warn")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(0)
        .has("warning: artifacts pattern \"dist/*.rpm\" matched no files");
    Job::local(&emu, "debs", "dist/*.rpm")
        .env("PACKAGE_PUBLISHER_IF_NO_FILES_FOUND", "ignore")
        .run()
        .code(0)
        .lacks("warning");
}

#[test]
fn returned_digest_that_differs_from_the_file_is_a_failure() {
    let emu = emulator(&[]);
    emu.fault(Fault {
        method: Some("POST".into()),
        path_contains: Some("/packages".into()),
        status: Some(201),
        body: Some(r#"{"id":"x1","name":"a","version":"1.0","digests":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}"#.into()),
        times: 1,
        ..Fault::default()
    });
    Job::local(&emu, "debs", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(1)
        .has("registry reports sha256 0000")
        .has(&sha256("a"));
}

/// A success answer without digests is checked against the registry's record of the
/// id it names: an id the registry does not hold is never reported as published.
#[test]
fn a_success_without_digests_naming_no_package_is_not_trusted() {
    let emu = emulator(&[]);
    emu.fault(Fault {
        method: Some("POST".into()),
        path_contains: Some("/packages".into()),
        status: Some(201),
        body: Some(r#"{"id":"made-up-id","name":"a","version":"1.0"}"#.into()),
        times: 1,
        ..Fault::default()
    });
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    job.run().code(1).has("holds no such package");
    assert_eq!(job.json("r.json")["packages"][0]["status"], "failed");
}

#[test]
fn server_error_message_and_status_are_kept() {
    let emu = emulator(&[]);
    emu.fault(Fault {
        method: Some("POST".into()),
        status: Some(422),
        body: Some(r#"{"message":"Invalid filename format. Expected: {BASENAME}-{SEMVER}.{EXT}"}"#.into()),
        times: 1,
        ..Fault::default()
    });
    Job::local(&emu, "debs", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(1)
        .has("422")
        .has("Invalid filename format");
}

#[test]
fn attestations_are_attached_to_every_package() {
    let emu = emulator(&[]);
    let envelope = r#"{
  "payloadType": "application/vnd.in-toto+json",
  "payload": "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==",
  "signatures": [{"keyid": "", "sig": "MEUCIQ=="}]
}"#;
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_ATTESTATIONS", "att/*.json")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a")
        .deb("dist/b_1.0_amd64.deb", "b")
        .file("att/provenance.json", envelope)
        .file("att/sbom.json", "{\"spdxVersion\": \"SPDX-2.3\"}");
    job.run().code(0).has("attestations: 2 file(s)");
    let expected = format!(
        "{}\n{}\n",
        serde_json::to_string(&serde_json::from_str::<Value>(envelope).unwrap()).unwrap(),
        r#"{"spdxVersion":"SPDX-2.3"}"#
    );
    for p in emu.packages("debs") {
        assert_eq!(p.attestation_bundle.as_deref(), Some(expected.as_str()));
    }
    assert_eq!(job.json("r.json")["packages"][0]["attestations"], 2);
    // Not re-sent to an existing package, and the log says so.
    job.run()
        .code(0)
        .has("identical")
        .has("attestations are not re-sent to an existing package");
    assert_eq!(job.json("r.json")["packages"][0]["attestations"], 0);
}

#[test]
fn attestation_that_is_not_json_uploads_nothing() {
    let emu = emulator(&[]);
    Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_ATTESTATIONS", "att/*.json")
        .deb("dist/a_1.0_amd64.deb", "a")
        .file("att/bad.json", "not json")
        .run()
        .code(2)
        .has("att/bad.json is not valid JSON");
    assert!(emu.requests().is_empty());
}

#[test]
fn attestation_pattern_matching_nothing_follows_if_no_files_found() {
    let emu = emulator(&[]);
    Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_ATTESTATIONS", "att/*.json")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(3)
        .has("attestations pattern \"att/*.json\" matched no files");
}

#[test]
fn attestation_over_the_size_limit_is_refused() {
    let emu = emulator(&[]);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(17 * 1024 * 1024));
    Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_ATTESTATIONS", "att/*.json")
        .deb("dist/a_1.0_amd64.deb", "a")
        .file("att/huge.json", &big)
        .run()
        .code(2)
        .has("attestation att/huge.json is")
        .has("over the 16 MiB limit");
    assert!(emu.requests().is_empty());
}

#[test]
fn attestations_go_with_the_presigned_finalize_and_the_dry_run_lists_them() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_ATTESTATIONS", "att/*.json")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .deb("dist/a_1.0_amd64.deb", "a")
        .file("att/one.json", "{\"a\": 1}");
    job.run().code(0);
    assert_eq!(
        emu.packages("debs")[0].attestation_bundle.as_deref(),
        Some("{\"a\":1}\n")
    );
    let dry = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_ATTESTATIONS", "att/*.json")
        .env("PACKAGE_PUBLISHER_DRY_RUN", "true")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/b_1.0_amd64.deb", "b")
        .file("att/one.json", "{}");
    dry.run()
        .code(0)
        .has("attestations: 1 file(s) attached to every package: att/one.json");
    assert_eq!(dry.json("r.json")["packages"][0]["attestations"], 1);
}

#[test]
fn a_rerun_does_not_upload_large_files_again() {
    let emu = emulator(&[]);
    let big = "x".repeat(2 * 1024 * 1024);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/big_1.0_amd64.deb", &big);
    job.run().code(0);
    let posts = || emu.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts(), 1);
    job.run().code(0).has("identical");
    assert_eq!(posts(), 1, "the second run looked the file up instead of uploading it");
    assert_eq!(
        job.json("r.json")["packages"][0]["sha256"],
        emu.packages("debs")[0].sha256
    );
    // Different content under the same version may be another architecture, so it is
    // sent, and the registry's refusal is reconciled with both digests named.
    let other = Job::local(&emu, "debs", "dist/*.deb").deb("dist/big_1.0_amd64.deb", &"y".repeat(2 * 1024 * 1024));
    other
        .run()
        .code(1)
        .has("different content")
        .has(&emu.packages("debs")[0].sha256);
    assert_eq!(emu.packages("debs").len(), 1);
}

/// The registry's form parser must read back exactly the file name the tool meant.
/// Proven against a real, independent parser (`multipart` from the Python package index, in
/// `tests/multipart_registry.py`) with names a Files registry accepts and parsers have
/// disagreed on: spaces, `;`, `=`, `%`, `'`, and UTF-8 (sent raw, as browsers do; quotes,
/// backslashes and line breaks are refused before anything is sent).
#[test]
fn a_real_form_parser_reads_back_every_file_name_as_it_was() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("uploads.jsonl");
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci-cache/venv/bin/python");
    let python = if python.exists() { python } else { "python3".into() };
    let mut server = std::process::Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/multipart_registry.py"))
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs (the test command installs `multipart` into .ci-cache/venv)");
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the parser's registry did not start: {first:?}"))
        .to_owned();
    let names = [
        "two words-1.0.0.bin",
        "semi;colon=equals-1.0.0.bin",
        "100%done-1.0.0.bin",
        "it's-1.0.0.bin",
        "naïve café ünïcødé-1.0.0.bin",
    ];
    let mut job = Job::new()
        .env("PACKAGE_PUBLISHER_REGISTRY", "acme/files")
        .env("PACKAGE_PUBLISHER_ARTIFACTS", "dist/*")
        .env("PACKAGE_PUBLISHER_API_URL", &url)
        .env("BUILDKITE_API_TOKEN", crate::support::TOKEN)
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json");
    for name in names {
        job = job.file(&format!("dist/{name}"), &format!("content of {name}"));
    }
    let out = job.run();
    let _ = server.kill();
    let _ = server.wait();
    out.code(0);
    let parsed: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["filename"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut parsed = parsed;
    parsed.sort();
    let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(parsed, expected);
    // And the bytes the parser extracted are the file's (the registry's digest agreed).
    for entry in job.json("r.json")["packages"].as_array().unwrap() {
        assert_eq!(entry["status"], "published", "{entry}");
    }
}

/// A file that is the only one of its version (a Files package has no architecture):
/// the package the registry lists under its name and version is its own earlier
/// build, so `replace` deletes it at once instead of waiting out `settle-timeout` for
/// another variant to show.
#[test]
fn replace_of_a_package_without_variants_does_not_wait_for_the_listing() {
    let emu = emulator(&[("files", "files")]);
    Job::local(&emu, "files", "dist/*")
        .file("dist/tool-1.0.0.bin", "old")
        .run()
        .code(0);
    let job = Job::local(&emu, "files", "dist/*")
        .env("PACKAGE_PUBLISHER_IF_EXISTS", "replace")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .file("dist/tool-1.0.0.bin", "new");
    job.run().code(0).has("replaced").lacks("looking again");
    let entry = &job.json("r.json")["packages"][0];
    assert_eq!(entry["status"], "replaced", "{entry}");
    let stored = emu.packages("files");
    assert_eq!(stored.len(), 1);
    assert_eq!(entry["sha256"], stored[0].sha256, "the new file is the one stored");
}
