//! The real limits of Buildkite and GitHub (enforced by the agent shim and checked on
//! the runner files), old or hung agents, and hostile input: file names, server
//! answers and environment values nobody planned for.

use std::time::Duration;

use crate::support::{Fault, Handle, Job, TOKEN, emulator, fixtures};

const LIMIT: Duration = Duration::from_secs(120);

fn plugin(emu: &Handle, config: &str) -> Job {
    Job::plugin(emu, config).env("BUILDKITE_API_TOKEN", TOKEN)
}

/// A job directory holding `n` small files for a Files registry
/// (`dist/pkg00042-1.0.42.bin`: the Files rule's name and version), thousands of
/// packages without building thousands of archives.
fn many(job: Job, n: usize) -> Job {
    let dist = job.work().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for i in 0..n {
        std::fs::write(dist.join(format!("pkg{i:05}-1.0.{i}.bin")), format!("{i}")).unwrap();
    }
    job
}

#[test]
fn a_release_of_thousands_of_packages_is_stored_and_read_back_whole() {
    let emu = emulator(&[("files", "files"), ("production", "files")]);
    let publish = many(
        plugin(
            &emu,
            r#"{"registry":"files","artifacts":["dist/*.bin"],"api-url":"EMU","concurrency":16,"annotate":false}"#,
        ),
        2500,
    );
    publish.run_within(LIMIT).code(0);
    assert_eq!(emu.packages("files").len(), 2500);
    // The shim refused any value over 100 KB, so the report went in parts.
    let sets = publish.agent_calls_of(&["meta-data", "set"]);
    assert!(sets.len() > 2, "{} meta-data set calls", sets.len());
    assert!(sets.iter().all(|(_, v)| v.len() <= 100 * 1024));

    // A later promote-only step in the same build finds all 2500.
    let promote = plugin(
        &emu,
        r#"{"promote-from":"files","promote-to":["production"],"api-url":"EMU","dry-run":true,"report-file":"r.json","annotate":false}"#,
    )
    .env("SHIM_STATE", &publish.agent_dir().display().to_string());
    promote
        .run_within(LIMIT)
        .code(0)
        .has("2500 package(s) from the reports in build meta-data");
    let report = promote.json("r.json");
    assert_eq!(report["packages"].as_array().unwrap().len(), 2500);
    assert_eq!(report["packages"][2499]["promotions"][0]["status"], "planned");
}

#[test]
fn meta_data_exists_failing_is_an_error_not_a_missing_report() {
    let emu = emulator(&[("production", "debian")]);
    let job = plugin(
        &emu,
        r#"{"promote-from":"debs","promote-to":["production"],"api-url":"EMU"}"#,
    )
    .meta_data("package-publisher.acme.debs.job-0", "{}")
    .env("SHIM_FAIL", "meta-data exists");
    job.run_within(LIMIT)
        .code(1)
        .has("meta-data exists")
        .lacks("nothing to promote");
}

fn github(emu: &Handle) -> Job {
    let job = Job::new()
        .env("GITHUB_ACTIONS", "true")
        .env("INPUT_REGISTRY", "acme/files")
        .env("INPUT_ARTIFACTS", "dist/*.bin")
        .env("INPUT_CONCURRENCY", "16")
        .env("INPUT_API-URL", &emu.url)
        .env("BUILDKITE_API_TOKEN", TOKEN);
    let out = job.dir.path().join("github_output");
    job.env("GITHUB_OUTPUT", &out.display().to_string())
}

/// The `packages` output and the whole outputs file's size as GitHub counts it.
fn packages_output(job: &Job) -> (String, usize) {
    let text = std::fs::read_to_string(job.dir.path().join("github_output")).unwrap();
    let utf16 = text.encode_utf16().count() * 2;
    let (_, rest) = text.split_once("packages<<").unwrap();
    let (delim, rest) = rest.split_once('\n').unwrap();
    let value = rest.split_once(&format!("\n{delim}\n")).unwrap().0;
    (value.to_owned(), utf16)
}

