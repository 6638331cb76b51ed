//! Error codes (PROV-14) and the error body every status of 400 or above carries (PROV-13).

use std::fmt;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Response, StatusCode};

use crate::Error;
use crate::fields::header;

/// The error codes of PROV-14, each with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// 400: no `TTL` (PROV-4).
    MissingTtl,
    /// 400: a malformed `TTL` (PROV-4, PROV-28).
    BadTtl,
    /// 400: a malformed `Topic` (PROV-5, PROV-28).
    BadTopic,
    /// 400: a malformed `Urgency` (PROV-6, PROV-28).
    BadUrgency,
    /// 400: a payload not of the shape of PROV-8.
    BadPayload,
    /// 400: a media type other than `application/json` (PROV-8, PROV-29).
    BadContentType,
    /// 400: any other malformed request (a device token's syntax, a registration's body).
    BadRequest,
    /// 401: missing, malformed or unknown credentials (PROV-2, PROV-16, PROV-31).
    Unauthorized,
    /// 404: a push to a token never registered (PROV-10).
    UnknownDevice,
    /// 404: no such resource (PROV-35).
    NotFound,
    /// 405: the method is not defined for the resource (PROV-35).
    MethodNotAllowed,
    /// 410: a push to an unregistered token (PROV-11).
    Unregistered,
    /// 413: a payload over 4096 octets (PROV-7).
    PayloadTooLarge,
    /// 429: over the rate limit (PROV-12).
    RateLimited,
    /// 431: a request head over its bound (PROV-3, PROV-30).
    HeadersTooLarge,
    /// 500: the server failed; nothing was accepted.
    InternalError,
    /// 503: over the registration limit (PROV-17).
    RegistrationLimit,
}

impl ErrorCode {
    /// Every error code, in the order of PROV-14's table.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::MissingTtl,
        ErrorCode::BadTtl,
        ErrorCode::BadTopic,
        ErrorCode::BadUrgency,
        ErrorCode::BadPayload,
        ErrorCode::BadContentType,
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::UnknownDevice,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Unregistered,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::HeadersTooLarge,
        ErrorCode::InternalError,
        ErrorCode::RegistrationLimit,
    ];

    /// The status that goes with the code.
    //= spec/provider-api.md#PROV-14
    //# The server MUST use these error codes with these statuses
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::MissingTtl
            | ErrorCode::BadTtl
            | ErrorCode::BadTopic
            | ErrorCode::BadUrgency
            | ErrorCode::BadPayload
            | ErrorCode::BadContentType
            | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::UnknownDevice | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unregistered => StatusCode::GONE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::RegistrationLimit => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `error` member's text.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingTtl => "missing-ttl",
            ErrorCode::BadTtl => "bad-ttl",
            ErrorCode::BadTopic => "bad-topic",
            ErrorCode::BadUrgency => "bad-urgency",
            ErrorCode::BadPayload => "bad-payload",
            ErrorCode::BadContentType => "bad-content-type",
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnknownDevice => "unknown-device",
            ErrorCode::NotFound => "not-found",
            ErrorCode::MethodNotAllowed => "method-not-allowed",
            ErrorCode::Unregistered => "unregistered",
            ErrorCode::PayloadTooLarge => "payload-too-large",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::HeadersTooLarge => "headers-too-large",
            ErrorCode::InternalError => "internal-error",
            ErrorCode::RegistrationLimit => "registration-limit",
        }
    }

    /// The code named by an `error` member.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of an error response (PROV-13): `{"code":<status>,"error":<code>,"message":<text>}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// The error code; `code` in the JSON is its status.
    pub code: ErrorCode,
    /// Human-readable text.
    pub message: String,
}

impl ErrorBody {
    /// An error body.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> Bytes {
        let body = serde_json::json!({
            "code": self.code.status().as_u16(),
            "error": self.code.as_str(),
            "message": self.message,
        });
        Bytes::from(body.to_string())
    }

    /// Reads the error body of a response with `status`: its `code` must repeat the status and
    /// its `error` must be a code of that status.
    pub fn parse(status: StatusCode, body: &[u8]) -> Result<Self, Error> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| Error::BadResponse("error body not JSON"))?;
        if value.get("code").and_then(serde_json::Value::as_u64) != Some(u64::from(status.as_u16()))
        {
            return Err(Error::BadResponse("error body's code is not the status"));
        }
        let code = value
            .get("error")
            .and_then(serde_json::Value::as_str)
            .and_then(ErrorCode::parse)
            .filter(|code| code.status() == status)
            .ok_or(Error::BadResponse(
                "error body's error is not a code of the status",
            ))?;
        let message = value
            .get("message")
            .and_then(serde_json::Value::as_str)
            .ok_or(Error::BadResponse("error body has no message"))?;
        Ok(Self::new(code, message))
    }

    /// The response: the code's status, `Content-Type: application/json` and the JSON body; a
    /// `401` also carries `WWW-Authenticate: Bearer` (PROV-2).
    //= spec/provider-api.md#PROV-13
    //# Every response with a status of 400 or above MUST carry `Content-Type:
    //# application/json` and a body of this shape
    pub fn to_response(&self) -> Response<Bytes> {
        let mut response = Response::new(self.to_json());
        *response.status_mut() = self.code.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(header::APPLICATION_JSON),
        );
        //= spec/provider-api.md#PROV-2
        //# A missing, malformed or unknown token MUST be answered `401` with a
        //# `WWW-Authenticate: Bearer` header and an error body
        if self.code == ErrorCode::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_bodies() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            let body = ErrorBody::new(code, format!("{code} \"quoted\""));
            let response = body.to_response();
            assert_eq!(response.status(), code.status());
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                header::APPLICATION_JSON
            );
            assert_eq!(
                response.headers().contains_key(header::WWW_AUTHENTICATE),
                code == ErrorCode::Unauthorized
            );
            assert_eq!(ErrorBody::parse(code.status(), response.body()), Ok(body));
        }
    }

    #[test]
    fn bodies_that_do_not_match_their_status_are_refused() {
        let body = ErrorBody::new(ErrorCode::BadTtl, "x").to_json();
        assert!(ErrorBody::parse(StatusCode::NOT_FOUND, &body).is_err());
        let wrong_code = br#"{"code":404,"error":"bad-ttl","message":"x"}"#;
        assert!(ErrorBody::parse(StatusCode::NOT_FOUND, wrong_code).is_err());
        assert!(ErrorBody::parse(StatusCode::BAD_REQUEST, b"<html>").is_err());
    }
}
