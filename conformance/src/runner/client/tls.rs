//! The certificate authority the runner generates for the device role: the implementation under
//! test is told to trust it (`{ca}`), and the runner's mail server, provider API and device
//! channel present a certificate it signed for `127.0.0.1` and `localhost`.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// The generated authority (as PEM, to hand over) and the acceptor using its server certificate.
#[derive(Clone)]
pub struct ServerTls {
    /// The authority's certificate, PEM.
    pub ca_pem: String,
    /// Accepts TLS with the signed server certificate.
    pub acceptor: TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    /// A fresh authority and server certificate; nothing is written to disk here.
    pub fn generate() -> Result<Self, String> {
        let err = |e: rcgen::Error| format!("generating the runner's certificates: {e}");
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "mailpush-conform device-role CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).map_err(err)?;
        let key = KeyPair::generate().map_err(err)?;
        let mut params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).map_err(err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let certificate = params.signed_by(&key, &ca, &ca_key).map_err(err)?;
        let chain = vec![certificate.der().clone(), ca.der().clone()];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS versions: {e}"))?
                .with_no_client_auth()
                .with_single_cert(chain, private)
                .map_err(|e| format!("the runner's server certificate: {e}"))?;
        Ok(ServerTls {
            ca_pem: ca.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}
