//! The publish engine at its edges: scheduling without head-of-line blocking, slots
//! that come back after a rate limit, a lost answer under every `if-exists` policy
//! with a lagging index, normalised Python names, `replace` that never loses both
//! versions, cancellation, and every wait and read bounded.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{
    EmuConfig, Fault, Handle, Job, TOKEN, emulator, emulator_with, finish_within, fixtures, lose_first_answer,
    lose_first_copy_answer, publish_fault, published_earlier, signal,
};

const LIMIT: Duration = Duration::from_secs(90);

fn posts(emu: &Handle) -> Vec<crate::support::server::Record> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/packages"))
        .collect()
}

fn job_with_files(emu: &Handle, n: usize) -> Job {
    let mut job = Job::local(emu, "debs", "dist/*.deb");
    for i in 0..n {
        job = job.deb(&format!("dist/p{i:02}_1.0_amd64.deb"), &format!("content {i}"));
    }
    job
}

#[test]
fn a_slow_first_file_does_not_hold_up_the_files_after_it() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(
        "debs",
        Fault {
            delay_ms: 3000,
            times: 1,
            ..Fault::default()
        },
    ));
    let job = job_with_files(&emu, 8)
        .env("PACKAGE_PUBLISHER_CONCURRENCY", "2")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json");
    job.run_within(LIMIT).code(0);
    // Requests are recorded as they finish: the slow one finishes last although it
    // started first, because the other slot kept working through the other 7 files.
    let done = posts(&emu);
    assert_eq!(done.len(), 8);
    let slow = done.iter().min_by_key(|r| r.arrival).unwrap();
    assert_eq!(done.last().unwrap().arrival, slow.arrival, "{done:#?}");
    // The report keeps input order anyway.
    let report = job.json("r.json");
    let paths: Vec<_> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
}

#[test]
fn a_file_waiting_out_a_backoff_does_not_hold_its_slot() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(
        "debs",
        Fault {
            status: Some(503),
            headers: BTreeMap::from([("Retry-After".to_owned(), "2".to_owned())]),
            times: 1,
            ..Fault::default()
        },
    ));
    job_with_files(&emu, 4)
        .env("PACKAGE_PUBLISHER_CONCURRENCY", "1")
        .run_within(LIMIT)
        .code(0)
        .has("retrying in 2");
    // With one slot, the three other files went while the first waited.
    let done = posts(&emu);
    assert_eq!(done.len(), 5);
    assert_eq!(done[0].status, 503);
    assert_eq!(
        done.last().unwrap().file_name.as_deref(),
        Some("p00_1.0_amd64.deb"),
        "{done:#?}"
    );
}

#[test]
fn slots_given_up_after_a_rate_limit_come_back_once_it_calms() {
    let emu = emulator_with(EmuConfig {
        latency_ms: 250,
        ..EmuConfig::default()
    });
    emu.fault(publish_fault(
        "debs",
        Fault {
            status: Some(429),
            headers: BTreeMap::from([("RateLimit-Reset".to_owned(), "1".to_owned())]),
            times: 1,
            ..Fault::default()
        },
    ));
    // About 6 s of uploads: the slot comes back about 2 s in (1 s reset + 1 s settle).
    job_with_files(&emu, 96)
        .env("PACKAGE_PUBLISHER_CONCURRENCY", "4")
        .run_within(LIMIT)
        .code(0)
        .has("lowering uploads in flight to 3")
        .has("raising uploads in flight to 4");
    let mut by_arrival = posts(&emu);
    by_arrival.sort_by_key(|r| r.arrival);
    let late = &by_arrival[by_arrival.len() - 24..];
    assert_eq!(late.iter().map(|r| r.in_flight).max(), Some(4), "{late:#?}");
}

/// An upload that lands but whose answer is lost, while the listing lags 2 s behind.
fn lost_answer(policy: &str) -> (Handle, Job) {
    let emu = emulator_with(EmuConfig {
        list_lag_ms: 2000,
        ..EmuConfig::default()
    });
    lose_first_answer(&emu, "debs");
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_IF_EXISTS", policy)
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    (emu, job)
}

