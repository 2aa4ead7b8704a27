//! TLS for the network tests: a private CA and a server certificate made by
//! `openssl` (for `localhost` and `127.0.0.1`), the emulator served over TLS
//! (`emulator/tls.rs`, counting every handshake, so a test can prove a refused
//! certificate was not retried), mitmproxy as a real TLS-intercepting proxy, and a tiny CONNECT proxy
//! that records what it was asked to reach.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::emulator_tls::{Counters, serve_tls};
use super::server::{self, Config as EmuConfig, Handle};

/// A private CA and a server certificate it signed, as PEM files.
pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a CA named `name` and a certificate for `localhost` / `127.0.0.1` signed by it.
pub fn pki(name: &str) -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &str, extra: &[&str]| {
        let mut all: Vec<&str> = args.split_whitespace().collect();
        all.extend_from_slice(extra);
        openssl(d, &all);
    };
    let p256 = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    run(
        &format!(
            "req -x509 {p256} -keyout ca.key -out ca.pem -days 2 \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
        &["-subj", &format!("/CN={name}")],
    );
    run(
        &format!("req {p256} -keyout server.key -out server.csr -subj /CN=localhost"),
        &[],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf",
        &[],
    );
    Pki {
        ca: d.join("ca.pem"),
        cert: d.join("server.pem"),
        key: d.join("server.key"),
        _dir: dir,
    }
}

/// The emulator behind TLS, and how many TLS handshakes were attempted.
pub struct TlsEmulator {
    pub handle: Handle,
    pub counters: Arc<Counters>,
}

impl TlsEmulator {
    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.handle.url
    }
    pub fn handshakes(&self) -> usize {
        self.counters.handshakes.load(Ordering::SeqCst)
    }
}

/// Starts an emulator served over TLS with `pki`'s server certificate.
pub fn emulator_tls(config: EmuConfig, pki: &Pki) -> TlsEmulator {
    let state = server::new_state(config);
    let counters = Arc::new(Counters::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let (shared, counted) = (state.clone(), Arc::clone(&counters));
    let (cert, key) = (pki.cert.clone(), pki.key.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            serve_tls(listener, shared, &cert, &key, counted).await;
        });
    });
    let addr = rx.recv().unwrap();
    TlsEmulator {
        handle: Handle {
            url: format!("https://{addr}"),
            addr,
            state,
        },
        counters,
    }
}

/// A running mitmdump, stopped on drop.
pub struct Mitm {
    child: Child,
    pub port: u16,
    /// mitmproxy's own CA (the one it signs intercepted certificates with).
    pub ca: PathBuf,
    /// What mitmdump printed (one line per flow).
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Mitm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mitm {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn mitmdump_binary() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci-cache/mitmproxy/bin/mitmdump");
    if venv.exists() { venv } else { PathBuf::from("mitmdump") }
}

/// Starts mitmproxy in regular (explicit proxy) mode on loopback, trusting
/// `upstream_ca` for the servers behind it, requiring `user:password` when given.
pub fn mitmproxy(upstream_ca: &Path, credentials: Option<&str>) -> Mitm {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = dir.path().join("flows.log");
    let mut cmd = Command::new(mitmdump_binary());
    cmd.args(["--listen-host", "127.0.0.1", "--listen-port", &port.to_string()])
        .args(["--set", &format!("confdir={}", dir.path().display())])
        .args([
            "--set",
            &format!("ssl_verify_upstream_trusted_ca={}", upstream_ca.display()),
        ])
        .args(["--set", "flow_detail=1"]);
    if let Some(credentials) = credentials {
        cmd.args(["--proxyauth", credentials]);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("mitmdump runs (scripts/install-test-tools puts it in .ci-cache/mitmproxy)");
    let ca = dir.path().join("mitmproxy-ca-cert.pem");
    let mitm = Mitm {
        child,
        port,
        ca,
        log,
        _dir: dir,
    };
    for _ in 0..300 {
        if mitm.ca.exists() && TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return mitm;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("mitmdump did not start on port {port}");
}

/// A tiny CONNECT proxy: it tunnels to whatever it is asked, after checking the
/// `Proxy-Authorization` when `credentials` are given (407 otherwise), and records
/// each CONNECT target and the authorization it carried.
pub struct ConnectProxy {
    pub url: String,
    pub seen: Seen,
}

/// Each CONNECT target, with the `Proxy-Authorization` it carried.
pub type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

impl ConnectProxy {
    pub fn targets(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|(t, _)| t.clone()).collect()
    }
}

pub fn connect_proxy(credentials: Option<&str>) -> ConnectProxy {
    use base64::Engine;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let expected = credentials.map(|c| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(c)));
    let recorded = Arc::clone(&seen);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let (recorded, expected) = (Arc::clone(&recorded), expected.clone());
            std::thread::spawn(move || tunnel(client, &recorded, expected.as_deref()));
        }
    });
    ConnectProxy { url, seen }
}

fn tunnel(mut client: TcpStream, recorded: &Mutex<Vec<(String, Option<String>)>>, expected: Option<&str>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let mut auth = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("proxy-authorization") {
                auth = Some(value.trim().to_owned());
            }
        }
    }
    recorded.lock().unwrap().push((target.clone(), auth.clone()));
    if !line.starts_with("CONNECT ") {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
        return;
    }
    if expected.is_some() && auth.as_deref() != expected {
        let _ = client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm=\"test\"\r\ncontent-length: 0\r\n\r\n",
        );
        return;
    }
    let Ok(server) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    // Bytes the reader buffered past the header belong to the tunnel.
    let early = reader.buffer().to_vec();
    let mut upstream = server.try_clone().unwrap();
    let _ = upstream.write_all(&early);
    let (mut from_client, mut to_client) = (reader.into_inner(), client);
    let mut from_server = server;
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Both);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from_client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if upstream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = upstream.shutdown(std::net::Shutdown::Write);
    let _ = back.join();
}
