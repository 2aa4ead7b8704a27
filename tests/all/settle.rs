//! A slow index: after an upload (or a copy) whose answer was lost, the registry
//! refuses it again as a duplicate while its listing lags behind. Waited for up to
//! `settle-timeout`, the package is found to be the run's own: `published`, exactly
//! one package, under every `if-exists` policy. Past that bound, or when the run is
//! cancelled first, it is `unverified` (exit 5): never `failed`, never "not
//! published", never sent a third time, never deleted.

use std::time::Duration;

use crate::support::{
    EmuConfig, Handle, Job, emulator_with, finish_within, lose_first_answer, lose_first_copy_answer, signal,
};

const POLICIES: [&str; 4] = ["fail", "skip", "replace", "skip-identical"];

/// An emulator whose listings lag `lag` behind its writes, with a staging and a
/// production Debian registry.
fn lagging(lag: Duration) -> Handle {
    emulator_with(EmuConfig {
        list_lag_ms: u64::try_from(lag.as_millis()).unwrap(),
        registries: [
            ("debs".to_owned(), "debian".to_owned()),
            ("production".to_owned(), "debian".to_owned()),
        ]
        .into(),
        ..EmuConfig::default()
    })
}

/// A job publishing one `.deb` to `debs` under `policy`, with a JSON report.
fn job(emu: &Handle, policy: &str) -> Job {
    Job::local(emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_IF_EXISTS", policy)
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a")
}

fn count(emu: &Handle, method: &str, path_end: &str) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_end))
        .count()
}

/// The registry holds exactly the one package, was never asked to delete anything,
/// and got the file at most twice (the lost answer and one duplicate refusal).
fn exactly_one_package(emu: &Handle, policy: &str) {
    assert_eq!(emu.packages("debs").len(), 1, "{policy}");
    assert_eq!(count(emu, "DELETE", ""), 0, "{policy}: a package was deleted");
    assert!(count(emu, "POST", "/packages") <= 2, "{policy}: {:#?}", emu.requests());
}

#[test]
fn an_index_a_minute_behind_after_a_lost_answer_is_waited_out_under_every_policy() {
    // The four policies at once, each against its own registry: the test takes the
    // minute once.
    let runs: Vec<_> = POLICIES
        .into_iter()
        .map(|policy| {
            std::thread::spawn(move || {
                let emu = lagging(Duration::from_secs(60));
                lose_first_answer(&emu, "debs");
                let job = job(&emu, policy);
                job.run_within(Duration::from_secs(150)).code(0).has("settle-timeout");
                let entry = &job.json("r.json")["packages"][0];
                assert_eq!(entry["status"], "published", "{policy}: {entry}");
                assert!(entry["error"].is_null(), "{policy}: {entry}");
                exactly_one_package(&emu, policy);
            })
        })
        .collect();
    for run in runs {
        run.join().expect("a policy's run failed (its panic is above)");
    }
}

#[test]
fn past_settle_timeout_a_lost_answer_is_unverified_and_nothing_is_promoted() {
    for policy in POLICIES {
        let emu = lagging(Duration::from_secs(60));
        lose_first_answer(&emu, "debs");
        let job = job(&emu, policy)
            .env("PACKAGE_PUBLISHER_SETTLE_TIMEOUT", "2")
            .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production");
        job.run_within(Duration::from_secs(60))
            .code(5)
            .has("1 unverified")
            .has("could not be confirmed")
            .lacks("FAILED");
        let report = job.json("r.json");
        let entry = &report["packages"][0];
        assert_eq!(entry["status"], "unverified", "{policy}: {entry}");
        let note = entry["error"].as_str().unwrap();
        assert!(note.contains("within 2 s (settle-timeout)"), "{policy}: {note}");
        assert!(note.contains("may have landed"), "{policy}: {note}");
        assert_eq!(report["totals"]["unverified"], 1, "{policy}");
        assert_eq!(report["totals"]["failed"], 0, "{policy}");
        // A package that cannot be confirmed has no id to copy: nothing is promoted.
        let promotion = &entry["promotions"][0];
        assert_eq!(promotion["status"], "skipped", "{policy}: {promotion}");
        assert!(emu.packages("production").is_empty(), "{policy}");
        exactly_one_package(&emu, policy);
    }
}

/// A Buildkite plugin job whose one upload ends unverified: its answer is lost and the
/// listing lags a minute behind a one-second `settle-timeout`.
fn unverified_on_buildkite(emu: &Handle) -> Job {
    lose_first_answer(emu, "debs");
    Job::plugin(
        emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU","settle-timeout":1}"#,
    )
    .env("BUILDKITE_API_TOKEN", crate::support::TOKEN)
    .deb("dist/a_1.0_amd64.deb", "a")
}

