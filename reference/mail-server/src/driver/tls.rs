//! TLS material of the mail server: a configured PEM certificate, or a self-signed one generated
//! at start for local use (`mailpush-tls`).

pub use mailpush_tls::TlsMaterial;
pub(crate) use mailpush_tls::read_certificates;

/// The protocols offered in ALPN (IMAPS and STARTTLS).
pub(crate) const ALPN: &[&[u8]] = &[b"imap"];
