//! The storage leg of the presigned upload against a real S3 implementation: a moto
//! server on loopback (installed by `.ci/run`), fed the form the emulator's upload slot
//! hands out.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{EmuConfig, Job, emulator_with};

/// A moto S3 server, stopped on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci-cache/venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS"])
        .args(args)
        .output()
        .expect("curl runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(moto_binary())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server runs (installed by .ci/run: pip install 'moto[server]')");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if curl(&["-f", "-o", "/dev/null", &format!("{url}/")]).0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let moto = Moto { child, url };
    assert!(
        curl(&["-f", "-X", "PUT", &format!("{}/releases", moto.url)]).0,
        "bucket created"
    );
    moto
}

#[test]
fn presigned_upload_through_a_real_s3_server() {
    let moto = start_moto();
    let bucket = format!("{}/releases", moto.url);
    let emu = emulator_with(EmuConfig {
        storage_url: Some(bucket.clone()),
        ..EmuConfig::default()
    });
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .file("dist/hello world_1.0_amd64.deb", "bytes that travel through S3");
    job.run().code(0);
    let stored = emu.packages("debs");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].file_name, "hello world_1.0_amd64.deb");
    assert_eq!(job.json("r.json")["packages"][0]["sha256"], stored[0].sha256);
    // The object really is in the bucket, under the slot's key with the file name.
    let (ok, listing) = curl(&["-f", &format!("{bucket}?list-type=2")]);
    assert!(ok, "{listing}");
    assert!(listing.contains("hello world_1.0_amd64.deb"), "{listing}");
    // Storage never saw the Buildkite token: the emulator logged no storage request
    // (the upload went to moto), and every API request carried the token.
    assert!(emu.requests().iter().all(|r| !r.path.starts_with("/_storage")));
}