#[test]
fn a_lost_answer_is_our_own_upload_under_every_policy() {
    for policy in ["fail", "skip", "replace", "skip-identical"] {
        let (emu, job) = lost_answer(policy);
        job.run_within(LIMIT).code(0).has("its listing may lag");
        let entry = &job.json("r.json")["packages"][0];
        assert_eq!(entry["status"], "published", "{policy}: {entry}");
        assert!(entry.get("deleted_id").is_none(), "{policy}: {entry}");
        assert_eq!(emu.packages("debs").len(), 1, "{policy}");
        assert!(
            !emu.requests().iter().any(|r| r.method == "DELETE"),
            "{policy}: our own upload was deleted"
        );
    }
}

#[test]
fn python_names_are_found_in_their_normal_form() {
    let emu = emulator(&[("pypi", "python")]);
    let job = Job::local(&emu, "pypi", "dist/*")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .wheel("dist", "My_Pkg", "1.0", "wheel")
        .wheel("dist", "Django", "4.2", "django");
    job.run().code(0);
    let mut names: Vec<String> = emu.packages("pypi").into_iter().map(|p| p.name).collect();
    names.sort();
    assert_eq!(names, ["django", "my-pkg"]);
    // A re-run finds both by their normal form.
    job.run().code(0);
    let report = job.json("r.json");
    for p in report["packages"].as_array().unwrap() {
        assert_eq!(p["status"], "identical", "{p}");
    }
    // And a lost answer on such a file is recognised too.
    lose_first_answer(&emu, "pypi");
    let job = Job::local(&emu, "pypi", "dist/*")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .wheel("dist", "My_Pkg", "2.0", "wheel 2");
    job.run().code(0).has("had landed");
    assert_eq!(job.json("r.json")["packages"][0]["status"], "published");
    assert_eq!(emu.packages("pypi").len(), 3);
}

/// A registry holding `a 1.0` with other content, and a job replacing it.
fn replace_job(emu: &Handle, method: &str) -> Job {
    Job::local(emu, "debs", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", "old")
        .run()
        .code(0);
    Job::local(emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_IF_EXISTS", "replace")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", method)
        .env("PACKAGE_PUBLISHER_RETRIES", "1")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "new content")
}

#[test]
fn replace_leaves_the_old_version_when_the_new_one_cannot_be_uploaded() {
    let emu = emulator(&[]);
    let job = replace_job(&emu, "auto");
    let old = emu.packages("debs");
    // Storage refuses everything, and so does any further direct publish.
    emu.fault(Fault {
        path_contains: Some("/_storage/".into()),
        status: Some(500),
        ..Fault::default()
    });
    emu.fault(publish_fault(
        "debs",
        Fault {
            status: Some(500),
            skip: 1,
            ..Fault::default()
        },
    ));
    job.run_within(LIMIT).code(1);
    assert_eq!(emu.packages("debs"), old, "the old version must still be there");
    let entry = &job.json("r.json")["packages"][0];
    assert_eq!(entry["status"], "failed");
    assert!(entry.get("deleted_id").is_none(), "{entry}");
}

#[test]
fn a_deletion_for_replacement_is_reported_even_when_the_new_upload_fails() {
    let emu = emulator(&[]);
    let job = replace_job(&emu, "direct");
    let old_id = emu.packages("debs")[0].id.clone();
    emu.fault(publish_fault(
        "debs",
        Fault {
            status: Some(500),
            skip: 1,
            ..Fault::default()
        },
    ));
    let out = job.run_within(LIMIT);
    out.code(1).has(&format!(
        "deleted the existing a 1.0 (amd64) ({old_id}) for replacement"
    ));
    let entry = &job.json("r.json")["packages"][0];
    assert_eq!(entry["status"], "failed");
    assert_eq!(entry["deleted_id"], old_id.as_str());
    assert!(
        entry["error"].as_str().unwrap().contains("deleted the existing a 1.0"),
        "{entry}"
    );
}

