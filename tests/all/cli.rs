//! The subcommands for people, against the emulator: the API subcommands, `publish`
//! and `promote` with flags, help, and messages in the words the user typed.

use serde_json::Value;

use crate::support::{Job, TOKEN, emulator, published_earlier};

fn cli(emu: &crate::support::Handle, args: &[&str]) -> Job {
    Job::new()
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .env("BUILDKITE_ORGANIZATION_SLUG", "acme")
        .args(args)
        .args(&["--api-url", &emu.url])
}

/// Publishes `n` small packages named pkgNNN into `registry`.
fn seed(emu: &crate::support::Handle, registry: &str, n: usize) {
    let mut job = Job::local(emu, registry, "dist/*.deb").env("PACKAGE_PUBLISHER_CONCURRENCY", "16");
    for i in 0..n {
        job = job.deb(&format!("dist/pkg{i:03}_1.0.{i}_amd64.deb"), &format!("p{i}"));
    }
    job.run().code(0);
}

#[test]
fn list_follows_every_page_and_json_is_parseable() {
    let emu = emulator(&[]);
    seed(&emu, "debs", 130);
    let out = cli(&emu, &["list", "--registry", "debs", "--json"]).run();
    out.code(0);
    let items: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(items.len(), 130);
    let lists = emu
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/packages") && r.query.contains("per_page"))
        .count();
    assert!(lists >= 2, "followed links.next across pages");
    let mut ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 130);
}

#[test]
fn list_filters_by_name_and_limits_and_prints_a_table() {
    let emu = emulator(&[]);
    seed(&emu, "debs", 5);
    let out = cli(&emu, &["list", "--registry", "debs", "--name", "pkg003"]).run();
    out.code(0)
        .has("NAME")
        .has("pkg003")
        .has("1.0.3")
        .lacks("pkg004")
        .has("1 package(s) in acme/debs");
    let out = cli(&emu, &["list", "--registry", "debs", "--limit", "2", "--json"]).run();
    assert_eq!(serde_json::from_str::<Vec<Value>>(&out.stdout).unwrap().len(), 2);
}

#[test]
fn get_copy_delete_round_trip() {
    let emu = emulator(&[("production", "debian")]);
    seed(&emu, "debs", 1);
    let id = emu.packages("debs")[0].id.clone();
    let out = cli(&emu, &["get", "--registry", "debs", &id, "--json"]).run();
    out.code(0);
    let pkg: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(pkg["name"], "pkg000");
    assert_eq!(pkg["digests"]["sha256"], emu.packages("debs")[0].sha256);

    cli(&emu, &["get", "--registry", "debs", &id])
        .run()
        .code(0)
        .has("pkg000")
        .has("sha256");

    let out = cli(
        &emu,
        &["copy", "--registry", "debs", "--to", "production", &id, "--json"],
    )
    .run();
    out.code(0);
    let copy: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(emu.packages("production").len(), 1);
    assert_eq!(copy["id"], emu.packages("production")[0].id);
    // Copying again is done already, as promotion counts it: exit 0, and it says so.
    cli(&emu, &["copy", "--registry", "debs", "--to", "production", &id])
        .run()
        .code(0)
        .has("is already in acme/production with the same content");
    assert_eq!(emu.packages("production").len(), 1);

    cli(&emu, &["delete", "--registry", "debs", &id])
        .run()
        .code(2)
        .has("--yes");
    assert_eq!(emu.packages("debs").len(), 1, "not deleted without confirmation");
    cli(&emu, &["delete", "--registry", "debs", &id, "--yes"])
        .run()
        .code(0)
        .has("deleted");
    assert!(emu.packages("debs").is_empty());
    cli(&emu, &["get", "--registry", "debs", &id])
        .run()
        .code(1)
        .has("404")
        .has("No package found");
}

#[test]
fn copy_into_an_unknown_registry_says_so() {
    let emu = emulator(&[]);
    seed(&emu, "debs", 1);
    let id = emu.packages("debs")[0].id.clone();
    cli(&emu, &["copy", "--registry", "debs", "--to", "nowhere", &id])
        .run()
        .code(1)
        .has("404")
        .has("No destination registry found");
}

