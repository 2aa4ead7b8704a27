//! Transient failures are retried, rate limits honoured, and no retry ever creates a
//! duplicate: after an ambiguous failure the registry is checked first.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{EmuConfig, Fault, Job, emulator, emulator_with, fixtures, published_earlier};

fn publish_fault(f: Fault) -> Fault {
    Fault {
        method: Some("POST".into()),
        path_suffix: Some("/registries/debs/packages".into()),
        ..f
    }
}

#[test]
fn server_errors_are_retried_until_success() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(Fault {
        status: Some(503),
        times: 2,
        ..Fault::default()
    }));
    Job::local(&emu, "debs", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(0)
        .has("503")
        .has("retrying");
    assert_eq!(emu.packages("debs").len(), 1);
    let posts = emu.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 3);
}

#[test]
fn rate_limit_is_honoured_and_retried() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(Fault {
        status: Some(429),
        headers: BTreeMap::from([
            ("RateLimit-Reset".to_owned(), "1".to_owned()),
            ("Retry-After".to_owned(), "1".to_owned()),
        ]),
        body: Some(r#"{"message":"Too many requests"}"#.into()),
        times: 1,
        ..Fault::default()
    }));
    Job::local(&emu, "debs", "dist/*.deb")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(0)
        .has("429")
        .has("Too many requests");
    assert_eq!(emu.packages("debs").len(), 1);
    // The retry waited at least the second the server asked for.
    let posts: Vec<_> = emu.requests().into_iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 2);
    assert!(
        posts[1].arrived_ms >= posts[0].arrived_ms + 1000,
        "retried after {} ms",
        posts[1].arrived_ms - posts[0].arrived_ms
    );
}

#[test]
fn retries_are_bounded_and_the_failure_is_reported() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(Fault {
        status: Some(502),
        body: Some(r#"{"message":"upstream sad"}"#.into()),
        ..Fault::default()
    }));
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_RETRIES", "2")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    job.run().code(1).has("502").has("upstream sad");
    let posts = emu.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 3, "one attempt plus two retries");
    assert_eq!(job.json("r.json")["packages"][0]["status"], "failed");
}

#[test]
fn dropped_connection_mid_body_is_retried() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(Fault {
        drop: true,
        times: 1,
        ..Fault::default()
    }));
    published_earlier(&emu, "debs", "dist/a_1.0_amd64.deb", "a");
    assert_eq!(emu.packages("debs").len(), 1);
}

#[test]
fn a_publish_that_landed_before_the_connection_dropped_is_not_sent_again() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(Fault {
        drop: true,
        after_commit: true,
        times: 1,
        ..Fault::default()
    }));
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    job.run().code(0).has("had landed");
    assert_eq!(emu.packages("debs").len(), 1);
    let posts = emu.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 1, "the file was sent exactly once");
    assert_eq!(job.json("r.json")["packages"][0]["status"], "published");
}

#[test]
fn a_stalled_upload_is_aborted_and_retried() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(Fault {
        delay_ms: 4000,
        times: 1,
        ..Fault::default()
    }));
    Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_STALL_TIMEOUT", "1")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(0)
        .has("stalled");
    assert_eq!(emu.packages("debs").len(), 1);
}

/// A server that stops reading a 64 MiB upload: the stall names what was handed to
/// the connection (a few MiB of socket buffers at most, never the file read from
/// disk), and the file's line gives no transfer rate for bytes that never arrived.
#[test]
fn a_stalled_upload_says_how_much_was_handed_over_and_claims_no_rate() {
    let emu = emulator(&[("files", "files")]);
    emu.fault(Fault {
        method: Some("POST".into()),
        path_suffix: Some("/registries/files/packages".into()),
        delay_ms: 600_000,
        ..Fault::default()
    });
    // Incompressible, so no buffer on the way holds much of it.
    let mut x: u32 = 1;
    let data: Vec<u8> = (0..64 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    let out = Job::local(&emu, "files", "dist/*")
        .env("PACKAGE_PUBLISHER_STALL_TIMEOUT", "3")
        .env("PACKAGE_PUBLISHER_RETRIES", "0")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "direct")
        .bytes("dist/big-1.0.0.bin", &data)
        .run_within(Duration::from_secs(60));
    out.code(1).has("FAILED: dist/big-1.0.0.bin (64.0 MiB, ");
    let all = out.all();
    let handed: u64 = all
        .split("after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in the stall: {all}"));
    assert!(
        handed < 16 << 20,
        "{handed} bytes claimed for a server that read none: {all}"
    );
    for line in all.lines().filter(|l| l.contains("FAILED")) {
        assert!(!line.contains("/s"), "a rate for bytes that never arrived: {line}");
    }
}

