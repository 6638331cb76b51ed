//! Whom the daemon's TLS connections trust: the public certificate authorities, the CAs of a
//! configured file, and optionally exactly one configured certificate (pinned: accepted whatever
//! its issuer and names, as for a server with a self-signed certificate).

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

/// Why trust material could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A PEM file could not be read or holds no certificate.
    #[error(transparent)]
    File(#[from] mailpush_tls::TlsError),
    /// rustls refused a certificate or the configuration.
    #[error("{0}")]
    Rustls(String),
}

/// What a connection trusts.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// Certificate authorities trusted besides the public ones.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// The one certificate accepted as it is (the first of its file).
    pub pinned: Option<CertificateDer<'static>>,
}

impl Trust {
    /// Reads the configured files: every certificate of `ca_file`, the first of `trust_cert`.
    pub fn load(ca_file: Option<&Path>, trust_cert: Option<&Path>) -> Result<Self, TrustError> {
        let extra_roots = match ca_file {
            Some(path) => mailpush_tls::read_certificates(path)?,
            None => Vec::new(),
        };
        let pinned = match trust_cert {
            Some(path) => mailpush_tls::read_certificates(path)?.into_iter().next(),
            None => None,
        };
        Ok(Self {
            extra_roots,
            pinned,
        })
    }

    /// A connector for this trust (and `alpn`, which may be empty).
    pub fn connector(&self, alpn: &[&[u8]]) -> Result<TlsConnector, TrustError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in &self.extra_roots {
            roots
                .add(root.clone())
                .map_err(|e| TrustError::Rustls(e.to_string()))?;
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TrustError::Rustls(e.to_string()))?;
        let verifier = Arc::new(Verifier {
            webpki,
            pinned: self.pinned.clone(),
            provider: provider.clone(),
        });
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TrustError::Rustls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// Accepts the pinned certificate as it is, and anything else the WebPKI verifier accepts.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Option<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .as_ref()
            .is_some_and(|pinned| pinned.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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
