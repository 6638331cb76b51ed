//! TLS material of the mail server: a configured PEM certificate, or a self-signed one generated
//! at start for local use.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::MailServerError;

/// A server certificate and the acceptor built from it.
#[derive(Clone)]
pub struct TlsMaterial {
    /// Accepts TLS connections (IMAPS and STARTTLS).
    pub acceptor: TlsAcceptor,
    /// The leaf certificate, so that local clients can trust a generated one.
    pub certificate: CertificateDer<'static>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(e: impl std::fmt::Display) -> MailServerError {
    MailServerError::Tls(e.to_string())
}

/// Reads every certificate of a PEM file.
pub(crate) fn read_certificates(
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, MailServerError> {
    let pem = std::fs::read(path).map_err(|e| tls_error(format!("{}: {e}", path.display())))?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(format!("{}: {e}", path.display())))?;
    if chain.is_empty() {
        return Err(tls_error(format!(
            "{}: no certificate in the file",
            path.display()
        )));
    }
    Ok(chain)
}

impl TlsMaterial {
    /// Loads a PEM certificate chain and its private key.
    pub fn from_pem(cert: &Path, key: &Path) -> Result<Self, MailServerError> {
        let chain = read_certificates(cert)?;
        let key_pem =
            std::fs::read(key).map_err(|e| tls_error(format!("{}: {e}", key.display())))?;
        let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .map_err(|e| tls_error(format!("{}: {e}", key.display())))?
            .ok_or_else(|| tls_error(format!("{}: no private key in the file", key.display())))?;
        let leaf = chain
            .first()
            .cloned()
            .ok_or_else(|| tls_error("no certificate in the certificate file"))?;
        Self::build(chain, key, leaf)
    }

    /// Generates a self-signed certificate for `localhost` and `127.0.0.1`.
    pub fn self_signed() -> Result<Self, MailServerError> {
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
    ) -> Result<Self, MailServerError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(tls_error)?;
        config.alpn_protocols = vec![b"imap".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate: leaf,
        })
    }

    /// A connector that trusts exactly this server's certificate (for local clients and tests).
    pub fn connector(&self) -> Result<TlsConnector, MailServerError> {
        connector_trusting(std::slice::from_ref(&self.certificate))
    }
}

/// A client connector that trusts exactly `roots`.
pub(crate) fn connector_trusting(
    roots: &[CertificateDer<'static>],
) -> Result<TlsConnector, MailServerError> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).map_err(tls_error)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
