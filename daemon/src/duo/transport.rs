//! The TLS connector under the pool: rustls on ring, the trusted roots (or `noverify`), the dialer
//! (direct or through `http_proxy`), and per-connection bookkeeping.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::error::ClientError;
use crate::proxy_url::ProxyUrl;

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
    _live: Live,
}

/// One open connection in the count of open connections; the count drops when it closes.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn new(count: &Arc<AtomicUsize>) -> Live {
        count.fetch_add(1, Ordering::Relaxed);
        Live(count.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
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

/// Opens the TCP stream TLS runs over: straight to Duo, or through a CONNECT tunnel.
#[derive(Clone)]
pub(crate) enum Dialer {
    /// No proxy: hyper-util's connector (happy eyeballs, nodelay, keepalive).
    Direct(HttpConnector),
    /// Through `http_proxy`, within the connect timeout.
    Tunnel(Arc<ProxyUrl>, Duration),
}

impl tower_service::Service<Uri> for Dialer {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Dialer::Direct(c) => c.poll_ready(cx).map_err(Into::into),
            Dialer::Tunnel(..) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        match self {
            Dialer::Direct(c) => {
                let connecting = c.call(uri);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            Dialer::Tunnel(proxy, timeout) => {
                let (proxy, timeout) = (proxy.clone(), *timeout);
                Box::pin(async move {
                    let tcp = proxy.tunnel(&uri, timeout).await?;
                    Ok(TokioIo::new(tcp))
                })
            }
        }
    }
}

/// `noverify`: accepts any certificate, but still checks the handshake signatures against it.
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A token bucket over connection attempts (GCRA: one "theoretical arrival time").
pub(crate) struct ConnectRate {
    /// Time between two attempts once the burst is spent.
    interval: Duration,
    /// How far ahead of now the schedule may run before attempts wait.
    burst: Duration,
    /// When the bucket is next empty (a tokio instant, so paused-clock tests can drive it).
    tat: Mutex<Instant>,
}

impl ConnectRate {
    /// `per_sec` attempts a second after a burst of `burst`.
    pub(crate) fn new(per_sec: u32, burst: u32) -> ConnectRate {
        let interval = Duration::from_secs(1) / per_sec.max(1);
        ConnectRate {
            interval,
            burst: interval * burst.max(1),
            tat: Mutex::new(Instant::now()),
        }
    }

    /// Take a token now, or say how long until one is free. Nothing is reserved for a caller
    /// that waits: an attempt given up while waiting (its login timed out) costs no token.
    pub(crate) fn try_take(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut tat = crate::sync::lock(&self.tat);
        let next = (*tat).max(now) + self.interval;
        let ahead = next.saturating_duration_since(now);
        if ahead > self.burst {
            return Err(ahead - self.burst);
        }
        *tat = next;
        Ok(())
    }
}

/// The HTTPS connector, counting the connections it opens (for health) and bounding how fast it opens them.
#[derive(Clone)]
pub(crate) struct CountingConnector {
    inner: HttpsConnector<Dialer>,
    /// TLS connections established so far.
    pub(crate) opened: Arc<AtomicU64>,
    /// TLS connections open now.
    pub(crate) open: Arc<AtomicUsize>,
    /// The bound on new connections per second, taken by the caller before it sends (see
    /// `DuoClient::call`): a wait here, inside hyper, would be a Duo timeout at preauth, and
    /// hyper finishes a connect its request no longer needs in the background.
    pub(crate) rate: Arc<ConnectRate>,
}

impl tower_service::Service<Uri> for CountingConnector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut inner = self.inner.clone();
        let opened = self.opened.clone();
        let open = self.open.clone();
        Box::pin(async move {
            let inner = inner.call(uri).await?;
            opened.fetch_add(1, Ordering::Relaxed);
            Ok(Conn {
                inner,
                uses: ConnUses::default(),
                _live: Live::new(&open),
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
    for cert in CertificateDer::pem_slice_iter(&pem) {
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

/// The HTTPS-only connector: TCP (direct or tunnelled) with nodelay and keepalive, then TLS 1.3/1.2
/// on the ring provider, verified against `cafile` or the built-in roots unless `noverify`.
pub(crate) fn connector(
    cafile: Option<&Path>,
    noverify: bool,
    proxy: Option<ProxyUrl>,
    connect_timeout: Duration,
    connect_rate: u32,
) -> Result<CountingConnector, ClientError> {
    let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let tls = if noverify {
        let verifier = NoVerify(provider.signature_verification_algorithms);
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(cafile)?)
            .with_no_client_auth()
    };
    let http = match proxy {
        Some(p) => Dialer::Tunnel(Arc::new(p), connect_timeout),
        None => {
            let mut http = HttpConnector::new();
            http.set_nodelay(true);
            http.enforce_http(false);
            http.set_connect_timeout(Some(connect_timeout));
            http.set_keepalive(Some(Duration::from_secs(30)));
            Dialer::Direct(http)
        }
    };
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
        open: Arc::new(AtomicUsize::new(0)),
        // A burst as large as the rate: a quiet daemon opens what a login wave needs at once.
        rate: Arc::new(ConnectRate::new(connect_rate, connect_rate)),
    })
}

#[cfg(test)]
mod tests {
    use super::ConnectRate;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn connect_rate_allows_a_burst_then_a_steady_rate() {
        let rate = ConnectRate::new(10, 3);
        for _ in 0..3 {
            assert_eq!(rate.try_take(), Ok(()));
        }
        // The fourth waits one interval; asking again reserves nothing.
        assert_eq!(rate.try_take(), Err(Duration::from_millis(100)));
        assert_eq!(rate.try_take(), Err(Duration::from_millis(100)));
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(rate.try_take(), Ok(()));
        assert_eq!(rate.try_take(), Err(Duration::from_millis(100)));
        // After a quiet second the burst is back.
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..3 {
            assert_eq!(rate.try_take(), Ok(()));
        }
        assert!(rate.try_take().is_err());
    }
}