#[test]
fn too_large_for_direct_upload_falls_back_to_presigned() {
    let emu = emulator_with(EmuConfig {
        max_direct_bytes: 1000,
        ..EmuConfig::default()
    });
    let big = "x".repeat(5000);
    Job::local(&emu, "debs", "dist/*.deb")
        .deb("dist/big_1.0_amd64.deb", &big)
        .run()
        .code(0)
        .has("switching to the presigned upload");
    let stored = emu.packages("debs");
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].size,
        fixtures::deb_for("big_1.0_amd64.deb", &big).len() as u64
    );
}

#[test]
fn presigned_upload_never_sends_the_token_to_storage_and_sends_an_exact_length() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .deb("dist/a b_1.0_amd64.deb", "content");
    job.run().code(0);
    let reqs = emu.requests();
    let storage: Vec<_> = reqs.iter().filter(|r| r.path.starts_with("/_storage")).collect();
    assert_eq!(storage.len(), 1);
    assert_eq!(storage[0].auth, "none");
    assert!(storage[0].content_length.is_some());
    assert!(reqs.iter().any(|r| r.path.ends_with("/packages/upload")));
    let stored = emu.packages("debs");
    assert_eq!(stored[0].file_name, "a b_1.0_amd64.deb");
}

#[test]
fn storage_policy_rejection_shows_the_storage_error() {
    let emu = emulator(&[]);
    emu.fault(Fault {
        path_contains: Some("/_storage".into()),
        status: Some(403),
        body: Some("<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy</Message></Error>".into()),
        ..Fault::default()
    });
    Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(1)
        .has("403")
        .has("AccessDenied")
        .has("Invalid according to Policy");
}

#[test]
fn upload_slot_without_a_key_is_refused() {
    let emu = emulator(&[]);
    emu.fault(Fault {
        path_contains: Some("/packages/upload".into()),
        status: Some(200),
        body: Some(
            r#"{"form":{"url":"http://127.0.0.1:1/x","method":"POST","file_input":"file","data":{"acl":"private"}}}"#
                .into(),
        ),
        ..Fault::default()
    });
    Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(1)
        .has("no `key` field");
}

#[test]
fn finalize_conflict_after_an_earlier_attempt_landed_counts_as_published() {
    let emu = emulator(&[]);
    // The first finalize lands but its answer is lost; the retry's finalize gets 409.
    emu.fault(Fault {
        method: Some("POST".into()),
        path_suffix: Some("/registries/debs/packages".into()),
        status: Some(504),
        after_commit: true,
        times: 1,
        ..Fault::default()
    });
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    job.run().code(0);
    assert_eq!(emu.packages("debs").len(), 1);
    assert_eq!(job.json("r.json")["packages"][0]["status"], "published");
}

