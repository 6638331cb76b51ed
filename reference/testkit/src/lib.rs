//! Test fixtures shared by the workspace's tests.
#![forbid(unsafe_code)]

pub mod interop;
