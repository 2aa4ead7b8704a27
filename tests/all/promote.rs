//! Promotion: publish-then-promote, and promote-only steps after a block step.

use crate::support::{Fault, Job, TOKEN, emulator, fixtures, published_earlier};

/// `package-publisher promote --from staging --to production 'dist/*.deb'` from a terminal.
fn promote_cli(emu: &crate::support::Handle) -> Job {
    Job::new()
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .env("BUILDKITE_ORGANIZATION_SLUG", "acme")
        .args(&[
            "promote",
            "--from",
            "staging",
            "--to",
            "production",
            "dist/*.deb",
            "--api-url",
            &emu.url,
        ])
}

fn staging_job(emu: &crate::support::Handle) -> Job {
    Job::local(emu, "staging", "dist/*.deb").env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
}

#[test]
fn publish_then_promote_copies_every_package() {
    let emu = emulator(&[("staging", "debian"), ("production", "debian"), ("mirror", "debian")]);
    let job = staging_job(&emu)
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production\nmirror")
        .deb("dist/a_1.0_amd64.deb", "a")
        .deb("dist/b_1.0_amd64.deb", "b");
    job.run().code(0).has("promoted production").has("promoted mirror");
    assert_eq!(emu.packages("production").len(), 2);
    assert_eq!(emu.packages("mirror").len(), 2);
    let r = job.json("r.json");
    assert_eq!(r["totals"]["promoted"], 4);
    let promos = r["packages"][0]["promotions"].as_array().unwrap();
    assert_eq!(promos.len(), 2);
    assert_eq!(promos[0]["registry"], "production");
    assert_eq!(promos[0]["status"], "promoted");
    // Copies run in parallel, so the registry's order is not the input's: match by name.
    let copied_a = emu.packages("production").into_iter().find(|p| p.name == "a").unwrap();
    assert_eq!(promos[0]["id"], copied_a.id);
    // A re-run is a no-op: everything is identical in every registry.
    job.run().code(0);
    let r = job.json("r.json");
    assert_eq!(r["packages"][0]["status"], "identical");
    assert_eq!(r["packages"][0]["promotions"][0]["status"], "identical");
    assert_eq!(emu.packages("production").len(), 2);
    let copies = emu.requests().iter().filter(|r| r.path.ends_with("/copy")).count();
    assert_eq!(copies, 4, "no copy was sent on the re-run");
}

#[test]
fn nothing_is_promoted_when_a_publish_failed() {
    let emu = emulator(&[("staging", "debian"), ("production", "debian")]);
    emu.fault(Fault {
        file_contains: Some("bad".into()),
        status: Some(422),
        body: Some(r#"{"message":"rejected"}"#.into()),
        ..Fault::default()
    });
    let job = staging_job(&emu)
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production")
        .deb("dist/good_1.0_amd64.deb", "g")
        .deb("dist/bad_1.0_amd64.deb", "b");
    job.run().code(1).has("nothing was promoted");
    assert!(emu.packages("production").is_empty());
    assert_eq!(job.json("r.json")["packages"][1]["promotions"][0]["status"], "skipped");
}

#[test]
fn uncopyable_ecosystem_is_refused_before_any_upload() {
    let emu = emulator(&[("charts", "helm"), ("charts-prod", "helm")]);
    Job::local(&emu, "charts", "dist/*.tgz")
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "charts-prod")
        .bytes(
            "dist/mychart-1.0.0.tgz",
            &fixtures::helm_chart("mychart", "apiVersion: v2\nname: mychart\nversion: 1.0.0\n"),
        )
        .run()
        .code(1)
        .has("dist/mychart-1.0.0.tgz is a Helm chart")
        .has("publish to each registry directly");
    assert!(
        !emu.requests().iter().any(|r| r.method == "POST"),
        "nothing was uploaded"
    );
}

#[test]
fn unknown_destination_is_refused_before_any_upload() {
    let emu = emulator(&[("staging", "debian")]);
    staging_job(&emu)
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "prodution")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(1)
        .has("\"prodution\" was not found");
    assert!(emu.packages("staging").is_empty());
}