fn chaos_job(emu: &crate::support::Handle, files: usize) -> Job {
    let mut job = Job::local(emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_CONCURRENCY", "8")
        .env("PACKAGE_PUBLISHER_RETRIES", "10")
        .env("PACKAGE_PUBLISHER_STALL_TIMEOUT", "1")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json");
    for i in 0..files {
        job = job.deb(
            &format!("dist/chaos{i:03}_1.{i}.0_amd64.deb"),
            &format!("chaos package {i}"),
        );
    }
    job
}

fn chaos() -> EmuConfig {
    EmuConfig {
        chaos: Some(crate::support::Chaos {
            seed: 20_261_127,
            p503: 8,
            p429: 4,
            pdrop: 5,
            pcommit_drop: 5,
            pstall: 2,
            stall_ms: 2500,
        }),
        ..EmuConfig::default()
    }
}

/// 200 files against seeded 503s, 429s with reset headers, connections dropped
/// mid-body and after the package landed, and stalls: every file ends published exactly
/// once and the report matches the registry.
#[test]
fn chaos_every_file_is_published_exactly_once() {
    let emu = emulator_with(chaos());
    let job = chaos_job(&emu, 200);
    job.run().code(0);
    let stored = emu.packages("debs");
    assert_eq!(stored.len(), 200);
    let report = job.json("r.json");
    let entries = report["packages"].as_array().unwrap();
    assert_eq!(entries.len(), 200);
    for e in entries {
        assert_eq!(e["status"], "published", "{e}");
        let s = stored
            .iter()
            .find(|s| Some(s.id.as_str()) == e["id"].as_str())
            .expect("reported id is in the registry");
        assert_eq!(e["sha256"], s.sha256);
        assert_eq!(e["name"], s.name);
    }
    let reqs = emu.requests();
    let faults = |status: u16| reqs.iter().filter(|r| r.status == status).count();
    assert!(
        faults(503) > 0 && faults(429) > 0 && faults(0) > 0,
        "the chaos really happened"
    );
}

#[test]
fn chaos_with_one_file_that_never_succeeds() {
    let emu = emulator_with(chaos());
    emu.fault(Fault {
        file_contains: Some("chaos007_".into()),
        status: Some(422),
        body: Some(r#"{"message":"this one is cursed"}"#.into()),
        ..Fault::default()
    });
    let job = chaos_job(&emu, 40);
    job.run()
        .code(1)
        .has("FAILED     dist/chaos007_1.7.0_amd64.deb")
        .has("this one is cursed");
    assert_eq!(emu.packages("debs").len(), 39);
    let report = job.json("r.json");
    assert_eq!(report["totals"]["published"], 39);
    assert_eq!(report["totals"]["failed"], 1);
    assert_eq!(report["packages"][7]["status"], "failed");
}

#[test]
fn a_failed_finalize_is_retried_without_uploading_the_file_again() {
    let emu = emulator(&[]);
    emu.fault(publish_fault(Fault {
        status: Some(503),
        times: 2,
        ..Fault::default()
    }));
    Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(0);
    assert_eq!(emu.packages("debs").len(), 1);
    let reqs = emu.requests();
    assert_eq!(
        reqs.iter().filter(|r| r.path.starts_with("/_storage")).count(),
        1,
        "uploaded once"
    );
    assert_eq!(
        reqs.iter().filter(|r| r.path.ends_with("/packages/upload")).count(),
        1,
        "one slot"
    );
}

#[test]
fn a_storage_refusal_gets_one_new_upload_slot() {
    let emu = emulator(&[]);
    emu.fault(Fault {
        path_contains: Some("/_storage".into()),
        status: Some(403),
        body: Some("<Error><Code>AccessDenied</Code><Message>Policy expired</Message></Error>".into()),
        times: 1,
        ..Fault::default()
    });
    Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(0)
        .has("Policy expired")
        .has("asking for a new upload slot");
    assert_eq!(emu.packages("debs").len(), 1);
    let slots = emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/packages/upload"))
        .count();
    assert_eq!(slots, 2);
}

/// After a 429, fewer uploads are in flight for the rest of the run: with concurrency
/// 2, every publish that starts after the rate-limited one finds no other in flight.
#[test]
fn a_rate_limit_lowers_the_uploads_in_flight() {
    let emu = emulator_with(EmuConfig {
        latency_ms: 150,
        ..EmuConfig::default()
    });
    emu.fault(publish_fault(Fault {
        status: Some(429),
        headers: BTreeMap::from([("RateLimit-Reset".to_owned(), "1".to_owned())]),
        body: Some(r#"{"message":"Too many requests"}"#.into()),
        times: 1,
        ..Fault::default()
    }));
    let mut job = Job::local(&emu, "debs", "dist/*.deb").env("PACKAGE_PUBLISHER_CONCURRENCY", "2");
    for i in 0..8 {
        job = job.deb(&format!("dist/p{i}_1.0_amd64.deb"), &format!("{i}"));
    }
    job.run().code(0).has("lowering uploads in flight to 1");
    assert_eq!(emu.packages("debs").len(), 8);
    let publishes: Vec<_> = emu.requests().into_iter().filter(|r| r.in_flight > 0).collect();
    assert!(
        publishes.iter().any(|r| r.in_flight == 2),
        "two in flight before the 429"
    );
    let limited = publishes.iter().find(|r| r.status == 429).unwrap().arrival;
    let mut later: Vec<(u64, u32)> = publishes
        .iter()
        .filter(|r| r.arrival > limited)
        .map(|r| (r.arrival, r.in_flight))
        .collect();
    later.sort_unstable();
    // The first may have started alongside the rate-limited request, before its answer.
    assert!(
        later.len() >= 6 && later[1..].iter().all(|(_, n)| *n == 1),
        "in flight after the 429: {later:?}"
    );
}

/// The requests that arrived while the rate-limit window the 429 named was still
/// open: from `margin_ms` after the 429 arrived (requests already on their way when it
/// was answered may land just after it) to the end of the window.
fn inside_the_window(emu: &crate::support::Handle, window_ms: u64, margin_ms: u64) -> Vec<String> {
    let requests = emu.requests();
    let limited = requests.iter().find(|r| r.status == 429).expect("a 429 was answered");
    let (from, to) = (limited.arrived_ms + margin_ms, limited.arrived_ms + window_ms - 50);
    requests
        .iter()
        .filter(|r| r.arrived_ms > from && r.arrived_ms < to)
        .map(|r| format!("{} {} at {} ms", r.method, r.path, r.arrived_ms))
        .collect()
}

fn rate_limit(path_contains: &str) -> Fault {
    Fault {
        method: Some("POST".into()),
        path_contains: Some(path_contains.into()),
        status: Some(429),
        headers: BTreeMap::from([("RateLimit-Reset".to_owned(), "2".to_owned())]),
        body: Some(r#"{"message":"Too many requests"}"#.into()),
        times: 1,
        ..Fault::default()
    }
}

/// A rate limit is the organization's: once a 429 names its reset, no request of the
/// run (uploads, lookups, deletions for replace) leaves before it, whatever the
/// if-exists policy.
#[test]
fn no_request_leaves_inside_a_rate_limit_window_under_any_policy() {
    for policy in ["skip-identical", "skip", "fail", "replace"] {
        // Latency spreads the run out, so there is always more to send while the
        // window is open.
        let emu = emulator_with(EmuConfig {
            latency_ms: 100,
            ..EmuConfig::default()
        });
        // Half the files are already there with other content, so lookups, 409s and
        // (for replace) deletions are part of the run.
        let mut seed = Job::local(&emu, "debs", "dist/*.deb");
        for i in 0..3 {
            seed = seed.deb(&format!("dist/old{i}_1.0_amd64.deb"), "old");
        }
        seed.run().code(0);
        emu.fault(Fault {
            skip: 2,
            ..rate_limit("/registries/debs/packages")
        });
        let mut job = Job::local(&emu, "debs", "dist/*.deb")
            .env("PACKAGE_PUBLISHER_IF_EXISTS", policy)
            .env("PACKAGE_PUBLISHER_CONCURRENCY", "4");
        for i in 0..3 {
            job = job.deb(&format!("dist/old{i}_1.0_amd64.deb"), "new");
        }
        for i in 0..12 {
            job = job.deb(&format!("dist/new{i}_1.0_amd64.deb"), "new");
        }
        job.run();
        let inside = inside_the_window(&emu, 2000, 300);
        assert!(inside.is_empty(), "{policy}: sent inside the window: {inside:?}");
    }
}

/// `debs` and `production` registries, every request taking 100 ms, so a run is spread
/// out enough to see what is in flight at once.
fn staging_and_production_at_100_ms() -> crate::support::Handle {
    emulator_with(EmuConfig {
        registries: [
            ("debs".to_owned(), "debian".to_owned()),
            ("production".to_owned(), "debian".to_owned()),
        ]
        .into(),
        latency_ms: 100,
        ..EmuConfig::default()
    })
}

/// Promotion goes through the same gate: a 429 on one copy holds every other copy.
#[test]
fn no_copy_leaves_inside_a_rate_limit_window() {
    let emu = staging_and_production_at_100_ms();
    emu.fault(rate_limit("/copy"));
    let mut job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production")
        .env("PACKAGE_PUBLISHER_CONCURRENCY", "4")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json");
    for i in 0..16 {
        job = job.deb(&format!("dist/p{i:02}_1.0_amd64.deb"), &format!("{i}"));
    }
    job.run().code(0);
    assert_eq!(emu.packages("production").len(), 16);
    let inside = inside_the_window(&emu, 2000, 300);
    assert!(inside.is_empty(), "sent inside the window: {inside:?}");
}

/// Copies run `concurrency` at a time, and their results stay in input order.
#[test]
fn promotion_copies_in_parallel_and_reports_in_input_order() {
    let emu = staging_and_production_at_100_ms();
    let mut job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production")
        .env("PACKAGE_PUBLISHER_CONCURRENCY", "8")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json");
    for i in 0..16 {
        job = job.deb(&format!("dist/p{i:02}_1.0_amd64.deb"), &format!("{i}"));
    }
    job.run().code(0);
    // How many copies the emulator was working on at once, from their arrival and
    // the fixed latency each one waits.
    let copies: Vec<u64> = emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/copy"))
        .map(|r| r.arrived_ms)
        .collect();
    assert_eq!(copies.len(), 16);
    let most_at_once = copies
        .iter()
        .map(|&t| copies.iter().filter(|&&u| u >= t && u < t + 100).count())
        .max()
        .unwrap();
    assert!(
        most_at_once >= 4,
        "at most {most_at_once} copies overlapped: {copies:?}"
    );
    let report = job.json("r.json");
    let names: Vec<&str> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["promotions"][0]["name"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..16).map(|i| format!("p{i:02}")).collect();
    assert_eq!(names, expected);
}
