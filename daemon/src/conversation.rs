//! One client connection seen as a conversation: send status lines and prompts, and notice a client that leaves.

use std::future::Future;
use std::time::Duration;

use duo_authd_proto::{self as proto, ClientMsg, Decision, ServerMsg, StatusKind};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

/// How long a single write to a client may take before we give up on it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Initial read buffer per client (tokio-util defaults to 8 KiB).
const INITIAL_READ_BUFFER: usize = 512;

/// Why the conversation with a client ended early.
#[derive(Debug, thiserror::Error)]
pub enum ConvError {
    /// The client closed the connection or sent something while it should be waiting.
    #[error("client went away")]
    ClientGone,
    /// The client did not send its next frame in time.
    #[error("client timed out")]
    Timeout,
    /// Nobody typed an answer within the idle timeout.
    #[error("no answer within the idle timeout ({0}s)")]
    Idle(u64),
    /// The login deadline passed while waiting for an answer.
    #[error("the login deadline passed while waiting for an answer")]
    Deadline,
    /// The client sent a frame that does not decode or is out of place.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// The codec both sides agree on: u32 big-endian length prefix, [`proto::MAX_FRAME`] cap checked before allocation.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .big_endian()
        .length_field_length(proto::LEN_PREFIX)
        .max_frame_length(proto::MAX_FRAME)
        .new_codec()
}

/// A framed client connection with the helpers a login needs.
///
/// Reads go through a codec; writes go straight to the socket as one already-framed buffer, so a
/// waiting login holds no write buffer (a `Framed` keeps 8 KiB per connection for it).
pub struct Conversation<S> {
    /// The socket, with a decoder for what the client sends.
    framed: FramedRead<S, LengthDelimitedCodec>,
    /// Whether a person can answer prompts; status lines are still sent either way.
    pub interactive: bool,
    /// Longest wait for a typed answer.
    pub idle_timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conversation<S> {
    /// Wrap a connected socket.
    pub fn new(stream: S, idle_timeout: Duration) -> Self {
        Conversation {
            // Frames are small: start with a small read buffer (it grows on demand up to MAX_FRAME),
            // so thousands of waiting logins cost little memory.
            framed: FramedRead::with_capacity(stream, codec(), INITIAL_READ_BUFFER),
            interactive: false,
            idle_timeout,
        }
    }

    /// Read the next client message, or `None` on a clean close, with a deadline.
    pub async fn recv(&mut self, deadline: Instant) -> Result<Option<ClientMsg>, ConvError> {
        match timeout_at(deadline, self.framed.next()).await {
            Err(_) => Err(ConvError::Timeout),
            Ok(None) => Ok(None),
            Ok(Some(Err(e))) => Err(map_read_error(e)),
            Ok(Some(Ok(bytes))) => proto::decode::<ClientMsg>(&bytes)
                .map(Some)
                .map_err(|e| ConvError::Protocol(e.to_string())),
        }
    }

    /// Send one message, bounded in time so a client that never reads cannot pin us.
    pub async fn send(&mut self, msg: &ServerMsg) -> Result<(), ConvError> {
        // `encode` writes the length prefix the client's codec expects, and refuses oversize frames.
        let frame = proto::encode(msg).map_err(|e| ConvError::Protocol(e.to_string()))?;
        let sock = self.framed.get_mut();
        let write = async {
            sock.write_all(&frame).await?;
            sock.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Err(_) => Err(ConvError::Timeout),
            Ok(r) => r.map_err(ConvError::Io),
        }
    }

    /// Show the user a line (sanitised and cut to [`proto::MAX_TEXT`] here, and sanitised again by the client).
    pub async fn status(&mut self, text: &str, kind: StatusKind) -> Result<(), ConvError> {
        self.send(&ServerMsg::Status {
            text: bounded(text),
            kind,
        })
        .await
    }

    /// Send the decision. Its message is cut to [`proto::MAX_TEXT`], so a long deny from Duo is
    /// still a deny; should it somehow not encode, the decision goes without its message.
    pub async fn decide(&mut self, mut d: Decision) -> Result<(), ConvError> {
        d.message = d.message.as_deref().map(bounded);
        match self.send(&ServerMsg::Decision(d.clone())).await {
            Err(ConvError::Protocol(_)) => {
                d.message = None;
                self.send(&ServerMsg::Decision(d)).await
            }
            other => other,
        }
    }

    /// Ask the user a question and wait for the answer until `deadline` or the idle timeout.
    pub async fn prompt(
        &mut self,
        text: &str,
        echo: bool,
        deadline: Instant,
    ) -> Result<String, ConvError> {
        self.send(&ServerMsg::Prompt {
            text: bounded(text),
            echo,
        })
        .await?;
        let idle_end = Instant::now() + self.idle_timeout;
        let until = deadline.min(idle_end);
        match self.recv(until).await {
            Err(ConvError::Timeout) if until < idle_end => Err(ConvError::Deadline),
            Err(ConvError::Timeout) => Err(ConvError::Idle(self.idle_timeout.as_secs())),
            Err(e) => Err(e),
            Ok(Some(ClientMsg::Answer { text })) => Ok(text),
            Ok(Some(_)) => Err(ConvError::Protocol("expected an answer".into())),
            Ok(None) => Err(ConvError::ClientGone),
        }
    }

    /// Run `fut` to completion whatever the client does, noting whether it left or spoke out of
    /// turn meanwhile: for a request that must not be abandoned half-way (an `/auth` that may
    /// already have pushed, the status of a push in flight).
    pub async fn watch<F: Future>(&mut self, fut: F) -> (F::Output, Option<ConvError>) {
        tokio::pin!(fut);
        let gone = tokio::select! {
            out = &mut fut => return (out, None),
            frame = self.framed.next() => match frame {
                None => ConvError::ClientGone,
                Some(Err(e)) => map_read_error(e),
                Some(Ok(_)) => ConvError::Protocol("client spoke while it should wait".into()),
            },
        };
        (fut.await, Some(gone))
    }

    /// Run `fut` (a call to Duo, a back-off sleep) but abandon it if the client leaves or speaks out of turn.
    pub async fn guard<F: Future>(&mut self, fut: F) -> Result<F::Output, ConvError> {
        tokio::pin!(fut);
        tokio::select! {
            out = &mut fut => Ok(out),
            frame = self.framed.next() => match frame {
                None => Err(ConvError::ClientGone),
                Some(Err(e)) => Err(map_read_error(e)),
                Some(Ok(_)) => Err(ConvError::Protocol("client spoke while it should wait".into())),
            },
        }
    }
}

/// Text for the client: control characters removed and cut to [`proto::MAX_TEXT`] bytes.
fn bounded(text: &str) -> String {
    proto::truncate(&proto::sanitize(text), proto::MAX_TEXT).to_string()
}

/// Turn a codec error into a conversation error (an oversize frame is a protocol error, not I/O).
fn map_read_error(e: std::io::Error) -> ConvError {
    if e.kind() == std::io::ErrorKind::InvalidData {
        ConvError::Protocol(format!("bad frame: {e}"))
    } else {
        ConvError::Io(e)
    }
}