#[test]
fn api_commands_need_a_token_from_the_environment() {
    let emu = emulator(&[]);
    cli(&emu, &["list", "--registry", "debs"])
        .unset("BUILDKITE_API_TOKEN")
        .run()
        .code(2)
        .has("BUILDKITE_API_TOKEN");
    cli(&emu, &["list", "--registry", "debs"])
        .env("BUILDKITE_API_TOKEN", "bkua_nope_nope")
        .run()
        .code(4)
        .has("401");
}

#[test]
fn publish_subcommand_takes_flags() {
    let emu = emulator(&[]);
    let job = cli(
        &emu,
        &["publish", "--registry", "debs", "dist/*.deb", "--report-file", "r.json"],
    )
    .deb("dist/a_1.0_amd64.deb", "a");
    job.run().code(0).has("published");
    assert_eq!(job.json("r.json")["totals"]["published"], 1);
    cli(
        &emu,
        &["publish", "--registry", "debs", "dist/*.deb", "--concurrency", "zero"],
    )
    .run()
    .code(2)
    .has("--concurrency")
    .has("'zero'");
}

#[test]
fn help_and_version_work_everywhere() {
    let out = Job::new().args(&["--help"]).run();
    out.code(0).has("publish").has("list").has("Examples:");
    for sub in ["publish", "promote", "list", "get", "copy", "delete"] {
        Job::new().args(&[sub, "--help"]).run().code(0).has("Example");
    }
    // A build from a commit is not a release: it says which commit.
    Job::new()
        .args(&["--version"])
        .run()
        .code(0)
        .has(&format!("package-publisher {}-dev+", env!("CARGO_PKG_VERSION")));
    Job::new()
        .args(&["list", "--version"])
        .run()
        .code(0)
        .has(env!("CARGO_PKG_VERSION"));
    Job::new().args(&["frobnicate"]).run().code(2);
    // Usage shows what is required; defaults read plainly.
    Job::new()
        .args(&["publish", "--help"])
        .run()
        .code(0)
        .has("Usage: package-publisher publish --registry <REGISTRY>")
        .has("[default: https://api.buildkite.com]")
        .lacks("<https://");
    Job::new()
        .args(&["copy", "--help"])
        .run()
        .code(0)
        .has("Usage: package-publisher copy --registry <REGISTRY> --to <REGISTRY>");
    // promote has a time limit like every command that calls the API.
    Job::new()
        .args(&["promote", "--from", "stage", "--to", "prod", "--timeout", "0"])
        .run()
        .code(2)
        .has("--timeout");
}

/// Runs the binary inside a tmux pane (a real terminal), answers the delete prompt
/// with `answer`, and returns what the pane showed.
fn delete_on_a_terminal(emu: &crate::support::Handle, id: &str, answer: &str) -> String {
    let session = format!("pp-{}", std::process::id());
    let bin = env!("CARGO_BIN_EXE_package-publisher");
    let command = format!(
        "env -i BUILDKITE_API_TOKEN={TOKEN} BUILDKITE_ORGANIZATION_SLUG=acme {bin} delete --registry debs {id} --api-url {}; echo EXIT=$?; sleep 5",
        emu.url
    );
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux runs (installed by .ci/run)")
    };
    tmux(&["new-session", "-d", "-s", &session, "-x", "200", "-y", "20", &command]);
    let capture = || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned();
    let wait_for = |needle: &str| {
        for _ in 0..100 {
            if capture().contains(needle) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the pane never showed {needle:?}:\n{}", capture());
    };
    wait_for("[y/N]");
    tmux(&["send-keys", "-t", &session, answer, "Enter"]);
    wait_for("EXIT=");
    let screen = capture();
    tmux(&["kill-session", "-t", &session]);
    screen
}

