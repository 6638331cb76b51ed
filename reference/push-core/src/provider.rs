//! The provider API's decisions, step by step (PROV-34's order).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use mailpush_provider_api::{
    DeviceRegistration, DeviceToken, Error as ApiError, ErrorBody, ErrorCode, MAX_PAYLOAD_LEN,
    Payload, PushHead, Route, Topic, Ttl, bearer, created, rate_limited, route,
};
use mailpush_push_proto::Payload as RingPayload;

use crate::secret::{constant_time_eq, hash_secret};

// What the provider API accepts, the device channel must carry (CHAN-5).
const _: () = assert!(MAX_PAYLOAD_LEN <= mailpush_push_proto::MAX_PAYLOAD_LEN);

fn refuse(code: ErrorCode, message: &str) -> Response<Bytes> {
    ErrorBody::new(code, message).to_response()
}

/// The answer to a request fault found by `mailpush-provider-api`.
fn refuse_for(error: &ApiError) -> Response<Bytes> {
    error
        .to_body()
        .map_or_else(internal, |body| body.to_response())
}

/// The answer when the server itself failed (its store): `500`, nothing accepted.
pub fn internal() -> Response<Bytes> {
    refuse(
        ErrorCode::InternalError,
        "the server failed; nothing was accepted",
    )
}

fn unauthorized(message: &str) -> Response<Bytes> {
    refuse(ErrorCode::Unauthorized, message)
}

/// The answer to a body that could not be read whole.
fn body_failed() -> Response<Bytes> {
    refuse(ErrorCode::BadRequest, "the body could not be read")
}

/// A refusal: the whole answer to a request, boxed, as it is large beside an `Ok`.
pub type Refusal = Box<Response<Bytes>>;

/// The server's settings the provider API decides by.
#[derive(Debug, Clone, Copy)]
pub struct Provider<'a> {
    /// Bearer tokens of mail servers (PROV-2).
    pub provider_tokens: &'a [String],
    /// Bearer tokens allowed to register devices (PROV-31).
    pub registration_tokens: &'a [String],
    /// Largest TTL kept; longer ones are shortened to it (PROV-4).
    pub max_ttl_secs: u32,
    /// Most registered devices (PROV-17).
    pub max_devices: u64,
}

/// What a device token names, as the server holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Never registered.
    Unknown,
    /// Registered, then unregistered.
    Unregistered,
    /// Registered.
    Registered,
}

/// Why a body was not read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    /// It has more octets than the limit the step named.
    TooLarge,
    /// The connection failed while it arrived.
    Failed,
}

/// What a request needs next.
#[derive(Debug)]
pub enum Step {
    /// The answer is known.
    Answer(Response<Bytes>),
    /// A push whose head is fine: read at most [`PushStart::BODY_LIMIT`] octets of its body.
    Push(PushStart),
    /// A registration with valid credentials and no announced body: read at most
    /// [`Step::REGISTRATION_BODY_LIMIT`] octets of the body, then [`registration_body`].
    Register,
    /// An unregistration of a well-formed token: look the device up, then
    /// [`Provider::unregistration`].
    Unregister {
        /// The device.
        token: DeviceToken,
    },
    /// The metrics, for an authenticated provider: answer [`metrics`].
    Metrics,
}

impl Step {
    /// A registration has no body (PROV-32).
    pub const REGISTRATION_BODY_LIMIT: usize = 0;
}

fn bearer_matches(headers: &HeaderMap, tokens: &[String]) -> bool {
    let Some(given) = bearer(headers) else {
        return false;
    };
    // Check every token so the time taken does not say which one nearly matched.
    tokens.iter().fold(false, |found, t| {
        found | constant_time_eq(t.as_bytes(), given.as_bytes())
    })
}

/// The device token of a path: exactly `device-token`, 64 lowercase hexadecimal characters;
/// the refusal of anything else.
fn path_token(segment: &str) -> Result<DeviceToken, Refusal> {
    DeviceToken::parse(segment).map_err(|_| {
        Box::new(refuse(
            ErrorCode::BadRequest,
            "a device token is 64 lowercase hexadecimal characters",
        ))
    })
}

