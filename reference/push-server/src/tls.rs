//! TLS material of the push server: a configured PEM certificate, or a self-signed one generated
//! at start (`mailpush-tls`). Both listeners share it.

pub use mailpush_tls::{TlsMaterial, localhost};

/// The protocols offered in ALPN: the provider API speaks both; device clients offer none.
pub(crate) const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];
