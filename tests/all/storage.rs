//! The storage leg of the presigned upload against a real S3 implementation: a moto
//! server on loopback (installed by `.ci/run`), fed the form the emulator's upload slot
//! hands out.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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

/// A TCP proxy in front of `target` (`host:port`) that records the head (request
/// line and headers) of the first request on each connection.
fn recording_proxy(target: &str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (recorded, target) = (Arc::clone(&heads), target.to_owned());
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { break };
            let (recorded, target) = (Arc::clone(&recorded), target.clone());
            std::thread::spawn(move || {
                let mut server = TcpStream::connect(&target).unwrap();
                let mut back = server.try_clone().unwrap();
                let mut to_client = client.try_clone().unwrap();
                std::thread::spawn(move || std::io::copy(&mut back, &mut to_client));
                let mut head = Vec::new();
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = client.read(&mut buf) {
                    if !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                        head.extend_from_slice(&buf[..n]);
                        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                            head.truncate(end + 4);
                            recorded
                                .lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&head).into_owned());
                        }
                    }
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, heads)
}

#[test]
fn presigned_upload_through_a_real_s3_server() {
    let moto = start_moto();
    // The storage leg goes through a recorder, to see exactly what reached storage.
    let (proxy, heads) = recording_proxy(moto.url.trim_start_matches("http://"));
    let bucket = format!("{proxy}/releases");
    let emu = emulator_with(EmuConfig {
        storage_url: Some(bucket.clone()),
        ..EmuConfig::default()
    });
    let job = Job::local(&emu, "debs", "dist/*.deb")
        .env("PACKAGE_PUBLISHER_UPLOAD_METHOD", "presigned")
        .env("PACKAGE_PUBLISHER_REPORT_FILE", "r.json")
        .deb("dist/hello world_1.0_amd64.deb", "bytes that travel through S3");
    job.run().code(0);
    let stored = emu.packages("debs");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].file_name, "hello world_1.0_amd64.deb");
    assert_eq!(job.json("r.json")["packages"][0]["sha256"], stored[0].sha256);
    // The object really is in the bucket, under the slot's key with the file name.
    let (ok, listing) = curl(&["-f", &format!("{}/releases?list-type=2", moto.url)]);
    assert!(ok, "{listing}");
    assert!(listing.contains("hello world_1.0_amd64.deb"), "{listing}");
    // What reached storage: one form POST with an exact length and no Buildkite token.
    let heads = heads.lock().unwrap().clone();
    let posts: Vec<&String> = heads.iter().filter(|h| h.starts_with("POST ")).collect();
    assert_eq!(posts.len(), 1, "{heads:#?}");
    let head = posts[0].to_ascii_lowercase();
    assert!(head.contains("\r\ncontent-length: "), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(!head.contains("authorization") && !head.contains("bkua_"), "{head}");
}