#[test]
fn replace_stages_the_new_file_before_deleting_the_old_one() {
    let emu = emulator(&[]);
    let job = replace_job(&emu, "auto");
    job.run_within(LIMIT).code(0);
    let entry = &job.json("r.json")["packages"][0];
    assert_eq!(entry["status"], "replaced");
    let pkgs = emu.packages("debs");
    assert_eq!(pkgs.len(), 1);
    assert!(entry["deleted_id"].as_str().is_some(), "{entry}");
    let order: Vec<String> = emu
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path.rsplit('/').next().unwrap()))
        .collect();
    let storage = order.iter().rposition(|r| r == "POST bucket").unwrap();
    let delete = order.iter().position(|r| r.starts_with("DELETE")).unwrap();
    assert!(storage < delete, "{order:?}");
}

#[test]
fn sigterm_reports_every_files_true_state() {
    let emu = emulator(&[]);
    // The second upload lands at once but its answer takes 60 s; the third never starts.
    emu.fault(publish_fault(
        "debs",
        Fault {
            think_ms: 60_000,
            skip: 1,
            times: 1,
            ..Fault::default()
        },
    ));
    let job = Job::plugin(
        &emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU","concurrency":1,"report-file":"r.json"}"#,
    )
    .env("BUILDKITE_API_TOKEN", TOKEN)
    .deb("dist/a_1.0_amd64.deb", "a")
    .deb("dist/b_1.0_amd64.deb", "b")
    .deb("dist/c_1.0_amd64.deb", "c");
    let out = signal_when(&job, "TERM", || emu.packages("debs").len() >= 2);
    out.code(1).has("SIGTERM received");
    let report = job.json("r.json");
    let status: Vec<&str> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["published", "published", "failed"], "{report}");
    assert!(
        report["packages"][2]["error"]
            .as_str()
            .unwrap()
            .contains("cancelled before it was uploaded")
    );
    // The annotation and the meta-data a promote step reads were written too.
    assert_eq!(job.agent_calls_of(&["annotate"]).len(), 1);
    let stored = job.stored_meta_data("package-publisher.acme.debs.job-1").unwrap();
    assert!(stored.contains("b_1.0_amd64.deb"), "{stored}");
}

/// The whole file was sent and no answer came: the registry may still commit it, so
/// the file is neither published nor failed.
#[test]
fn sigint_during_an_upload_that_never_answers_reports_it_unverified() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(
        "debs",
        Fault {
            delay_ms: 60_000,
            ..Fault::default()
        },
    ));
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    let out = signal_when(&job, "INT", || emu.state.lock().unwrap().publishes_in_flight > 0);
    out.code(5).has("SIGINT received");
    let entry = &job.json("r.json")["packages"][0];
    assert_eq!(entry["status"], "unverified", "{entry}");
    let note = entry["error"].as_str().unwrap();
    assert!(
        note.contains("may have landed") && !note.contains("not published"),
        "{note}"
    );
}

#[test]
fn a_silent_or_trickling_lookup_is_abandoned_after_the_stall_timeout() {
    for fault in [
        Fault {
            delay_ms: 600_000,
            ..Fault::default()
        },
        Fault {
            trickle_ms: 1000,
            ..Fault::default()
        },
    ] {
        let emu = emulator(&[]);
        lose_first_answer(&emu, "debs");
        emu.fault(Fault {
            method: Some("GET".into()),
            path_suffix: Some("/packages".into()),
            ..fault
        });
        Job::local(&emu, "debs", "dist/*.deb")
            .env("PACKAGE_PUBLISHER_STALL_TIMEOUT", "2")
            .env("PACKAGE_PUBLISHER_RETRIES", "1")
            .deb("dist/a_1.0_amd64.deb", "a")
            .run_within(LIMIT)
            // The lost answer may have been a landed upload: unverified, not failed.
            .code(5)
            .has("could not be checked")
            .has("timed out");
    }
}