#[test]
fn an_unverified_upload_is_a_warning_on_buildkite_and_its_own_github_count() {
    let emu = lagging(Duration::from_secs(60));
    let job = unverified_on_buildkite(&emu);
    job.run_within(Duration::from_secs(60)).code(5);
    let (args, body) = job.agent_calls_of(&["annotate"]).remove(0);
    assert_eq!(args[1..3], ["--style", "warning"], "{args:?}");
    assert!(body.contains("could not be confirmed"), "{body}");
    assert!(body.contains("⚠️ unverified"), "{body}");

    let emu = lagging(Duration::from_secs(60));
    lose_first_answer(&emu, "debs");
    let job = Job::new();
    let output = job.dir.path().join("github_output");
    let job = job
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output.display().to_string())
        .env("INPUT_REGISTRY", "acme/debs")
        .env("INPUT_ARTIFACTS", "dist/*.deb")
        .env("INPUT_API-URL", &emu.url)
        .env("INPUT_SETTLE-TIMEOUT", "1")
        .env("BUILDKITE_API_TOKEN", crate::support::TOKEN)
        .deb("dist/a_1.0_amd64.deb", "a");
    job.run_within(Duration::from_secs(60))
        .code(5)
        .has("::warning::Could not confirm dist/a_1.0_amd64.deb");
    let outputs = std::fs::read_to_string(&output).unwrap();
    let value = |name: &str| {
        let start = outputs
            .find(&format!("{name}<<"))
            .unwrap_or_else(|| panic!("{name}: {outputs}"));
        outputs[start..].lines().nth(1).unwrap().to_owned()
    };
    assert_eq!(value("unverified-count"), "1");
    assert_eq!(value("failed-count"), "0");
    assert_eq!(value("published-count"), "0");
}

#[test]
fn a_copy_whose_answer_was_lost_past_settle_timeout_is_unverified_not_failed() {
    let emu = lagging(Duration::from_secs(60));
    lose_first_copy_answer(&emu);
    let job = job(&emu, "skip-identical")
        .env("PACKAGE_PUBLISHER_SETTLE_TIMEOUT", "2")
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production");
    job.run_within(Duration::from_secs(60))
        .code(5)
        .has("1 promotion(s) unverified");
    let report = job.json("r.json");
    assert_eq!(report["packages"][0]["status"], "published");
    let promotion = &report["packages"][0]["promotions"][0];
    assert_eq!(promotion["status"], "unverified", "{promotion}");
    assert!(
        promotion["error"]
            .as_str()
            .unwrap()
            .contains("within 2 s (settle-timeout)"),
        "{promotion}"
    );
    assert_eq!(emu.packages("production").len(), 1);
}

#[test]
fn a_cancel_while_waiting_for_a_lagging_listing_is_unverified_not_unpublished() {
    let emu = lagging(Duration::from_secs(60));
    lose_first_answer(&emu, "debs");
    let job = job(&emu, "skip-identical");
    let child = job.spawn();
    // The duplicate refusal of the second send: the run is now waiting for the listing.
    let started = std::time::Instant::now();
    while !emu.requests().iter().any(|r| r.method == "POST" && r.status == 409) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never refused as a duplicate"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "TERM");
    let out = finish_within(child, Duration::from_secs(12));
    out.code(5).lacks("not published");
    let entry = &job.json("r.json")["packages"][0];
    assert_eq!(entry["status"], "unverified", "{entry}");
    assert!(entry["error"].as_str().unwrap().contains("may have landed"), "{entry}");
    exactly_one_package(&emu, "skip-identical");
}

#[test]
fn a_promote_only_step_looks_up_an_unverified_upload_instead_of_leaving_it_out() {
    let emu = lagging(Duration::from_secs(60));
    let publish = unverified_on_buildkite(&emu).deb("dist/b_1.0_amd64.deb", "b");
    publish.run_within(Duration::from_secs(60)).code(5);
    let promote = Job::plugin(
        &emu,
        r#"{"promote-from":"debs","promote-to":["production"],"api-url":"EMU","report-file":"r.json"}"#,
    )
    .env("BUILDKITE_API_TOKEN", crate::support::TOKEN)
    .env("SHIM_STATE", &publish.agent_dir().display().to_string());
    promote.run_within(Duration::from_secs(60)).code(1);
    let report = promote.json("r.json");
    // Whichever upload arrived first lost its answer; the other one was confirmed.
    let entries = report["packages"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{report}");
    let lost = entries
        .iter()
        .find(|e| e["status"] == "failed")
        .expect("the unconfirmed one");
    assert!(
        lost["error"]
            .as_str()
            .unwrap()
            .contains("could not confirm this upload"),
        "{lost}"
    );
    // As with any package not found, nothing is promoted until all are.
    let confirmed = entries
        .iter()
        .find(|e| e["status"] == "identical")
        .expect("the confirmed one");
    assert_eq!(confirmed["promotions"][0]["status"], "skipped", "{confirmed}");
    assert!(emu.packages("production").is_empty());

    // Once the index has caught up, the same step finds the unconfirmed upload by the
    // name, version and sha256 the publishing step recorded, and promotes both.
    for pkg in emu.packages("debs") {
        emu.list_now(&pkg.id);
    }
    promote.run_within(Duration::from_secs(60)).code(0).has("lists it now");
    assert_eq!(emu.packages("production").len(), 2);
    let report = promote.json("r.json");
    for entry in report["packages"].as_array().unwrap() {
        assert_eq!(entry["promotions"][0]["status"], "promoted", "{entry}");
    }
}
