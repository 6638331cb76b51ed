//! A connection that is plain TCP or TLS, decided at accept time (IMAPS, HTTPS) or half-way
//! through (IMAP's STARTTLS), read and written through one type.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

/// A TCP connection, plain or under TLS (either end of the handshake).
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP, server or client side.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Accepts TLS on `socket`; a handshake that takes longer than `timeout` fails with
    /// [`io::ErrorKind::TimedOut`], so a silent peer cannot hold the connection open.
    pub async fn accept_tls(
        socket: TcpStream,
        acceptor: &TlsAcceptor,
        timeout: Duration,
    ) -> io::Result<Self> {
        let tls = tokio::time::timeout(timeout, acceptor.accept(socket))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        Ok(Stream::Tls(Box::new(TlsStream::Server(tls))))
    }

    /// Connects TLS over `socket` to the server `name`.
    pub async fn connect_tls(
        socket: TcpStream,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> io::Result<Self> {
        let tls = connector.connect(name, socket).await?;
        Ok(Stream::Tls(Box::new(TlsStream::Client(tls))))
    }

    /// Turns a plain connection into TLS as its server (STARTTLS), with the bound of
    /// [`Stream::accept_tls`]. A connection already under TLS is an error: TLS is never layered
    /// twice.
    pub async fn start_tls(self, acceptor: &TlsAcceptor, timeout: Duration) -> io::Result<Self> {
        match self {
            Stream::Plain(socket) => Self::accept_tls(socket, acceptor, timeout).await,
            Stream::Tls(_) => Err(io::Error::other("STARTTLS on a TLS connection")),
        }
    }

    /// Whether the connection is under TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (accepted.unwrap().0, client.unwrap())
    }

    /// A plain connection carries octets, turns TLS on STARTTLS, carries octets under TLS, and
    /// refuses a second STARTTLS.
    #[tokio::test]
    async fn plain_then_tls() {
        let material = mailpush_tls::TlsMaterial::self_signed(&[]).unwrap();
        let connector = material.connector().unwrap();
        let (server, client) = pair().await;
        let mut server = Stream::Plain(server);
        let mut client = Stream::Plain(client);
        client.write_all(b"a STARTTLS\r\n").await.unwrap();
        let mut line = [0u8; 12];
        server.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"a STARTTLS\r\n");
        assert!(!server.is_tls());

        let Stream::Plain(client) = client else {
            unreachable!()
        };
        let (server, client) = tokio::join!(
            server.start_tls(&material.acceptor, Duration::from_secs(5)),
            Stream::connect_tls(client, &connector, mailpush_tls::localhost()),
        );
        let (mut server, mut client) = (server.unwrap(), client.unwrap());
        assert!(server.is_tls() && client.is_tls());
        server.write_all(b"* OK secret\r\n").await.unwrap();
        server.flush().await.unwrap();
        let mut line = [0u8; 13];
        client.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"* OK secret\r\n");

        let error = server
            .start_tls(&material.acceptor, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("STARTTLS"), "{error}");
    }

    /// A peer that never starts the handshake is given up on at the timeout.
    #[tokio::test(start_paused = true)]
    async fn a_silent_handshake_times_out() {
        let material = mailpush_tls::TlsMaterial::self_signed(&[]).unwrap();
        let (server, _client) = pair().await;
        let error = Stream::accept_tls(server, &material.acceptor, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }
}
