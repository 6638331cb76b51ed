//! nom streaming parsers, one function per ABNF rule, each citing it.

pub mod command;
pub mod core;
pub mod response;

pub use self::core::{PError, PErrorKind, PResult};