impl Provider<'_> {
    /// Routes one request (PROV-35) and decides what its head alone decides.
    pub fn request(&self, method: &Method, path: &str, headers: &HeaderMap) -> Step {
        //= spec/provider-api.md#PROV-34
        //# The route comes first
        match route(method, path) {
            Err(refusal) => Step::Answer(refusal.to_response()),
            Ok(Route::Push { token }) => self.push(token, headers),
            Ok(Route::Register) => self.register(headers),
            Ok(Route::Unregister { token }) => match path_token(token) {
                Ok(token) => Step::Unregister { token },
                Err(refusal) => Step::Answer(*refusal),
            },
            Ok(Route::Metrics) => {
                //= spec/provider-api.md#PROV-26
                //# The server SHOULD answer `GET /metrics`, authenticated as in [PROV-2](#PROV-2), with
                //# counters in the Prometheus text format
                if bearer_matches(headers, self.provider_tokens) {
                    Step::Metrics
                } else {
                    Step::Answer(unauthorized("a valid provider bearer token is required"))
                }
            }
        }
    }

    //= spec/provider-api.md#PROV-34
    //# a push: its credentials ([PROV-2](#PROV-2)); the syntax of the device token (`400`
    //# `bad-request`); `TTL` ([PROV-4](#PROV-4)); `Topic` ([PROV-5](#PROV-5)); `Urgency`
    //# ([PROV-6](#PROV-6)); `Content-Type` ([PROV-8](#PROV-8)); a `Content-Length` over 4096
    //# ([PROV-7](#PROV-7)); a body over 4096 octets ([PROV-7](#PROV-7)); the payload's shape
    //# ([PROV-8](#PROV-8)); a device never registered ([PROV-10](#PROV-10)) or unregistered
    //# ([PROV-11](#PROV-11)); the rate limit ([PROV-12](#PROV-12));
    fn push(&self, token: &str, headers: &HeaderMap) -> Step {
        //= spec/provider-api.md#PROV-2
        //# A missing, malformed or unknown token MUST be answered `401` with a
        //# `WWW-Authenticate: Bearer` header and an error body
        if !bearer_matches(headers, self.provider_tokens) {
            return Step::Answer(unauthorized("a valid provider bearer token is required"));
        }
        let token = match path_token(token) {
            Ok(token) => token,
            Err(refusal) => return Step::Answer(*refusal),
        };
        match PushHead::parse(headers) {
            Ok(head) => Step::Push(PushStart {
                token,
                head,
                max_ttl: Ttl::from_secs(self.max_ttl_secs),
            }),
            Err(error) => Step::Answer(refuse_for(&error)),
        }
    }

    //= spec/provider-api.md#PROV-34
    //# a registration: its credentials ([PROV-31](#PROV-31)); its body ([PROV-32](#PROV-32)); the cap
    //# ([PROV-17](#PROV-17));
    fn register(&self, headers: &HeaderMap) -> Step {
        //= spec/provider-api.md#PROV-31
        //# A registration whose `Authorization` is missing, malformed or
        //# names no registration token configured on the server MUST be answered `401` with error
        //# `unauthorized` and a `WWW-Authenticate: Bearer` header
        if !bearer_matches(headers, self.registration_tokens) {
            return Step::Answer(unauthorized(
                "a valid registration bearer token is required",
            ));
        }
        //= spec/provider-api.md#PROV-32
        //# The server MUST
        //# answer a registration with a body `400` with error `bad-request`: without reading the body when
        //# `Content-Length` announces one, and otherwise at its first octet.
        match DeviceRegistration::check_request(headers) {
            Ok(()) => Step::Register,
            Err(error) => Step::Answer(refuse_for(&error)),
        }
    }

    /// Whether one more device may register, with `active` registered now; the refusal if not.
    pub fn registration_cap(&self, active: u64) -> Result<(), Refusal> {
        //= spec/provider-api.md#PROV-17
        //# and MUST answer a registration over the cap `503` with error
        //# `registration-limit`.
        if active >= self.max_devices {
            return Err(Box::new(refuse(
                ErrorCode::RegistrationLimit,
                "the server holds as many devices as it may",
            )));
        }
        Ok(())
    }

    //= spec/provider-api.md#PROV-34
    //# an unregistration: the syntax of the device token (`400` `bad-request`); a token never
    //# registered (`404` `unknown-device`); the secret ([PROV-16](#PROV-16)); a token already
    //# unregistered (`410` `unregistered`);
    /// Whether the device of an unregistration may be unregistered: `device` is its status and
    /// the hash of its secret as stored ([`hash_secret`]), `None` when never registered.
    pub fn unregistration(
        &self,
        headers: &HeaderMap,
        device: Option<(DeviceStatus, &str)>,
    ) -> Result<(), Refusal> {
        let Some((status, secret_hash)) = device else {
            return Err(Box::new(unknown_device()));
        };
        //= spec/provider-api.md#PROV-16
        //# a wrong or missing secret MUST be answered `401`.
        let secret_ok = bearer(headers).is_some_and(|secret| {
            constant_time_eq(hash_secret(secret).as_bytes(), secret_hash.as_bytes())
        });
        if !secret_ok {
            return Err(Box::new(unauthorized("the device secret is required")));
        }
        match status {
            DeviceStatus::Registered => Ok(()),
            DeviceStatus::Unregistered => Err(Box::new(gone())),
            DeviceStatus::Unknown => Err(Box::new(unknown_device())),
        }
    }
}