#[test]
fn github_outputs_stay_within_1_mb_as_utf16_and_the_warning_says_what_they_hold() {
    let emu = emulator(&[("files", "files")]);
    let job = many(github(&emu), 1500);
    let out = job.run_within(LIMIT);
    out.code(0).has("holds only path, name, version, id and status");
    let (packages, size) = packages_output(&job);
    assert!(size <= 1_000_000, "{size} bytes as UTF-16");
    let list: Vec<serde_json::Value> = serde_json::from_str(&packages).unwrap();
    assert_eq!(list.len(), 1500);
    assert!(list[0].get("sha256").is_none());

    let emu = emulator(&[("files", "files")]);
    let job = many(github(&emu), 3500);
    let out = job.run_within(LIMIT);
    out.code(0).has("`packages` output is an empty list");
    let (packages, size) = packages_output(&job);
    assert!(size <= 1_000_000, "{size} bytes as UTF-16");
    assert_eq!(packages, "[]");
}

#[test]
fn a_download_that_matches_nothing_follows_if_no_files_found() {
    let emu = emulator(&[]);
    let config = |mode: &str| {
        format!(
            r#"{{"registry":"debs","download":["dist/*.deb"],"artifacts":["dist/*.deb"],"if-no-files-found":"{mode}","api-url":"EMU"}}"#
        )
    };
    let job = plugin(&emu, &config("error"));
    // The build has artifacts, none of them matching.
    std::fs::write(job.artifact_store("default").join("other.txt"), "x").unwrap();
    job.run_within(LIMIT).code(3).has("matched no artifacts");
    let job = plugin(&emu, &config("warn"));
    job.artifact_store("default");
    job.run_within(LIMIT)
        .code(0)
        .has("warning: download query \"dist/*.deb\" matched no artifacts");
    let job = plugin(&emu, &config("ignore"));
    job.artifact_store("default");
    job.run_within(LIMIT).code(0);
}

#[test]
fn an_agent_without_annotate_priority_still_gets_the_annotation() {
    let emu = emulator(&[]);
    let job = plugin(
        &emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU"}"#,
    )
    .env("SHIM_OLD_AGENT", "1")
    .deb("dist/a_1.0_amd64.deb", "a");
    job.run_within(LIMIT).code(0).has("written without a priority");
    let calls = job.agent_calls_of(&["annotate"]);
    assert_eq!(calls.len(), 2);
    assert!(!calls[1].0.contains(&"--priority".to_owned()));
    assert!(!calls[1].1.is_empty() && calls[1].1 == calls[0].1);
}

#[test]
fn a_hung_annotate_is_stopped_and_the_run_still_ends() {
    let emu = emulator(&[]);
    plugin(
        &emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU","stall-timeout":2}"#,
    )
    .env("SHIM_HANG", "annotate --style")
    .deb("dist/a_1.0_amd64.deb", "a")
    .run_within(LIMIT)
    .code(0)
    .has("did not finish within 2 s");
    assert_eq!(emu.packages("debs").len(), 1);
}

#[test]
fn parallel_jobs_with_a_long_step_key_keep_their_own_annotation() {
    let emu = emulator(&[]);
    let key = "k".repeat(120);
    let contexts: Vec<String> = ["0", "1"]
        .iter()
        .map(|n| {
            let job = plugin(
                &emu,
                r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU"}"#,
            )
            .env("BUILDKITE_STEP_KEY", &key)
            .env("BUILDKITE_PARALLEL_JOB", n)
            .deb(&format!("dist/a{n}_1.0_amd64.deb"), n);
            job.run().code(0);
            let (args, _) = job.agent_calls_of(&["annotate"]).remove(0);
            let at = args.iter().position(|a| a == "--context").unwrap();
            args[at + 1].clone()
        })
        .collect();
    assert_ne!(contexts[0], contexts[1]);
    assert!(contexts.iter().all(|c| c.chars().count() <= 100));
}

#[test]
fn a_literal_path_through_a_symlinked_directory_is_refused() {
    let emu = emulator(&[]);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret_1.0_all.deb"), "secret").unwrap();
    let job = Job::local(&emu, "debs", "dist/secret_1.0_all.deb");
    std::os::unix::fs::symlink(outside.path(), job.work().join("dist")).unwrap();
    job.run_within(LIMIT).code(2).has("outside the working directory");
    assert!(emu.packages("debs").is_empty());
}

#[test]
fn a_fifo_or_a_line_feed_in_a_name_is_refused_by_name_without_hanging() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "dist/*.deb").deb("dist/ok_1.0_all.deb", "ok");
    let fifo = job.work().join("dist/pipe_1.0_all.deb");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    job.run_within(LIMIT)
        .code(2)
        .has("\"dist/pipe_1.0_all.deb\" is a FIFO (named pipe)");
    std::fs::remove_file(&fifo).unwrap();
    std::fs::write(job.work().join("dist/evil\nname_1.0_all.deb"), "x").unwrap();
    job.run_within(LIMIT).code(2).has("control character in its name");
    assert!(emu.packages("debs").is_empty());
}