#[test]
fn an_endless_error_body_is_read_only_up_to_a_cap() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(
        "debs",
        Fault {
            status: Some(500),
            body_bytes: u64::MAX,
            ..Fault::default()
        },
    ));
    Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_RETRIES", "1")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run_within(LIMIT)
        .code(1)
        .has("answered 500: xxxx");
}

#[test]
fn endless_pagination_stops_at_the_page_cap() {
    let emu = emulator_with(EmuConfig {
        endless_pages: true,
        ..EmuConfig::default()
    });
    Job::new()
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .args(&["list", "--org", "acme", "--registry", "debs", "--api-url", &emu.url])
        .run_within(LIMIT)
        .code(1)
        .has("past 1000 pages");
}

#[test]
fn a_hung_agent_token_request_times_out() {
    let emu = emulator(&[]);
    Job::plugin(
        &emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU","stall-timeout":2,"retries":1,"report-file":"r.json"}"#,
    )
    .env("SHIM_HANG", "oidc request-token")
    .deb("dist/a_1.0_amd64.deb", "a")
    .run_within(LIMIT)
    .code(4)
    .has("did not finish within 2 s");
    assert!(emu.packages("debs").is_empty());
}

/// A cancel while `buildkite-agent oidc request-token` hangs (the token being renewed
/// before an upload): the run ends within the agent's grace, the hung child does not
/// outlive it, and the files that never started are "cancelled before it was
/// uploaded", not "while uploading".
#[test]
fn a_cancel_during_a_hung_token_request_leaves_no_child_and_says_not_started() {
    let emu = emulator(&[]);
    let job = Job::plugin(
        &emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU","report-file":"r.json"}"#,
    )
    .unset("BUILDKITE_API_TOKEN")
    // Each token is stale at once (the tool renews a minute before expiry), and
    // every request after the first hangs.
    .env("SHIM_TOKEN_LIFETIME", "60")
    .env("SHIM_HANG_LATER", "oidc request-token")
    .deb("dist/a_1.0_amd64.deb", "a")
    .deb("dist/b_1.0_amd64.deb", "b");
    let child = job.spawn();
    let hung_pid = || {
        std::fs::read_dir(job.agent_dir())
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("hung."))
            .and_then(|e| std::fs::read_to_string(e.path()).ok())
            .and_then(|pid| pid.trim().parse::<u32>().ok())
    };
    let started = std::time::Instant::now();
    let pid = loop {
        if let Some(pid) = hung_pid() {
            break pid;
        }
        assert!(started.elapsed() < LIMIT, "no token request hung");
        std::thread::sleep(Duration::from_millis(50));
    };
    signal(&child, "TERM");
    let out = finish_within(child, Duration::from_secs(12));
    out.code(1).has("SIGTERM received").lacks("while uploading");
    // The hung child is gone (or a zombie waiting to be reaped): nothing runs on.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let running = !state.is_empty() && !state.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z');
    assert!(!running, "the token request outlived the tool: {state}");
    let report = job.json("r.json");
    for entry in report["packages"].as_array().unwrap() {
        assert_eq!(entry["status"], "failed", "{entry}");
        assert_eq!(entry["error"], "cancelled before it was uploaded", "{entry}");
    }
    assert!(emu.packages("debs").is_empty());
}

