//! The upload body: a file streamed from disk by one blocking reader thread per upload,
//! hashed on that thread while it reads (once per file: an attempt that already knows
//! the file's sha256 does not hash again), and handed to the HTTP client through a
//! small bounded channel of reused buffers. Memory per upload is a few chunks whatever
//! the file's size. [`Progress`] counts the bytes the client has taken, for the stall
//! watchdog and the progress lines.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::Digest;

use crate::digest::Sha256;

/// The size of one read and one chunk handed to the client.
const CHUNK: usize = 256 * 1024;
/// Chunks read ahead of what the client has sent.
const AHEAD: usize = 4;

/// Upload progress shared between the request body, the stall watchdog and the
/// progress log.
#[derive(Debug)]
pub(crate) struct Progress {
    start: Instant,
    stall: Duration,
    sent: AtomicU64,
    last_ms: AtomicU64,
}

impl Progress {
    /// A fresh counter for an upload that is aborted after `stall` without progress.
    #[must_use]
    pub(crate) fn new(stall: Duration) -> Arc<Self> {
        Arc::new(Progress {
            start: Instant::now(),
            stall,
            sent: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    fn advance(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        self.touch();
    }

    /// Starts a new attempt: nothing sent, and the stall clock restarts.
    pub(crate) fn reset(&self) {
        self.sent.store(0, Ordering::Relaxed);
        self.touch();
    }

    fn touch(&self) {
        self.last_ms.store(elapsed_ms(self.start), Ordering::Relaxed);
    }

    /// Bytes of the current attempt sent so far.
    #[must_use]
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// How long the stall watchdog waits.
    #[must_use]
    pub(crate) fn stall(&self) -> Duration {
        self.stall
    }

    /// Time since the last progress.
    #[must_use]
    pub(crate) fn idle(&self) -> Duration {
        let last = self.last_ms.load(Ordering::Relaxed);
        Duration::from_millis(elapsed_ms(self.start).saturating_sub(last))
    }
}

fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What the reader found out: the file's sha256 once it read the whole file (when
/// asked to hash), or the local error that stopped it. A body that failed because of
/// the local file never reached the server whole, and retrying will not help.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadState {
    hash: bool,
    inner: Arc<Mutex<(Option<Sha256>, Option<String>)>>,
}

impl ReadState {
    /// A state for one upload; `hash` asks the reader to compute the sha256.
    #[must_use]
    pub(crate) fn new(hash: bool) -> ReadState {
        ReadState {
            hash,
            inner: Arc::default(),
        }
    }

    /// The file's sha256 (lower-case hex), if the reader hashed all of it.
    #[must_use]
    pub(crate) fn digest(&self) -> Option<Sha256> {
        self.inner.lock().expect("read state lock").0.clone()
    }

    /// The local error that stopped the reader, if any.
    #[must_use]
    pub(crate) fn error(&self) -> Option<String> {
        self.inner.lock().expect("read state lock").1.clone()
    }

    fn set_digest(&self, digest: Sha256) {
        self.inner.lock().expect("read state lock").0 = Some(digest);
    }

    fn set_error(&self, error: &std::io::Error) {
        self.inner.lock().expect("read state lock").1 = Some(error.to_string());
    }
}

/// A buffer that goes back to its pool when the client has sent it.
struct Pooled {
    buf: Vec<u8>,
    len: usize,
    pool: mpsc::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let _ = self.pool.send(std::mem::take(&mut self.buf));
    }
}

/// Opens `path` and returns a body streaming exactly `size` bytes of it; the reader
/// reports its digest or its error in `state`. Opening happens here (without blocking,
/// and only if it is still the regular file `file_id` names), so a file that cannot be
/// opened fails before any request is made. A file whose length changes while it is
/// read fails the request.
pub(crate) fn file_body(
    path: &Path,
    size: u64,
    file_id: Option<(u64, u64)>,
    progress: &Arc<Progress>,
    state: &ReadState,
) -> std::io::Result<reqwest::Body> {
    let (file, _) = crate::artifact::open_checked(path, file_id)?;
    progress.reset();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(AHEAD);
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(err) = read_into(file, size, &tx, &state) {
            state.set_error(&err);
            let _ = tx.blocking_send(Err(err));
        }
    });
    let counter = Arc::clone(progress);
    let stream = tokio_stream_from(rx).map(move |chunk| {
        if let Ok(bytes) = &chunk {
            counter.advance(bytes.len());
        }
        chunk
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The reader thread: reads the file in chunks into reused buffers, hashes them when
/// asked, and sends them on. Stops as soon as the request is gone.
fn read_into(
    mut file: std::fs::File,
    size: u64,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    state: &ReadState,
) -> std::io::Result<()> {
    let (pool_tx, pool_rx) = mpsc::channel::<Vec<u8>>();
    let mut hasher = state.hash.then(sha2::Sha256::new);
    let mut read = 0u64;
    loop {
        let mut buf = pool_rx.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
        let n = read_some(&mut file, &mut buf)?;
        if n == 0 && read == size {
            // An empty file: nothing to send.
            if let Some(h) = hasher.take() {
                state.set_digest(Sha256::finish(h));
            }
            return Ok(());
        }
        read += n as u64;
        if n == 0 || read > size {
            return Err(changed(size, read));
        }
        let chunk = Bytes::from_owner(Pooled {
            buf,
            len: n,
            pool: pool_tx.clone(),
        });
        if read == size {
            // The last chunk: the end of the file is confirmed and the digest recorded
            // before the server can have the whole body, so whoever reads the answer
            // finds the digest there.
            let mut probe = [0u8; 1];
            if read_some(&mut file, &mut probe)? != 0 {
                return Err(changed(size, read + 1));
            }
            if let Some(mut h) = hasher.take() {
                h.update(&chunk);
                state.set_digest(Sha256::finish(h));
            }
            let _ = tx.blocking_send(Ok(chunk));
            return Ok(());
        }
        // Hand the chunk on first, then hash it: the socket is fed while this thread
        // hashes (the buffer returns to the pool once both are done with it).
        if tx.blocking_send(Ok(chunk.clone())).is_err() {
            return Ok(());
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
    }
}

/// One read, retried when interrupted.
fn read_some(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

fn changed(size: u64, read: u64) -> std::io::Error {
    std::io::Error::other(format!(
        "the file changed while it was uploaded (expected {size} bytes, read {})",
        if read > size {
            format!("more than {size}")
        } else {
            read.to_string()
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(body: reqwest::Body) -> Result<Vec<u8>, String> {
        let mut stream = http_body_util::BodyDataStream::new(body);
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(|e| format!("{e:?}"))?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn streams_the_whole_file_and_hashes_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let content: Vec<u8> = (0..(CHUNK * 3 + 17)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let progress = Progress::new(Duration::from_secs(5));
        let state = ReadState::new(true);
        let body = file_body(&path, content.len() as u64, None, &progress, &state).unwrap();
        assert_eq!(collect(body).await.unwrap(), content);
        assert_eq!(progress.sent(), content.len() as u64);
        assert_eq!(state.digest().unwrap(), Sha256::of(&content));

        // When the digest is known, nothing is hashed.
        let state = ReadState::new(false);
        let body = file_body(&path, content.len() as u64, None, &progress, &state).unwrap();
        assert_eq!(collect(body).await.unwrap().len(), content.len());
        assert!(state.digest().is_none() && state.error().is_none());
    }

    #[tokio::test]
    async fn an_empty_file_streams_nothing_and_has_the_empty_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.bin");
        std::fs::write(&path, b"").unwrap();
        let progress = Progress::new(Duration::from_secs(5));
        let state = ReadState::new(true);
        let body = file_body(&path, 0, None, &progress, &state).unwrap();
        assert!(collect(body).await.unwrap().is_empty());
        assert_eq!(state.digest().unwrap(), Sha256::of(b""));
    }

    #[tokio::test]
    async fn the_digest_is_known_before_the_last_chunk_is_handed_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let content = vec![7u8; CHUNK * 2 + 5];
        std::fs::write(&path, &content).unwrap();
        let progress = Progress::new(Duration::from_secs(5));
        let state = ReadState::new(true);
        let body = file_body(&path, content.len() as u64, None, &progress, &state).unwrap();
        let mut stream = http_body_util::BodyDataStream::new(body);
        let mut got = 0;
        while let Some(chunk) = stream.next().await {
            got += chunk.unwrap().len();
            if got == content.len() {
                // The whole body has been handed over: the digest must be there now.
                assert!(state.digest().is_some());
            }
        }
        assert_eq!(got, content.len());
    }

    #[tokio::test]
    async fn a_file_that_changed_size_fails_the_body() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        std::fs::write(&path, b"grown since it was planned").unwrap();
        let progress = Progress::new(Duration::from_secs(5));
        let state = ReadState::new(true);
        let body = file_body(&path, 5, None, &progress, &state).unwrap();
        assert!(collect(body).await.unwrap_err().contains("changed"));
        assert!(state.digest().is_none());
        assert!(state.error().unwrap().contains("changed"));
    }

    #[tokio::test]
    async fn a_missing_file_or_a_directory_fails_before_any_request() {
        let progress = Progress::new(Duration::from_secs(5));
        let state = ReadState::new(true);
        assert!(file_body(Path::new("/nonexistent/x.deb"), 1, None, &progress, &state).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(file_body(dir.path(), 1, None, &progress, &state).is_err());
    }
}
