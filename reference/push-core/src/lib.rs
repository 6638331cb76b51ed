//! The sans-IO core of the mailpush push server: what the provider API (spec/provider-api.md)
//! answers to a request, decided from the request and from what the server holds, with no
//! sockets, runtime, clock or HTTP server. The driver (`mailpush-push-server`) reads requests
//! with hyper, loads devices from its store, and hands each step's facts in here.
//!
//! A request goes through [`Provider::request`], which routes it (PROV-34, PROV-35) and checks
//! what the request alone decides, and says what the driver must fetch next ([`Step`]):
//!
//! - a push: read the body ([`PushStart::body`]), then look the device up and apply its rate
//!   limit ([`Push::admit`]), store it and answer [`Push::created`];
//! - a registration: read the (empty) body ([`registration_body`]), count the devices
//!   ([`Provider::registration_cap`]), store one and answer with its registration;
//! - an unregistration: look the device up ([`Provider::unregistration`]), delete it and answer
//!   [`unregistered`];
//! - the metrics: answer [`metrics`] with the counters.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod provider;
mod rate;
mod secret;

pub use provider::{
    BodyFault, DeviceStatus, Provider, Push, PushStart, Refusal, Step, internal, metrics,
    registration_body, unregistered,
};
pub use rate::TokenBucket;
pub use secret::{constant_time_eq, hash_secret};
