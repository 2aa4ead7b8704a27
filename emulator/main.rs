//! Runs the Packages API emulator on loopback, for the README demo, manual testing and
//! the benchmarks. Prints `listening on http://127.0.0.1:PORT` once ready
//! (`https://` with `--tls-cert` and `--tls-key`).
//!
//! ```text
//! cargo run --example emulator -- --port 8787 --registry debs:debian --registry production:debian
//! ```

#![allow(
    unreachable_pub,
    reason = "test and emulator code shares items across its files; it is no API"
)]

#[allow(dead_code)] // Handle and start() serve the integration tests, which include this module.
mod server;
mod tls;

use std::collections::BTreeMap;

use clap::Parser;

/// A local emulator of the Buildkite Packages API.
#[derive(Parser)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one)
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Organization slug
    #[arg(long, default_value = "acme")]
    org: String,
    /// Registry as slug:ecosystem (repeatable) [default: debs:debian]
    #[arg(long)]
    registry: Vec<String>,
    /// API token as TOKEN:scope,scope (repeatable) [default: `bkua_test_token` with every scope]
    #[arg(long)]
    token: Vec<String>,
    /// Latency added to every request, in milliseconds
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Answer 413 to direct uploads larger than this many bytes (0: no limit)
    #[arg(long, default_value_t = 0)]
    max_direct_bytes: u64,
    /// Read published files without hashing them (for benchmarks of the client's CPU)
    #[arg(long)]
    sink: bool,
    /// Serve over TLS with this PEM certificate (with --tls-key)
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut config = server::Config {
        org: args.org,
        latency_ms: args.latency_ms,
        max_direct_bytes: args.max_direct_bytes,
        sink: args.sink,
        ..server::Config::default()
    };
    if !args.registry.is_empty() {
        config.registries = args
            .registry
            .iter()
            .map(|r| {
                let (slug, eco) = r.split_once(':').unwrap_or((r, "debian"));
                (slug.to_owned(), eco.to_owned())
            })
            .collect();
    }
    if !args.token.is_empty() {
        config.tokens = args
            .token
            .iter()
            .map(|t| {
                let (token, scopes) = t.split_once(':').unwrap_or((t, ""));
                (
                    token.to_owned(),
                    scopes.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                )
            })
            .collect::<BTreeMap<_, _>>();
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    let state = server::new_state(config);
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        println!("listening on https://{addr}");
        tls::serve_tls(listener, state, &cert, &key, std::sync::Arc::default()).await;
    } else {
        println!("listening on http://{addr}");
        server::serve(listener, state).await;
    }
}
