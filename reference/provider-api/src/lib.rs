//! The provider API of mailpush (spec/provider-api.md): how a mail server asks the push server to
//! notify a device, and how a device registers with the push server. Both ends use this crate:
//! the mail server (`mailpush-mail-notify` and its driver) builds push requests and reads the
//! answers, the push server reads requests and builds the answers, and a device registers and
//! unregisters.
//!
//! - **Vocabulary** as types that cannot be built invalid: [`DeviceToken`], [`DeviceSecret`],
//!   [`Ttl`], [`Topic`], [`Urgency`], [`AccountId`], [`MailboxDigest`], the [`Payload`] of
//!   PROV-8, the [`ErrorCode`]s of PROV-14 with their [`ErrorBody`], and the
//!   [`DeviceRegistration`] of PROV-15.
//! - **Encodings** over the `http` crate's types, with no I/O: the header names are defined once
//!   ([`header`]); [`PushMessage::to_request`] and [`PushHead::parse`] are the two ends of a push,
//!   [`PushResponse::from_parts`] reads what the push server answered with [`created`] or
//!   [`ErrorBody::to_response`]; [`DeviceRegistration::request`] and
//!   [`DeviceRegistration::from_response`] register a device, [`unregistration_request`] and
//!   [`unregistration_outcome`] unregister it; [`route`] names the resource a request is for.
//!
//! ```
//! use mailpush_provider_api::*;
//!
//! let token = DeviceToken::parse_any_case(&"AB".repeat(32)).unwrap();
//! let payload = Payload::new(
//!     AccountId::new("0715A26B").unwrap(),
//!     [MailboxDigest::of(b"INBOX")],
//! )
//! .unwrap();
//! let message = PushMessage {
//!     ttl: Ttl::from_secs(3600),
//!     topic: Some(Topic::for_account(payload.account_id())),
//!     urgency: Urgency::Normal,
//!     payload,
//! };
//! let resource = format!("https://push.example{}", push_path(&token)).parse().unwrap();
//! let request = message.to_request(resource, Some(&authorization("mail-secret").unwrap()));
//!
//! // The push server's side: the same request, checked.
//! let route = route(request.method(), request.uri().path()).unwrap();
//! assert_eq!(route, Route::Push { token: token.as_str() });
//! let head = PushHead::parse(request.headers()).unwrap();
//! assert_eq!(head.ttl, Ttl::from_secs(3600));
//! let received = Payload::parse(request.body()).unwrap();
//! assert_eq!(received.mailboxes(), &[MailboxDigest::of(b"INBOX")]);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod devices;
mod error;
mod fields;
mod payload;
mod push;
mod route;
mod token;

pub use devices::{DeviceRegistration, unregistration_outcome, unregistration_request};
pub use error::{ErrorBody, ErrorCode};
pub use fields::{Topic, Ttl, Urgency, header, is_json_media_type};
pub use payload::{AccountId, MailboxDigest, Payload};
pub use push::{PushHead, PushMessage, PushResponse, created, rate_limited, retry_after};
pub use route::{Route, RouteError, route};
pub use token::{DeviceSecret, DeviceToken, authorization, bearer};

use http::StatusCode;

/// Largest push payload, in octets (PROV-7).
pub const MAX_PAYLOAD_LEN: usize = 4096;

/// Default bound of a request head: the request line and the header section (PROV-3).
pub const MAX_HEAD_LEN: usize = 16 * 1024;

/// Longest account id, in octets (PROV-8).
pub const MAX_ACCOUNT_ID_LEN: usize = 256;

/// Longest `Retry-After` taken from a response; longer ones are cut to it.
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Path of the push resource of a device token (PROV-4's `push-request`, PROV-15's `push`).
pub fn push_path(token: &DeviceToken) -> String {
    format!("{}{token}", route::PUSH_PREFIX)
}

/// Path of a device (PROV-15's `Location`, PROV-16).
pub fn device_path(token: &DeviceToken) -> String {
    format!("{}/{token}", route::DEVICES)
}

/// Path of a push message resource (PROV-9's `Location`).
pub fn message_path(token: &DeviceToken, id: u64) -> String {
    format!("{}{token}/{id}", route::MESSAGE_PREFIX)
}

