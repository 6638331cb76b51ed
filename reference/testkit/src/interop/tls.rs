//! A certificate authority generated per server, and a server certificate it signs for
//! `localhost` and `127.0.0.1`, written as PEM files the servers read.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::CertificateDer;
use tokio_rustls::TlsConnector;

use super::{InteropError, write_file};

/// The TLS material of a running server: what a client trusts, and the files the server reads.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The certificate authority that signed the server's certificate: trust this.
    pub ca: CertificateDer<'static>,
    /// The server's own certificate, for clients that trust exactly one certificate.
    pub certificate: CertificateDer<'static>,
    /// `ca` as a PEM file.
    pub ca_file: PathBuf,
    /// The server's certificate followed by the CA's, as PEM.
    pub chain_file: PathBuf,
    /// The server's private key as PEM (PKCS#8).
    pub key_file: PathBuf,
}

impl ServerTls {
    /// Generates a CA and a server certificate and writes them under `dir`.
    pub fn generate(dir: &Path, server: &str) -> Result<Self, InteropError> {
        let tls_error = |e: rcgen::Error| InteropError::Tls(e.to_string());
        let ca_key = KeyPair::generate().map_err(tls_error)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("mailpush test CA for {server}"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).map_err(tls_error)?;

        let key = KeyPair::generate().map_err(tls_error)?;
        let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .map_err(tls_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let certificate = params.signed_by(&key, &ca, &ca_key).map_err(tls_error)?;

        let ca_file = dir.join("ca.pem");
        let chain_file = dir.join("server.pem");
        let key_file = dir.join("server.key");
        write_file(&ca_file, ca.pem())?;
        write_file(&chain_file, format!("{}{}", certificate.pem(), ca.pem()))?;
        write_file(&key_file, key.serialize_pem())?;
        Ok(Self {
            ca: ca.der().clone(),
            certificate: certificate.der().clone(),
            ca_file,
            chain_file,
            key_file,
        })
    }

    /// A client connector that trusts this server's CA and nothing else.
    pub fn connector(&self) -> Result<TlsConnector, InteropError> {
        mailpush_tls::connector_trusting(std::slice::from_ref(&self.ca))
            .map_err(|e| InteropError::Tls(e.to_string()))
    }
}