#[test]
fn delete_asks_for_confirmation_on_a_terminal() {
    let emu = emulator(&[]);
    seed(&emu, "debs", 2);
    let id = |name: &str| emu.packages("debs").into_iter().find(|p| p.name == name).unwrap().id;
    let screen = delete_on_a_terminal(&emu, &id("pkg000"), "n");
    assert!(
        screen.contains("Delete pkg000 1.0.0") && screen.contains("not deleted") && screen.contains("EXIT=1"),
        "{screen}"
    );
    assert_eq!(emu.packages("debs").len(), 2);
    let screen = delete_on_a_terminal(&emu, &id("pkg001"), "y");
    assert!(screen.contains("deleted") && screen.contains("EXIT=0"), "{screen}");
    assert_eq!(emu.packages("debs").len(), 1);
}

// ----- every message names options the way the user gave them

#[test]
fn publish_with_flags_speaks_in_flags() {
    let emu = emulator(&[]);
    let out = cli(&emu, &["publish", "--registry", "debs", "dist/*.deb", "--dry-run"])
        .deb("dist/a_1.0_amd64.deb", "a")
        .run();
    out.code(0)
        .has("configuration from command-line flags")
        .lacks("PACKAGE_PUBLISHER_* variables");
    cli(&emu, &["publish", "--registry", "debs", "dist/*.deb"])
        .unset("BUILDKITE_ORGANIZATION_SLUG")
        .run()
        .code(2)
        .has("--org is required")
        .has("write --registry as `org/slug`")
        .lacks("`organization`");
    cli(&emu, &["publish", "dist/*.deb"])
        .run()
        .code(2)
        .has("--registry is required")
        .lacks("`registry`");
    cli(&emu, &["publish", "--registry", "debs"])
        .run()
        .code(2)
        .has("a PATTERN argument is required")
        .lacks("`artifacts`");
    cli(&emu, &["publish", "--registry", "Debs", "dist/*.deb"])
        .run()
        .code(2)
        .has("--registry has the value \"Debs\"");
}

#[test]
fn a_pattern_that_matches_nothing_names_the_flag_to_change() {
    let emu = emulator(&[]);
    cli(&emu, &["publish", "--registry", "debs", "dist/*.rpm"])
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(3)
        .has("\"dist/*.rpm\" matched no files")
        .has("`--if-no-files-found warn`")
        .lacks("if-no-files-found:");
}

#[test]
fn promote_with_flags_speaks_in_flags() {
    let emu = emulator(&[("production", "debian")]);
    let out = cli(&emu, &["promote", "--from", "debs", "--to", "production"]).run();
    out.code(2)
        .has("give a PATTERN argument to identify them")
        .has("check --from")
        .lacks("`artifacts`")
        .lacks("`promote-from`");
    cli(&emu, &["promote", "--from", "debs", "--to", "nowhere", "dist/*.deb"])
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(1)
        .has("registry \"nowhere\" was not found")
        .has("check --to")
        .lacks("`promote-to`");
}

#[test]
fn no_token_with_flags_names_the_variables_to_set() {
    let emu = emulator(&[]);
    cli(&emu, &["publish", "--registry", "debs", "dist/*.deb"])
        .unset("BUILDKITE_API_TOKEN")
        .env("PACKAGE_PUBLISHER_OIDC", "false")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run()
        .code(2)
        .has("PACKAGE_PUBLISHER_API_TOKEN_ENV")
        .has("`PACKAGE_PUBLISHER_OIDC=auto`")
        .lacks("`oidc: auto`");
}

// ----- one rule everywhere

#[test]
fn every_registry_option_takes_org_slash_slug() {
    let emu = emulator(&[("production", "debian")]);
    seed(&emu, "debs", 1);
    let id = emu.packages("debs")[0].id.clone();
    let anywhere = |args: &[&str]| cli(&emu, args).unset("BUILDKITE_ORGANIZATION_SLUG");
    anywhere(&["list", "--registry", "acme/debs"])
        .run()
        .code(0)
        .has("1 package(s) in acme/debs");
    anywhere(&["get", "--registry", "acme/debs", &id])
        .run()
        .code(0)
        .has("pkg000");
    anywhere(&["copy", "--registry", "acme/debs", "--to", "acme/production", &id])
        .run()
        .code(0);
    assert_eq!(emu.packages("production").len(), 1);
    anywhere(&["list", "--registry", "acme/debs", "--org", "other"])
        .run()
        .code(2)
        .has("--org is \"other\" but --registry names the organization \"acme\"");
    anywhere(&["copy", "--registry", "acme/debs", "--to", "other/production", &id])
        .run()
        .code(2)
        .has("--to has the value \"other/production\"");
}

