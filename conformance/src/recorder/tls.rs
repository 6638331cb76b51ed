//! TLS on the recorded links: the recorder ends the TLS of the component that connects with a
//! certificate it is given or generates, and speaks TLS to the upstream, trusting what it is
//! told to trust (never nothing).

use std::path::Path;

use tokio_rustls::TlsAcceptor;

use crate::runner::net::TlsClient;
use crate::runner::push_service::{GeneratedFiles, PushTls};

use super::Link;

/// The files `--tls-dir DIR` keeps; `recorder-ca.pem` is what the connecting components are
/// told to trust.
const RECORDER_FILES: GeneratedFiles = GeneratedFiles {
    ca: CA_FILE,
    cert: "recorder-cert.pem",
    key: "recorder-key.pem",
    authority_name: "mailpush-conform recorder CA",
};

/// The certificate authority `--tls-dir` generates, for the components to trust.
pub const CA_FILE: &str = "recorder-ca.pem";

/// The recorder's certificate toward the components that connect to it.
#[derive(Clone, Debug)]
pub struct RecorderCertificate(PushTls);

impl RecorderCertificate {
    /// A certificate and its key from PEM files (`--cert`, `--key`).
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, String> {
        PushTls::from_files(cert, key).map(Self)
    }

    /// The certificate kept in `dir`, or, the first time, a new authority ([`CA_FILE`]) and a
    /// certificate it signs for `names`, written there (`--tls-dir`).
    pub fn in_dir(dir: &Path, names: &[String]) -> Result<Self, String> {
        PushTls::in_dir_as(dir, names, &RECORDER_FILES).map(Self)
    }

    /// The authority file, when the certificate was generated.
    pub fn authority(&self) -> Option<&Path> {
        self.0.ca.as_deref()
    }
}

/// TLS on one link: toward the component that connects, and toward the upstream.
#[derive(Clone)]
pub struct LinkTls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) upstream: TlsClient,
}

impl std::fmt::Debug for LinkTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkTls")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl LinkTls {
    /// TLS for `link`: the protocols offered in ALPN are the link's (`imap`; `h2` and
    /// `http/1.1` for the provider API; none for the device channel).
    pub fn new(link: Link, certificate: &RecorderCertificate, upstream: &TlsClient) -> Self {
        let alpn: &[&[u8]] = match link {
            Link::Imap => &[b"imap"],
            Link::Push => &[b"h2", b"http/1.1"],
            Link::Device => &[],
        };
        Self {
            acceptor: certificate.0.acceptor(alpn),
            // The provider link chooses its upstream protocol per connection.
            upstream: upstream.with_alpn(&[]),
        }
    }
}