/// Two files uploaded one at a time; while the first is on the wire, `swap` replaces
/// the second one on disk. Returns the run's output.
fn swap_the_second_file(emu: &Handle, swap: impl Fn(&std::path::Path)) -> crate::support::Output {
    emu.fault(publish_fault(
        "debs",
        Fault {
            delay_ms: 1500,
            times: 1,
            ..Fault::default()
        },
    ));
    let job = job_with_files(emu, 2).env("PACKAGE_PUBLISHER_CONCURRENCY", "1");
    let child = job.spawn();
    let started = std::time::Instant::now();
    while emu.state.lock().unwrap().publishes_in_flight == 0 {
        assert!(started.elapsed() < LIMIT, "the upload never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = job.work().join("dist/p01_1.0_amd64.deb");
    std::fs::remove_file(&second).unwrap();
    swap(&second);
    finish_within(child, Duration::from_secs(30))
}

#[test]
fn a_file_that_cannot_be_read_is_not_retried() {
    let emu = emulator(&[]);
    // Replaced by a directory after planning.
    let out = swap_the_second_file(&emu, |path| std::fs::create_dir(path).unwrap());
    out.code(1).has("cannot read dist/p01_1.0_amd64.deb");
    assert!(!out.all().contains("retrying"), "{}", out.all());
    assert_eq!(posts(&emu).len(), 1);
}

#[test]
fn one_lookup_before_a_large_upload_and_never_a_whole_registry_listing() {
    let emu = emulator(&[]);
    // Another architecture of the same release is already there.
    let big = "x".repeat(2 * 1024 * 1024);
    published_earlier(&emu, "debs", "dist/a_1.0_arm64.deb", &big[1..]);
    let before = emu.requests().len();
    published_earlier(&emu, "debs", "dist/a_1.0_amd64.deb", &big);
    let lists = emu.requests()[before..]
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/packages"))
        .count();
    assert_eq!(lists, 1);
    assert_eq!(emu.packages("debs").len(), 2);

    // A file whose name predicts nothing cannot be looked up by name: after a lost
    // answer it is not looked for in the whole registry.
    lose_first_answer(&emu, "debs");
    Job::local(&emu, "debs", "dist/*")
        .env("PACKAGE_PUBLISHER_RETRIES", "1")
        .file("dist/notes.bin", "n")
        .run_within(LIMIT)
        .code(1);
    assert!(
        !emu.requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/packages") && !r.query.contains("name=")),
        "a whole-registry listing was made"
    );
}

/// Starts `job`, waits until `ready` says the run reached the slow step, sends
/// `signal_name`, and returns the output (the run must end within Buildkite's grace).
fn signal_when(job: &Job, signal_name: &str, ready: impl Fn() -> bool) -> crate::support::Output {
    let child = job.spawn();
    let started = std::time::Instant::now();
    while !ready() {
        assert!(started.elapsed() < LIMIT, "the run never reached the slow step");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&child, signal_name);
    finish_within(child, Duration::from_secs(12))
}

#[test]
fn sigterm_during_a_slow_lookup_or_copy_still_ends_within_the_grace() {
    // A lost answer, then a registry that takes a minute to list.
    let emu = emulator(&[]);
    lose_first_answer(&emu, "debs");
    emu.fault(Fault {
        method: Some("GET".into()),
        path_suffix: Some("/packages".into()),
        delay_ms: 60_000,
        ..Fault::default()
    });
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    let lookups = || emu.requests().iter().any(|r| r.method == "POST") && emu.state.lock().unwrap().arrivals >= 2;
    // The lost answer may have been a landed upload: never "not published".
    signal_when(&job, "TERM", lookups).code(5);
    let entry = &job.json("r.json")["packages"][0];
    assert_eq!(entry["status"], "unverified", "{entry}");
    assert!(entry["error"].as_str().unwrap().contains("may have landed"), "{entry}");

    // A copy that takes a minute.
    let emu = emulator(&[("production", "debian")]);
    emu.fault(Fault {
        path_suffix: Some("/copy".into()),
        delay_ms: 60_000,
        ..Fault::default()
    });
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    let copying = || {
        let s = emu.state.lock().unwrap();
        s.arrivals > 0 && !s.registries["debs"].packages.is_empty() && s.requests.iter().any(|r| r.method == "GET")
    };
    signal_when(&job, "TERM", copying).code(5);
    let report = job.json("r.json");
    assert_eq!(report["packages"][0]["status"], "published");
    let promotion = &report["packages"][0]["promotions"][0];
    assert_eq!(promotion["status"], "unverified", "{promotion}");
    assert!(
        promotion["error"].as_str().unwrap().contains("may have been made"),
        "{promotion}"
    );
}

#[test]
fn a_release_with_many_files_per_name_and_version_is_recognised_on_a_rerun() {
    // 60 wheels of one project version (platform tags): every re-run lookup sees all 60.
    let emu = emulator(&[("pypi", "python")]);
    let mut job = Job::local(&emu, "pypi", "dist/*.whl").env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json");
    for i in 0..60 {
        let (name, bytes) = fixtures::wheel_tagged("demo", "1.0", &format!("cp3{i:02}"));
        job = job.bytes(&format!("dist/{name}"), &bytes);
    }
    job.run_within(LIMIT).code(0);
    job.run_within(LIMIT).code(0);
    let report = job.json("r.json");
    assert!(
        report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"] == "identical"),
        "{report}"
    );
    // Each package's digest was fetched once per run, not once per file.
    let gets = emu
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/registries/pypi/packages/"))
        .count();
    assert!(gets <= 60, "{gets} package GETs");
}

#[test]
fn replace_lets_a_lagging_listing_settle_before_deleting_anything() {
    let emu = emulator_with(EmuConfig {
        list_lag_ms: 5000,
        ..EmuConfig::default()
    });
    // Another architecture, long listed (no waiting: the emulator lists it now); then
    // this file's earlier build, not listed for 5 s.
    let arm64 = published_earlier(&emu, "debs", "dist/a_1.0_arm64.deb", "arm");
    emu.list_now(&arm64.id);
    let old_amd64 = published_earlier(&emu, "debs", "dist/a_1.0_amd64.deb", "old amd64");
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_IF_EXISTS", "replace")
        .deb("dist/a_1.0_amd64.deb", "new amd64");
    // The listing shows only the other architecture at first, which is not this
    // file's: nothing is deleted until the file's own earlier build is listed, and
    // then only that one, never the other architecture. The run must have met the lag
    // (looked again), or this test would prove nothing.
    job.run_within(LIMIT)
        .code(0)
        .has("replaced")
        .has("its listing may lag behind its uploads; looking again");
    let files: Vec<String> = emu.packages("debs").into_iter().map(|p| p.file_name).collect();
    assert!(files.contains(&"a_1.0_arm64.deb".to_owned()), "{files:?}");
    let deletes: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(deletes[0].ends_with(&old_amd64.id), "{deletes:?}");
}

#[test]
fn sigterm_before_publishing_ends_at_once_with_a_report() {
    let emu = emulator(&[("production", "debian")]);
    slow_registry_check(&emu);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    let out = signal_when(&job, "TERM", || emu.state.lock().unwrap().arrivals > 0);
    out.code(1).has("cancelled during the registry check");
    assert!(job.json("r.json")["error"].as_str().unwrap().contains("cancelled"));
    assert!(emu.packages("debs").is_empty());
}

/// The registry check before publishing takes a minute.
fn slow_registry_check(emu: &Handle) {
    emu.fault(Fault {
        method: Some("GET".into()),
        path_suffix: Some("/registries/debs".into()),
        delay_ms: 60_000,
        ..Fault::default()
    });
}

/// The agent's cancel signal is configurable: SIGHUP and SIGQUIT wind the run down
/// like SIGTERM, with a report, instead of killing it.
#[test]
fn sighup_and_sigquit_cancel_like_sigterm() {
    for name in ["HUP", "QUIT"] {
        let emu = emulator(&[]);
        slow_registry_check(&emu);
        let job = Job::local(&emu, "debs", "dist/*.deb")
            .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
            .deb("dist/a_1.0_amd64.deb", "a");
        let out = signal_when(&job, name, || emu.state.lock().unwrap().arrivals > 0);
        out.code(1).has(&format!("SIG{name} received"));
        assert!(
            job.json("r.json")["error"].as_str().unwrap().contains("cancelled"),
            "{name}"
        );
    }
}

/// A cancelled `replace` never deletes: a large file is known to replace the old
/// package before it is sent, the new file is in storage when the signal comes, and
/// the deletion that would come next is not sent, so the old package is still there.
#[test]
fn a_cancelled_replace_deletes_nothing() {
    let emu = emulator(&[]);
    let big = |tag: &str| {
        (0..200_000u32)
            .map(|i| format!("{tag}{i:x}"))
            .collect::<Vec<_>>()
            .concat()
    };
    Job::local(&emu, "debs", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", &big("old"))
        .run()
        .code(0);
    let old = emu.packages("debs");
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_IF_EXISTS", "replace")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", &big("new"));
    emu.fault(Fault {
        path_contains: Some("/_storage/".into()),
        delay_ms: 2000,
        times: 1,
        ..Fault::default()
    });
    // The upload slot was handed out: the storage leg is on its way.
    let storing = || emu.requests().iter().any(|r| r.path.ends_with("/packages/upload"));
    let out = signal_when(&job, "TERM", storing);
    out.code(1);
    assert!(
        !emu.requests().iter().any(|r| r.method == "DELETE"),
        "a deletion was sent after the signal"
    );
    assert_eq!(emu.packages("debs"), old, "the old package must still be there");
    let entry = &job.json("r.json")["packages"][0];
    assert_eq!(entry["status"], "failed", "{entry}");
    assert!(entry.get("deleted_id").is_none(), "{entry}");
}

#[test]
fn a_file_swapped_for_a_fifo_after_planning_is_refused_without_hanging() {
    let emu = emulator(&[]);
    let out = swap_the_second_file(&emu, |path| {
        assert!(
            std::process::Command::new("mkfifo")
                .arg(path)
                .status()
                .unwrap()
                .success()
        );
    });
    out.code(1).has("cannot read dist/p01_1.0_amd64.deb");
}

#[test]
fn a_copy_whose_answer_was_lost_is_promoted_despite_a_lagging_listing() {
    let emu = emulator_with(EmuConfig {
        list_lag_ms: 2000,
        registries: [
            ("debs".to_owned(), "debian".to_owned()),
            ("production".to_owned(), "debian".to_owned()),
        ]
        .into(),
        ..EmuConfig::default()
    });
    lose_first_copy_answer(&emu);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    job.run_within(LIMIT).code(0);
    let promotion = &job.json("r.json")["packages"][0]["promotions"][0];
    assert!(
        promotion["status"] == "promoted" || promotion["status"] == "identical",
        "{promotion}"
    );
    assert_eq!(emu.packages("production").len(), 1);
}

/// After a cancellation every agent call must fit in what is left of the agent's
/// grace: the meta-data (which a later promote step needs) is written first, and a hung
/// `annotate` costs at most 2 s instead of the stall timeout.
#[test]
fn after_a_cancel_meta_data_comes_first_and_a_hung_annotate_is_cut_short() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(
        "debs",
        Fault {
            delay_ms: 60_000,
            times: 1,
            ..Fault::default()
        },
    ));
    let job = Job::plugin(
        &emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU"}"#,
    )
    .env("BUILDKITE_API_TOKEN", TOKEN)
    .env("SHIM_HANG", "annotate --style")
    .deb("dist/a_1.0_amd64.deb", "a")
    .deb("dist/b_1.0_amd64.deb", "b");
    // It must end within 12 s of the signal (with the stall timeout, 60 s, it would
    // not).
    let out = signal_when(&job, "TERM", || emu.state.lock().unwrap().publishes_in_flight > 0);
    // `a` was sent whole and never answered (unverified, exit 5).
    out.code(5).has("did not finish within 2 s");
    let calls: Vec<String> = job.agent_calls().into_iter().map(|(args, _)| args.join(" ")).collect();
    let meta = calls
        .iter()
        .position(|c| c.starts_with("meta-data set"))
        .expect("meta-data was written");
    let annotate = calls
        .iter()
        .position(|c| c.starts_with("annotate"))
        .expect("an annotation was tried");
    assert!(meta < annotate, "{calls:?}");
}