#[test]
fn list_flags_and_variables_split_commas_alike() {
    let emu = emulator(&[("production", "debian"), ("staging", "debian")]);
    let job = cli(
        &emu,
        &[
            "publish",
            "--registry",
            "debs",
            "dist/*.deb",
            "--promote-to",
            "production,staging",
        ],
    )
    .deb("dist/a_1.0_amd64.deb", "a");
    job.run().code(0);
    assert_eq!(emu.packages("production").len(), 1);
    assert_eq!(emu.packages("staging").len(), 1);

    let emu = emulator(&[("production", "debian"), ("staging", "debian")]);
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_PROMOTE_TO", "production, staging")
        .deb("dist/a_1.0_amd64.deb", "a");
    job.run().code(0);
    assert_eq!(emu.packages("staging").len(), 1);
}

#[test]
fn typed_flags_list_their_values() {
    let out = Job::new().args(&["publish", "--help"]).run();
    out.code(0)
        .has("[possible values: skip-identical, skip, fail, replace]")
        .has("[possible values: error, warn, ignore]")
        .has("[possible values: auto, direct, presigned]");
    Job::new()
        .args(&["publish", "--registry", "acme/debs", "--if-exists", "overwrite", "x"])
        .run()
        .code(2)
        .has("invalid value 'overwrite' for '--if-exists <POLICY>'")
        .has("skip-identical");
    Job::new()
        .args(&["publish", "--registry", "acme/debs", "--concurrency", "0", "x"])
        .run()
        .code(2)
        .has("0 is not in 1..=64");
}

// ----- behaving like a Unix tool

#[test]
fn list_into_a_closed_pipe_stops_quietly() {
    let emu = emulator(&[]);
    seed(&emu, "debs", 3);
    for format in [&[][..], &["--json"][..]] {
        let mut child = cli(&emu, &["list", "--registry", "debs"]).args(format).spawn();
        // The reader goes away before anything is written, as `| head -0` would.
        drop(child.stdout.take());
        let out = crate::support::finish_within(child, std::time::Duration::from_secs(30));
        out.code(0);
        assert_eq!(out.stderr, "", "nothing on stderr");
    }
}

