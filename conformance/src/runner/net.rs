//! The runner's connections to the implementation under test: plain TCP, or TLS from the first
//! octet (`--tls`), trusting the public certificate authorities, the authorities of a PEM file
//! (`--ca`), or exactly one certificate (`--trust-cert`, for a self-signed server).

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A byte stream to the implementation, plain or TLS. `Sync` so that a case can run as a task
/// of its own on any worker thread (`--jobs`).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// What the runner trusts when it speaks TLS.
#[derive(Clone, Debug)]
pub enum Trust {
    /// The public certificate authorities (the Mozilla list).
    PublicRoots,
    /// The certificate authorities of a PEM file.
    Authorities(Vec<CertificateDer<'static>>),
    /// Exactly this end-entity certificate, whatever names it carries.
    Certificate(CertificateDer<'static>),
}

/// How the runner connects over TLS.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: Option<ServerName<'static>>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Reads every certificate of a PEM file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsClient {
    /// A client trusting `trust`, offering `alpn` (e.g. `http/1.1`), checking the server's
    /// certificate against `name` (a DNS name or an IP address; `None`: the address connected
    /// to).
    pub fn new(trust: Trust, name: Option<&str>, alpn: &[&[u8]]) -> Result<Self, String> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let mut config = match trust {
            Trust::PublicRoots => {
                let roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::Authorities(certs) => {
                let mut roots = RootCertStore::empty();
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| format!("--ca: a certificate is unusable: {e}"))?;
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::Certificate(cert) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
                    cert,
                    provider: provider(),
                }))
                .with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let name = name
            .map(|n| {
                ServerName::try_from(n.to_owned())
                    .map_err(|_| format!("--tls-name: {n:?} is not a DNS name or an IP address"))
            })
            .transpose()?;
        Ok(TlsClient {
            config: Arc::new(config),
            name,
        })
    }

    /// The TLS handshake over `tcp`, connected to `addr` (also for STARTTLS).
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()));
        TlsConnector::from(Arc::clone(&self.config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {addr}: {e}"))
    }

    /// The same trust and name, offering `alpn` instead.
    pub fn with_alpn(&self, alpn: &[&[u8]]) -> Self {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsClient {
            config: Arc::new(config),
            name: self.name.clone(),
        }
    }
}

/// Connects to `addr` within `wait`, over TLS when `tls` is given.
pub async fn connect(
    addr: SocketAddr,
    tls: Option<&TlsClient>,
    wait: Duration,
) -> Result<Box<dyn Io>, String> {
    let work = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let Some(tls) = tls else {
            return Ok(Box::new(tcp) as Box<dyn Io>);
        };
        let stream = tls.handshake(tcp, addr).await?;
        Ok(Box::new(stream) as Box<dyn Io>)
    };
    tokio::time::timeout(wait, work)
        .await
        .map_err(|_| format!("connecting to {addr} took longer than {wait:?}"))?
}

/// Trusts one certificate, byte for byte, and checks the handshake signatures as usual.
#[derive(Debug)]
struct PinnedCertificate {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
