//! TLS material shared by the mailpush servers: a configured PEM certificate, or a self-signed one
//! generated at start for local use, and client connectors that trust exactly given certificates.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why TLS material could not be loaded or built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key file could not be read, or holds no usable PEM item.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused the configuration, or a certificate could not be generated.
    #[error("{0}")]
    Config(String),
}

fn config_error(e: impl std::fmt::Display) -> TlsError {
    TlsError::Config(e.to_string())
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server certificate and the acceptor built from it.
#[derive(Clone)]
pub struct TlsMaterial {
    /// Accepts TLS connections.
    pub acceptor: TlsAcceptor,
    /// The leaf certificate, so that local clients can trust a generated one.
    pub certificate: CertificateDer<'static>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Loads a PEM certificate chain and its private key; `alpn` lists the protocols offered.
    pub fn from_pem(cert: &Path, key: &Path, alpn: &[&[u8]]) -> Result<Self, TlsError> {
        let chain = read_certificates(cert)?;
        let key_pem = std::fs::read(key).map_err(|e| file_error(key, e))?;
        let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .map_err(|e| file_error(key, e))?
            .ok_or_else(|| file_error(key, "no private key in the file"))?;
        Self::build(chain, key_der, alpn)
    }

    /// Generates a self-signed certificate for `localhost` and `127.0.0.1`.
    pub fn self_signed(alpn: &[&[u8]]) -> Result<Self, TlsError> {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .map_err(config_error)?;
        let leaf = generated.cert.der().clone();
        let key =
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der()));
        Self::build(vec![leaf], key, alpn)
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        alpn: &[&[u8]],
    ) -> Result<Self, TlsError> {
        let leaf = chain
            .first()
            .cloned()
            .ok_or_else(|| config_error("no certificate in the chain"))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(config_error)?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate: leaf,
        })
    }

    /// A connector that trusts exactly this server's certificate (for local clients and tests).
    pub fn connector(&self) -> Result<TlsConnector, TlsError> {
        connector_trusting(std::slice::from_ref(&self.certificate))
    }
}

/// Reads every certificate of a PEM file; a file with none is an error.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| file_error(path, e))?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(path, e))?;
    if chain.is_empty() {
        return Err(file_error(path, "no certificate in the file"));
    }
    Ok(chain)
}

/// A client connector that trusts exactly `roots`.
pub fn connector_trusting(roots: &[CertificateDer<'static>]) -> Result<TlsConnector, TlsError> {
    connector_with(rustls::RootCertStore::empty(), roots)
}

/// A client connector for services on the public Internet: it trusts the public certificate
/// authorities (Mozilla's root program, as the `webpki-roots` crate ships it) and `extra`, so
/// that a service with a private CA or a self-signed certificate can be added.
pub fn connector_with_public_roots(
    extra: &[CertificateDer<'static>],
) -> Result<TlsConnector, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    connector_with(store, extra)
}

fn connector_with(
    mut store: rustls::RootCertStore,
    roots: &[CertificateDer<'static>],
) -> Result<TlsConnector, TlsError> {
    for root in roots {
        store.add(root.clone()).map_err(config_error)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The server name local clients use.
pub fn localhost() -> ServerName<'static> {
    ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_offers_the_given_protocols_and_is_trusted_by_its_connector() {
        let material = TlsMaterial::self_signed(&[b"imap"]).unwrap();
        assert_eq!(
            material.acceptor.config().alpn_protocols,
            vec![b"imap".to_vec()]
        );
        assert!(material.connector().is_ok());
    }

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = std::env::temp_dir().join(format!("mailpush-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, b"").unwrap();
        let missing = dir.join("missing.pem");
        let error = read_certificates(&missing).unwrap_err().to_string();
        assert!(error.starts_with(&missing.display().to_string()), "{error}");
        let error = TlsMaterial::from_pem(&empty, &empty, &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("no certificate in the file"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