#[test]
fn an_empty_package_id_is_refused_before_any_request() {
    let emu = emulator(&[]);
    for args in [
        &["delete", "--registry", "debs", "--yes", ""][..],
        &["get", "--registry", "debs", " "][..],
        &["copy", "--registry", "debs", "--to", "other", ""][..],
    ] {
        cli(&emu, args).run().code(2).has("a package id is required");
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

#[test]
fn list_has_a_time_limit() {
    let emu = emulator(&[]);
    emu.fault(crate::support::Fault {
        method: Some("GET".into()),
        path_suffix: Some("/packages".into()),
        delay_ms: 600_000,
        ..crate::support::Fault::default()
    });
    let limit = std::time::Duration::from_secs(40);
    cli(&emu, &["list", "--registry", "debs", "--timeout", "1"])
        .run_within(limit)
        .code(1)
        .has("timed out")
        .has("at most 1 s");
    cli(&emu, &["list", "--registry", "debs"])
        .env("PACKAGE_PUBLISHER_STALL_TIMEOUT", "1")
        .run_within(limit)
        .code(1)
        .has("timed out");
    Job::new()
        .args(&["list", "--help"])
        .run()
        .code(0)
        .has("--timeout <SECONDS>");
}

// ----- pointing new users the right way

#[test]
fn the_bare_command_on_a_terminal_points_at_the_subcommands() {
    Job::new()
        .run()
        .code(2)
        .has("PACKAGE_PUBLISHER_REGISTRY is required")
        .has("package-publisher publish --registry")
        .has("package-publisher --help");
}

#[test]
fn a_subcommand_flag_given_first_points_at_the_subcommand() {
    Job::new()
        .args(&["--registry", "x"])
        .run()
        .code(2)
        .has("tip: --registry is a flag of publish")
        .has("package-publisher publish --registry");
}

#[test]
fn help_says_where_the_token_comes_from() {
    for sub in ["publish", "promote", "list", "get", "copy", "delete"] {
        Job::new()
            .args(&[sub, "--help"])
            .run()
            .code(0)
            .has("The API token is read from BUILDKITE_API_TOKEN");
    }
}

#[test]
fn a_dry_run_summary_counts_what_it_planned() {
    let emu = emulator(&[]);
    cli(&emu, &["publish", "--registry", "debs", "dist/*.deb", "--dry-run"])
        .deb("dist/a_1.0_amd64.deb", "a")
        .deb("dist/b_1.0_amd64.deb", "b")
        .run()
        .code(0)
        .has("(dry run): 2 planned");
}

// ----- saying each failure once

#[test]
fn a_refused_connection_names_the_url_once() {
    let url = "http://127.0.0.1:9/";
    let out = Job::new()
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .args(&["list", "--registry", "acme/debs", "--api-url", url])
        .run();
    out.code(1).has("Connection refused");
    assert_eq!(out.all().matches("127.0.0.1:9").count(), 1, "{}", out.all());

    let out = Job::new()
        .env("BUILDKITE_API_TOKEN", TOKEN)
        .args(&["publish", "--registry", "acme/debs", "dist/*.deb", "--retries", "0"])
        .args(&["--api-url", url])
        .deb("dist/a_1.0_amd64.deb", "a")
        .run();
    out.code(1).has("Connection refused");
    assert_eq!(out.all().matches("127.0.0.1:9").count(), 1, "{}", out.all());
}

#[test]
fn a_refused_token_is_reported_once() {
    let emu = emulator(&[]);
    let out = cli(&emu, &["publish", "--registry", "debs", "dist/*.deb"])
        .env("BUILDKITE_API_TOKEN", "bkua_revoked")
        .deb("dist/a_1.0_amd64.deb", "a")
        .run();
    out.code(4);
    assert_eq!(out.all().matches("answered 401").count(), 1, "{}", out.all());
}

#[test]
fn a_token_echoed_by_the_server_is_redacted_in_cli_errors() {
    let emu = crate::support::emulator(&[]);
    emu.fault(crate::support::Fault {
        method: Some("GET".into()),
        status: Some(400),
        body: Some(format!(r#"{{"message":"bad token {}"}}"#, crate::support::TOKEN)),
        ..crate::support::Fault::default()
    });
    let out = crate::support::Job::new()
        .env("BUILDKITE_API_TOKEN", crate::support::TOKEN)
        .args(&["get", "--registry", "acme/debs", "--api-url", &emu.url, "0191"])
        .run();
    out.code(1).has("[redacted]").lacks(crate::support::TOKEN);
}

/// `copy` into a registry that holds the name and version with other content is a
/// conflict naming both digests, as promotion reports it.
#[test]
fn copy_over_different_content_names_both_digests() {
    let emu = emulator(&[("production", "debian")]);
    published_earlier(&emu, "debs", "dist/a_1.0_amd64.deb", "staging build");
    published_earlier(&emu, "production", "dist/a_1.0_amd64.deb", "another build");
    let id = emu.packages("debs")[0].id.clone();
    let (ours, theirs) = (
        emu.packages("debs")[0].sha256.clone(),
        emu.packages("production")[0].sha256.clone(),
    );
    cli(&emu, &["copy", "--registry", "debs", "--to", "production", &id])
        .run()
        .code(1)
        .has("with different content")
        .has(&ours)
        .has(&theirs);
}