fn unknown_device() -> Response<Bytes> {
    //= spec/provider-api.md#PROV-10
    //# A push to a device token that was never registered MUST be answered `404` with
    //# error `unknown-device`.
    refuse(ErrorCode::UnknownDevice, "no device has this token")
}

fn gone() -> Response<Bytes> {
    //= spec/provider-api.md#PROV-11
    //# A push to a device token that was registered and then unregistered MUST
    //# be answered `410` with error `unregistered`.
    refuse(ErrorCode::Unregistered, "the device unregistered")
}

/// Checks the body of a registration, read up to [`Step::REGISTRATION_BODY_LIMIT`].
pub fn registration_body(body: Result<Bytes, BodyFault>) -> Result<(), Refusal> {
    match body {
        Ok(_) => Ok(()),
        Err(BodyFault::TooLarge) => Err(Box::new(refuse_for(&ApiError::RegistrationBody))),
        Err(BodyFault::Failed) => Err(Box::new(body_failed())),
    }
}

/// The answer to a done unregistration.
pub fn unregistered() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The answer to `GET /metrics`: each counter as `(name, type, value)`.
pub fn metrics(counters: &[(&str, &str, u64)]) -> Response<Bytes> {
    let mut text = String::new();
    for (name, kind, value) in counters {
        text.push_str(&format!("# TYPE {name} {kind}\n{name} {value}\n"));
    }
    let mut response = Response::new(Bytes::from(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// A push whose head was accepted, waiting for its body.
#[derive(Debug)]
pub struct PushStart {
    token: DeviceToken,
    head: PushHead,
    max_ttl: Ttl,
}

impl PushStart {
    //= spec/provider-api.md#PROV-7
    //# and otherwise MUST stop reading
    //# at the 4097th octet.
    /// Most body octets to read; one more is [`BodyFault::TooLarge`].
    pub const BODY_LIMIT: usize = MAX_PAYLOAD_LEN;

    /// The device the push is for.
    pub fn token(&self) -> &DeviceToken {
        &self.token
    }

    /// Checks the body, read up to [`PushStart::BODY_LIMIT`].
    pub fn body(self, body: Result<Bytes, BodyFault>) -> Result<Push, Refusal> {
        let body = match body {
            Ok(body) => body,
            Err(BodyFault::TooLarge) => {
                return Err(Box::new(refuse_for(&ApiError::PayloadTooLarge)));
            }
            Err(BodyFault::Failed) => return Err(Box::new(body_failed())),
        };
        //= spec/provider-api.md#PROV-8
        //# The server MUST answer a payload that is not JSON or
        //# lacks this shape `400` with error `bad-payload`
        let payload = Payload::parse(&body).map_err(|error| Box::new(refuse_for(&error)))?;
        let payload = RingPayload::new(payload.to_bytes().to_vec())
            .map_err(|_| Box::new(refuse_for(&ApiError::PayloadTooLarge)))?;
        Ok(Push {
            ttl: self.head.ttl.min(self.max_ttl),
            topic: self.head.topic,
            token: self.token,
            payload,
        })
    }
}

/// A push whose request is fine, to be checked against its device.
#[derive(Debug)]
pub struct Push {
    /// The device.
    pub token: DeviceToken,
    /// Its TTL, shortened to the server's maximum.
    pub ttl: Ttl,
    /// Its topic.
    pub topic: Option<Topic>,
    /// Its payload, as the device channel carries it.
    pub payload: RingPayload,
}

impl Push {
    /// Whether the device takes the push: `status` is the device's, `rate_limit` takes one
    /// push from its rate (and says in how many seconds to retry when none is left). Called
    /// only for a registered device.
    pub fn admit(
        &self,
        status: DeviceStatus,
        rate_limit: impl FnOnce() -> Result<(), u64>,
    ) -> Result<(), Refusal> {
        match status {
            DeviceStatus::Unknown => return Err(Box::new(unknown_device())),
            DeviceStatus::Unregistered => return Err(Box::new(gone())),
            DeviceStatus::Registered => {}
        }
        //= spec/provider-api.md#PROV-12
        //# A request over the limit MUST be answered
        //# `429` with error `rate-limited` and a `Retry-After` header (seconds), and MUST NOT be stored.
        rate_limit().map_err(|secs| Box::new(rate_limited(secs)))
    }

    /// The answer once the push is stored durably as notification `id`.
    pub fn created(&self, id: u64) -> Response<Bytes> {
        created(&self.token, id, self.ttl)
    }
}