/// Why a value, a request or a response does not fit the provider API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A device token is not 64 hexadecimal characters (lowercase where the rule asks for it).
    #[error("a device token is 64 hexadecimal characters")]
    DeviceToken,
    /// A device secret is not 64 lowercase hexadecimal characters.
    #[error("a device secret is 64 lowercase hexadecimal characters")]
    DeviceSecret,
    /// A bearer token is empty, longer than 4096 octets or holds octets outside `%x21-7E`.
    #[error("a bearer token is 1 to 4096 characters of %x21-7E")]
    BearerToken,
    /// The request has no `TTL` field (PROV-4).
    #[error("the TTL header is required")]
    MissingTtl,
    /// `TTL` is not 1 to 10 digits of at most 4294967295, or comes more than once (PROV-4,
    /// PROV-28).
    #[error("TTL must be one decimal number of seconds, 0 to 4294967295")]
    BadTtl,
    /// `Topic` is not 1 to 32 characters of `A-Z a-z 0-9 - _`, or comes more than once (PROV-5,
    /// PROV-28).
    #[error("Topic is 1 to 32 characters of A-Z a-z 0-9 - _")]
    BadTopic,
    /// `Urgency` is not one of the four urgencies, or comes more than once (PROV-6, PROV-28).
    #[error("Urgency is very-low, low, normal or high")]
    BadUrgency,
    /// `Content-Type` is absent, comes more than once or is not `application/json` (PROV-8,
    /// PROV-29).
    #[error("the payload must be application/json")]
    BadContentType,
    /// An account id is empty or longer than [`MAX_ACCOUNT_ID_LEN`] octets (PROV-8).
    #[error("an account id is 1 to 256 octets, not {0}")]
    AccountId(usize),
    /// A mailbox digest is not 32 lowercase hexadecimal characters (PROV-8).
    #[error("a mailbox digest is 32 lowercase hexadecimal characters")]
    MailboxDigest,
    /// A payload is not JSON of the shape of PROV-8; says what is wrong.
    #[error(
        "the payload must be {{\"aps\":{{\"account-id\":\"...\",\"m\":[\"<md5 hex>\", ...]}}}}: {0}"
    )]
    BadPayload(&'static str),
    /// A payload exceeds [`MAX_PAYLOAD_LEN`] octets (PROV-7).
    #[error("the payload exceeds 4096 octets")]
    PayloadTooLarge,
    /// A registration request has a body (PROV-32).
    #[error("a registration has an empty body")]
    RegistrationBody,
    /// A base URL and a path do not make a URI.
    #[error("not a URI: {0}")]
    BadUri(String),
    /// The service refused a request: its status and, when it sent one, its error body.
    #[error("refused with {status}{}", error.as_ref().map(|e| format!(": {} ({})", e.code, e.message)).unwrap_or_default())]
    Refused {
        /// The status.
        status: StatusCode,
        /// The error body of PROV-13, when the response carried one.
        error: Option<ErrorBody>,
    },
    /// A response does not have the shape the spec gives it; says what is wrong.
    #[error("malformed response: {0}")]
    BadResponse(&'static str),
}

impl Error {
    /// The error code a server answers a request with this fault (PROV-14); `None` for the
    /// faults of responses and of local values.
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            Error::DeviceToken | Error::RegistrationBody | Error::BadUri(_) => {
                ErrorCode::BadRequest
            }
            Error::DeviceSecret | Error::BearerToken => ErrorCode::Unauthorized,
            Error::MissingTtl => ErrorCode::MissingTtl,
            Error::BadTtl => ErrorCode::BadTtl,
            Error::BadTopic => ErrorCode::BadTopic,
            Error::BadUrgency => ErrorCode::BadUrgency,
            Error::BadContentType => ErrorCode::BadContentType,
            Error::AccountId(_) | Error::MailboxDigest | Error::BadPayload(_) => {
                ErrorCode::BadPayload
            }
            Error::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Error::Refused { .. } | Error::BadResponse(_) => return None,
        })
    }

    /// The error body a server answers a request with this fault; `None` as for
    /// [`Error::code`].
    pub fn to_body(&self) -> Option<ErrorBody> {
        self.code()
            .map(|code| ErrorBody::new(code, self.to_string()))
    }
}
