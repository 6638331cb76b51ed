//! TLS material of the push server: a configured PEM certificate, or a self-signed one generated
//! at start (`mailpush-tls`). Both listeners share it.

pub use mailpush_tls::{TlsMaterial, localhost};

/// The protocols offered in ALPN.
pub(crate) const ALPN: &[&[u8]] = &[b"http/1.1"];
