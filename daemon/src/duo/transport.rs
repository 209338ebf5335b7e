//! The TLS connector under the pool: rustls on ring, the trusted roots, and per-connection bookkeeping.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use tokio::net::TcpStream;

use super::error::ClientError;

/// Responses a pooled connection has delivered; above zero, a request on it is on a reused connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnUses(Arc<AtomicU64>);

impl ConnUses {
    /// Note one more response received on this connection.
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether this connection has served a request before.
    pub(crate) fn reused(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

/// A TLS connection to Duo, carrying its [`ConnUses`] into every response's extensions.
pub(crate) struct Conn {
    inner: MaybeHttpsStream<TokioIo<TcpStream>>,
    uses: ConnUses,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.inner.connected().extra(self.uses.clone())
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

/// Error type of the hyper-rustls connector.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The HTTPS connector, counting the connections it opens (for health).
#[derive(Clone)]
pub(crate) struct CountingConnector {
    inner: HttpsConnector<HttpConnector>,
    /// TLS connections established so far.
    pub(crate) opened: Arc<AtomicU64>,
}

impl tower_service::Service<Uri> for CountingConnector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let opened = self.opened.clone();
        Box::pin(async move {
            let inner = connecting.await?;
            opened.fetch_add(1, Ordering::Relaxed);
            Ok(Conn {
                inner,
                uses: ConnUses::default(),
            })
        })
    }
}

/// The roots to trust: only the certificates of `cafile` when set, else the built-in webpki roots.
fn roots(cafile: Option<&Path>) -> Result<RootCertStore, ClientError> {
    let mut roots = RootCertStore::empty();
    let Some(path) = cafile else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    let bad = |reason: String| ClientError::Cafile {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| bad(format!("cannot parse PEM: {e}")))?;
        roots.add(cert).map_err(|e| {
            bad(format!(
                "a certificate cannot be used as a trust anchor: {e}"
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(ClientError::NoCertificates {
            path: path.to_path_buf(),
        });
    }
    Ok(roots)
}

/// The HTTPS-only connector: TCP with nodelay and keepalive, then TLS 1.3/1.2 on the ring provider.
pub(crate) fn connector(
    cafile: Option<&Path>,
    connect_timeout: Duration,
) -> Result<CountingConnector, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots(cafile)?)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(30)));
    // HTTP/1.1 only: hyper-rustls leaves ALPN empty in this mode (and refuses a preset list),
    // which servers read as HTTP/1.1.
    let inner = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    Ok(CountingConnector {
        inner,
        opened: Arc::new(AtomicU64::new(0)),
    })
}
