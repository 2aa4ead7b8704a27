//! The subcommands for people, against the emulator.

use serde_json::Value;

use crate::support::{Job, TOKEN, emulator};

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
        job = job.file(&format!("dist/pkg{i:03}_1.0.{i}_amd64.deb"), &format!("p{i}"));
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
    .file("dist/a_1.0_amd64.deb", "a");
    job.run().code(0).has("published");
    assert_eq!(job.json("r.json")["totals"]["published"], 1);
    cli(
        &emu,
        &["publish", "--registry", "debs", "dist/*.deb", "--concurrency", "zero"],
    )
    .run()
    .code(2)
    .has("--concurrency")
    .has("\"zero\"");
}

#[test]
fn help_and_version_work_everywhere() {
    let out = Job::new().args(&["--help"]).run();
    out.code(0).has("publish").has("list").has("Examples:");
    for sub in ["publish", "promote", "list", "get", "copy", "delete"] {
        Job::new().args(&[sub, "--help"]).run().code(0).has("Example");
    }
    Job::new()
        .args(&["--version"])
        .run()
        .code(0)
        .has(env!("CARGO_PKG_VERSION"));
    Job::new()
        .args(&["list", "--version"])
        .run()
        .code(0)
        .has(env!("CARGO_PKG_VERSION"));
    Job::new().args(&["frobnicate"]).run().code(2);
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