#[test]
fn copy_refused_for_one_package_while_others_succeed() {
    let emu = emulator(&[("staging", "debian"), ("production", "debian")]);
    let job = staging_job(&emu)
        .deb("dist/a_1.0_amd64.deb", "a")
        .deb("dist/b_1.0_amd64.deb", "b");
    job.run().code(0);
    let b_id = emu
        .packages("staging")
        .iter()
        .find(|p| p.name == "b")
        .unwrap()
        .id
        .clone();
    emu.fault(Fault {
        path_contains: Some(format!("{b_id}/copy")),
        status: Some(422),
        body: Some(r#"{"message":"Package is quarantined"}"#.into()),
        ..Fault::default()
    });
    let job = job.env("PACKAGE_PUBLISHER_PROMOTE_TO", "production");
    job.run().code(1).has("Package is quarantined");
    let r = job.json("r.json");
    assert_eq!(r["packages"][0]["promotions"][0]["status"], "promoted");
    assert_eq!(r["packages"][1]["promotions"][0]["status"], "failed");
    assert_eq!(emu.packages("production").len(), 1);
}

#[test]
fn destination_with_different_content_names_both_digests() {
    let emu = emulator(&[("staging", "debian"), ("production", "debian")]);
    published_earlier(&emu, "production", "dist/a_1.0_amd64.deb", "old");
    let job = staging_job(&emu)
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production")
        .deb("dist/a_1.0_amd64.deb", "new");
    let out = job.run();
    // Other content is a conflict at once: no copy of this run can be among it, so
    // the listing is not waited for.
    out.code(1).has("different content").lacks("looking again");
    let r = job.json("r.json");
    let err = r["packages"][0]["promotions"][0]["error"].as_str().unwrap().to_owned();
    assert!(
        err.contains(&emu.packages("production")[0].sha256) && err.contains(&emu.packages("staging")[0].sha256),
        "{err}"
    );
}

/// Step 1 publishes to staging on Buildkite; step 2, after a block step, promotes
/// exactly those packages from the build meta-data. Both steps are then re-run.
#[test]
fn two_step_pipeline_with_meta_data_and_reruns() {
    let emu = emulator(&[("staging", "debian"), ("production", "debian")]);
    let config1 = format!(
        r#"{{"registry":"staging","artifacts":"dist/*.deb","api-url":"{}"}}"#,
        emu.url
    );
    let config2 = format!(
        r#"{{"promote-from":"staging","promote-to":["production"],"api-url":"{}","report-file":"r.json"}}"#,
        emu.url
    );
    let step1 = Job::new()
        .env("BUILDKITE", "true")
        .env("BUILDKITE_ORGANIZATION_SLUG", "acme")
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .env("BUILDKITE_PLUGIN_CONFIGURATION", &config1)
        .deb("dist/a_1.0_amd64.deb", "a")
        .deb("dist/b_1.0_amd64.deb", "b");
    let state = step1.agent_dir().display().to_string();
    step1.run().code(0);
    assert!(emu.packages("production").is_empty());
    let step2 = Job::new()
        .env("BUILDKITE", "true")
        .env("BUILDKITE_ORGANIZATION_SLUG", "acme")
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .env("BUILDKITE_PLUGIN_CONFIGURATION", &config2)
        .env("SHIM_STATE", &state);
    step2
        .run()
        .code(0)
        .has("2 package(s) from the reports in build meta-data");
    assert_eq!(emu.packages("production").len(), 2);
    let writes = || {
        emu.requests()
            .iter()
            .filter(|r| r.method == "POST" && (200..300).contains(&r.status))
            .count()
    };
    let before = writes();
    step1.run().code(0);
    step2.run().code(0);
    assert_eq!(before, writes(), "re-runs publish and copy nothing");
    assert!(
        !emu.requests()
            .iter()
            .any(|r| r.path.ends_with("/copy") && r.status == 409),
        "promotion checks the destination before copying"
    );
    assert_eq!(emu.packages("staging").len(), 2);
    assert_eq!(emu.packages("production").len(), 2);
    let r = step2.json("r.json");
    assert_eq!(r["packages"][0]["promotions"][0]["status"], "identical");
}

#[test]
fn promote_only_identifies_packages_by_the_matched_files() {
    let emu = emulator(&[("staging", "debian"), ("production", "debian")]);
    staging_job(&emu).deb("dist/a_1.0_amd64.deb", "a").run().code(0);
    let job = promote_cli(&emu)
        .args(&["--report-file", "r.json"])
        .deb("dist/a_1.0_amd64.deb", "a");
    job.run().code(0);
    assert_eq!(emu.packages("production").len(), 1);
    assert!(
        !emu.requests()
            .iter()
            .any(|r| r.path.ends_with("/registries/production/packages") && r.method == "POST")
    );
    // A file with the same name and version but other content is not that package.
    let other = promote_cli(&emu).deb("dist/a_1.0_amd64.deb", "tampered");
    other
        .run()
        .code(1)
        .has(&emu.packages("staging")[0].sha256)
        .has("is not the package");
}

#[test]
fn promote_only_without_artifacts_or_meta_data_says_what_is_missing() {
    let emu = emulator(&[("staging", "debian"), ("production", "debian")]);
    let config = format!(
        r#"{{"promote-from":"staging","promote-to":"production","api-url":"{}"}}"#,
        emu.url
    );
    Job::new()
        .env("BUILDKITE", "true")
        .env("BUILDKITE_ORGANIZATION_SLUG", "acme")
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .env("BUILDKITE_PLUGIN_CONFIGURATION", &config)
        .run()
        .code(2)
        .has("nothing to promote")
        .has("package-publisher.acme.staging");
}

/// Two architectures of one release share name and version; neither may be mistaken
/// for the other when publishing, re-running or promoting.
#[test]
fn architectures_of_one_version_are_different_packages() {
    let emu = emulator(&[("staging", "debian"), ("production", "debian")]);
    let big = |c: &str| c.repeat(1024 * 1024 + 1);
    let job = staging_job(&emu)
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production")
        .deb("dist/foo_1.0_amd64.deb", &big("a"))
        .deb("dist/foo_1.0_arm64.deb", &big("b"))
        .deb("dist/bar_2.0_amd64.deb", "small")
        .deb("dist/bar_2.0_arm64.deb", "small but other");
    job.run().code(0);
    assert_eq!(emu.packages("staging").len(), 4);
    assert_eq!(emu.packages("production").len(), 4);
    job.run().code(0);
    let r = job.json("r.json");
    for p in r["packages"].as_array().unwrap() {
        assert_eq!(p["status"], "identical", "{p}");
        assert_eq!(p["promotions"][0]["status"], "identical", "{p}");
    }
    assert_eq!(emu.packages("staging").len(), 4);
    // A rebuilt amd64 with `replace`: two packages carry that name and version, and
    // the registry's variant says which one is amd64: only that one is replaced.
    let arm64 = emu
        .packages("staging")
        .into_iter()
        .find(|p| p.name == "foo" && p.variant.as_deref() == Some("arm64"))
        .unwrap();
    let rebuilt = Job::local(&emu, "staging", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_IF_EXISTS", "replace")
        .deb("dist/foo_1.0_amd64.deb", &big("c"));
    rebuilt.run().code(0).has("replaced");
    let foo: Vec<_> = emu
        .packages("staging")
        .into_iter()
        .filter(|p| p.name == "foo")
        .collect();
    assert_eq!(foo.len(), 2, "both architectures are still there");
    assert!(foo.contains(&arm64), "the arm64 package was left alone");
}

/// Parallel jobs publishing to one registry each store their own report; the promote
/// step promotes the union.
#[test]
fn promote_only_merges_the_reports_of_parallel_jobs() {
    let emu = emulator(&[("staging", "debian"), ("production", "debian")]);
    let publish = format!(
        r#"{{"registry":"staging","artifacts":"dist/*.deb","api-url":"{}"}}"#,
        emu.url
    );
    let job = |n: &str, state: Option<&str>| {
        let mut j = Job::new()
            .env("BUILDKITE", "true")
            .env("BUILDKITE_ORGANIZATION_SLUG", "acme")
            .env("BUILDKITE_API_TOKEN", TOKEN)
            .env("BUILDKITE_JOB_ID", &format!("job-{n}"))
            .env("BUILDKITE_PARALLEL_JOB", n)
            .env("BUILDKITE_PLUGIN_CONFIGURATION", &publish)
            .deb(&format!("dist/part{n}_1.0_amd64.deb"), n);
        if let Some(s) = state {
            j = j.env("SHIM_STATE", s);
        }
        j
    };
    let first = job("0", None);
    let state = first.agent_dir().display().to_string();
    first.run().code(0);
    job("1", Some(&state)).run().code(0);
    let promote = format!(
        r#"{{"promote-from":"staging","promote-to":"production","api-url":"{}"}}"#,
        emu.url
    );
    Job::new()
        .env("BUILDKITE", "true")
        .env("BUILDKITE_ORGANIZATION_SLUG", "acme")
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .env("BUILDKITE_JOB_ID", "job-promote")
        .env("BUILDKITE_PLUGIN_CONFIGURATION", &promote)
        .env("SHIM_STATE", &state)
        .run()
        .code(0)
        .has("2 package(s) from the reports in build meta-data");
    assert_eq!(emu.packages("production").len(), 2);
    let keys: Vec<_> = std::fs::read_dir(format!("{state}/meta"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !keys.iter().any(|k| k.ends_with("job-promote")),
        "a promote-only step stores no report: {keys:?}"
    );
}

/// A token that may read both registries but not write packages: the copy is refused
/// with 403, and since nothing was written the run exits 4 (authentication refused),
/// as a refusal while publishing does.
#[test]
fn a_token_refused_during_promotion_exits_4() {
    let mut config = crate::support::EmuConfig::default();
    for slug in ["staging", "production"] {
        config.registries.insert(slug.into(), "debian".into());
    }
    config.tokens.insert(
        "bkua_readonly".into(),
        vec!["read_packages".into(), "read_registries".into()],
    );
    let emu = crate::support::emulator_with(config);
    staging_job(&emu).deb("dist/a_1.0_amd64.deb", "a").run().code(0);
    let job = promote_cli(&emu)
        .env("BUILDKITE_API_TOKEN", "bkua_readonly")
        .args(&["--report-file", "r.json"])
        .deb("dist/a_1.0_amd64.deb", "a");
    job.run()
        .code(4)
        .has("403")
        .has("write_packages")
        .lacks("bkua_readonly");
    assert!(emu.packages("production").is_empty());
    let r = job.json("r.json");
    assert_eq!(r["packages"][0]["promotions"][0]["status"], "failed");
}