#[test]
fn an_absolute_pattern_is_a_configuration_error() {
    let emu = emulator(&[]);
    let job = Job::local(&emu, "debs", "x").deb("dist/a_1.0_all.deb", "a");
    let pattern = format!("{}/dist/*.deb", job.work().display());
    job.env("PACKAGE_PUBLISHER_ARTIFACTS", &pattern)
        .run()
        .code(2)
        .has("PACKAGE_PUBLISHER_ARTIFACTS")
        .has("relative to the working directory");
}

#[test]
fn a_token_echoed_by_the_server_is_redacted_even_when_cut_short() {
    let emu = emulator(&[]);
    // 292 characters, then the token: the message is cut at 300, mid-token.
    let message = format!("{}{TOKEN} trailing", "a".repeat(292));
    emu.fault(Fault {
        method: Some("POST".into()),
        status: Some(400),
        body: Some(serde_json::json!({ "message": message }).to_string()),
        ..Fault::default()
    });
    let job = plugin(
        &emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU","report-file":"r.json"}"#,
    )
    .deb("dist/a_1.0_amd64.deb", "a");
    let out = job.run_within(LIMIT);
    out.code(1).has("[redacted]");
    let leaked = &TOKEN[..8];
    assert!(!out.all().contains(leaked), "{}", out.all());
    assert!(!job.read("r.json").contains(leaked));
    // Everything handed to the agent but the redactor's own input is clean.
    for (args, stdin) in job.agent_calls() {
        if args[0] != "redactor" {
            assert!(!stdin.contains(leaked), "{args:?}: {stdin}");
        }
    }
}

#[test]
fn terminal_escapes_from_the_server_never_reach_the_log() {
    let emu = emulator(&[]);
    // A hostile answer that is otherwise right (its digest is the file's), so that it
    // is trusted and its text printed.
    let hostile = serde_json::json!({
        "id": "0191-evil",
        "name": "evil\u{1b}[31mred",
        "version": "1.0\u{7}",
        "web_url": "javascript:alert(1)",
        "digests": { "sha256": fixtures::deb_sha256("a_1.0_amd64.deb", "a") },
    });
    emu.fault(Fault {
        method: Some("POST".into()),
        status: Some(201),
        body: Some(hostile.to_string()),
        ..Fault::default()
    });
    let out = plugin(
        &emu,
        r#"{"registry":"debs","artifacts":["dist/*.deb"],"api-url":"EMU"}"#,
    )
    .deb("dist/a_1.0_amd64.deb", "a")
    .run_within(LIMIT);
    out.code(0).has("evil␛[31mred");
    assert!(!out.stdout.contains("\u{1b}[31m"));
    assert!(!out.stdout.contains('\u{7}'));
    assert!(!out.stdout.contains("url='javascript"));
}

#[test]
fn a_token_that_is_not_utf8_is_named_not_ignored() {
    let emu = emulator(&[]);
    Job::local(&emu, "debs", "dist/*.deb")
        .unset("BUILDKITE_API_TOKEN")
        .env_bytes("BUILDKITE_API_TOKEN", b"bkua_\xff\xfe")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(2)
        .has("BUILDKITE_API_TOKEN is set, but its value is not valid UTF-8");
}

/// The report file is never written through a symlink planted in the checkout: a
/// symlink at its path is replaced by the report, and a symlinked folder leading out
/// of the working directory is refused.
#[test]
fn the_report_file_never_follows_a_symlink_out_of_the_checkout() {
    let emu = emulator(&[]);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();

    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "out/report.json")
        .deb("dist/a_1.0_amd64.deb", "a");
    std::fs::create_dir_all(job.work().join("out")).unwrap();
    std::os::unix::fs::symlink(&victim, job.work().join("out/report.json")).unwrap();
    job.run().code(0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(job.work().join("out/report.json")).unwrap();
    assert!(meta.file_type().is_file(), "the symlink was replaced by the report");
    assert_eq!(job.json("out/report.json")["packages"][0]["status"], "published");

    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "evil/report.json")
        .deb("dist/b_1.0_amd64.deb", "b");
    std::os::unix::fs::symlink(outside.path(), job.work().join("evil")).unwrap();
    job.run().code(1).has("outside the working directory");
    assert!(!outside.path().join("report.json").exists());
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        1,
        "only the victim is there"
    );
}
