//! The emulator behind TLS (rustls), for the network tests and the HTTPS benchmark:
//! the certificate and key are PEM files (the tests and `bench/run` make them with
//! `openssl`), every TLS handshake attempted and refused is counted (a test proves a
//! refused certificate was not retried), and requests are marked `X-Forwarded-Proto:
//! https` so the storage URLs the emulator hands out are https too.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::server::{Shared, router};

/// Handshakes attempted and refused.
#[derive(Debug, Default)]
pub struct Counters {
    pub handshakes: AtomicUsize,
    pub refused: AtomicUsize,
}

/// Accepted TLS streams, handed to axum. Handshakes run in their own tasks so one
/// slow or refused client never holds up another.
struct Tls {
    streams: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        std::net::SocketAddr,
    )>,
    addr: std::net::SocketAddr,
}

impl axum::serve::Listener for Tls {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.streams.recv().await {
            Some(stream) => stream,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// Serves the emulator over TLS on `listener` until the process ends.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    state: Shared,
    cert: &Path,
    key: &Path,
    counters: Arc<Counters>,
) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("certificate file")
        .map(|c| c.expect("certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).expect("key file");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key match");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let addr = listener.local_addr().expect("local address");
    let (streams_tx, streams) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            counters.handshakes.fetch_add(1, Ordering::SeqCst);
            let (acceptor, streams_tx, counters) = (acceptor.clone(), streams_tx.clone(), Arc::clone(&counters));
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        let _ = streams_tx.send((stream, peer)).await;
                    }
                    Err(_) => {
                        counters.refused.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let app = router(state).layer(axum::middleware::map_request(
        |mut req: axum::extract::Request| async move {
            req.headers_mut()
                .insert("x-forwarded-proto", axum::http::HeaderValue::from_static("https"));
            req
        },
    ));
    axum::serve(Tls { streams, addr }, app).await.expect("emulator server");
}
