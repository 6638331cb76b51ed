//! TLS material: a configured PEM certificate, or a self-signed one generated at start.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::PushServerError;

/// A server certificate and the acceptor built from it.
#[derive(Clone)]
pub struct TlsMaterial {
    /// Accepts TLS connections.
    pub acceptor: TlsAcceptor,
    /// The leaf certificate, so local clients can trust a generated one.
    pub certificate: CertificateDer<'static>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(e: impl std::fmt::Display) -> PushServerError {
    PushServerError::Tls(e.to_string())
}

impl TlsMaterial {
    /// Loads a PEM chain and key.
    pub fn from_pem(cert: &Path, key: &Path) -> Result<Self, PushServerError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| tls_error(format!("{}: {e}", path.display())))
        };
        let chain: Vec<CertificateDer<'static>> =
            rustls_pemfile::certs(&mut read(cert)?.as_slice())
                .collect::<Result<_, _>>()
                .map_err(tls_error)?;
        let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
            .map_err(tls_error)?
            .ok_or_else(|| tls_error("no private key in the key file"))?;
        let leaf = chain
            .first()
            .cloned()
            .ok_or_else(|| tls_error("no certificate in the certificate file"))?;
        Self::build(chain, key, leaf)
    }

    /// Generates a self-signed certificate for `localhost` and `127.0.0.1`.
    pub fn self_signed() -> Result<Self, PushServerError> {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .map_err(tls_error)?;
        let leaf = generated.cert.der().clone();
        let key =
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der()));
        Self::build(vec![leaf.clone()], key, leaf)
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        leaf: CertificateDer<'static>,
    ) -> Result<Self, PushServerError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(tls_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate: leaf,
        })
    }

    /// A connector that trusts exactly this server's certificate (for local clients).
    pub fn connector(&self) -> Result<TlsConnector, PushServerError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.certificate.clone()).map_err(tls_error)?;
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// The server name local clients use.
pub fn localhost() -> ServerName<'static> {
    ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())
}
