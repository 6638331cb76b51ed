//! A push: the request a mail server sends (PROV-4..PROV-8) and the answers it gets (PROV-9..PROV-12).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};

use crate::fields::{header, singleton};
use crate::{
    DeviceToken, Error, ErrorBody, ErrorCode, MAX_PAYLOAD_LEN, MAX_RETRY_AFTER, Payload, Topic,
    Ttl, Urgency, is_json_media_type, message_path,
};

/// A push as a mail server sends it: `POST` of the payload to a device's push resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// `TTL` (PROV-4, PROV-22).
    pub ttl: Ttl,
    /// `Topic` (PROV-5, PROV-21).
    pub topic: Option<Topic>,
    /// `Urgency` (PROV-6, PROV-24).
    pub urgency: Urgency,
    /// The body (PROV-8, PROV-20).
    pub payload: Payload,
}

impl PushMessage {
    /// The request: `POST resource` with `Content-Type`, `Content-Length`, `TTL`, `Urgency`,
    /// `Topic` when there is one, and `Authorization` when given (PROV-2, see
    /// [`crate::authorization`]).
    pub fn to_request(&self, resource: Uri, authorization: Option<&HeaderValue>) -> Request<Bytes> {
        let mut request = Request::new(self.payload.to_bytes());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = resource;
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(header::APPLICATION_JSON),
        );
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(self.payload.as_bytes().len()),
        );
        headers.insert(header::TTL, self.ttl.to_header_value());
        headers.insert(
            header::URGENCY,
            HeaderValue::from_static(self.urgency.as_str()),
        );
        if let Some(topic) = &self.topic {
            headers.insert(header::TOPIC, topic.to_header_value());
        }
        //= spec/provider-api.md#PROV-2
        //# Every push request and every metrics request MUST carry
        //# `Authorization: Bearer <provider-token>`
        if let Some(value) = authorization {
            headers.insert(header::AUTHORIZATION, value.clone());
        }
        request
    }
}

/// The header fields of a push request as the push server checks them, before its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushHead {
    /// `TTL`, as the request gave it (the server may lower it, PROV-4).
    pub ttl: Ttl,
    /// `Topic`.
    pub topic: Option<Topic>,
    /// `Urgency`, `normal` when absent.
    pub urgency: Urgency,
}

impl PushHead {
    /// Checks the fields in the order of PROV-34: `TTL`, `Topic`, `Urgency`, `Content-Type`, and
    /// a `Content-Length` above [`MAX_PAYLOAD_LEN`]. The first fault found is the answer
    /// ([`Error::code`]).
    pub fn parse(headers: &HeaderMap) -> Result<Self, Error> {
        //= spec/provider-api.md#PROV-4
        //# A request without it, or with a malformed one, MUST be answered `400` with error
        //# `missing-ttl` or `bad-ttl`.
        let ttl = match singleton(headers, &header::TTL) {
            Ok(None) => return Err(Error::MissingTtl),
            Ok(Some(value)) => Ttl::parse(value)?,
            Err(()) => return Err(Error::BadTtl),
        };
        //= spec/provider-api.md#PROV-5
        //# A malformed topic MUST be answered `400` with error `bad-topic`.
        let topic = match singleton(headers, &header::TOPIC) {
            Ok(None) => None,
            Ok(Some(value)) => Some(Topic::new(value)?),
            Err(()) => return Err(Error::BadTopic),
        };
        //= spec/provider-api.md#PROV-6
        //# A malformed urgency MUST be answered `400` with error `bad-urgency`.
        let urgency = match singleton(headers, &header::URGENCY) {
            Ok(None) => Urgency::default(),
            Ok(Some(value)) => Urgency::parse(value)?,
            Err(()) => return Err(Error::BadUrgency),
        };
        match singleton(headers, &header::CONTENT_TYPE) {
            Ok(Some(value)) if is_json_media_type(value) => {}
            _ => return Err(Error::BadContentType),
        }
        //= spec/provider-api.md#PROV-7
        //# when `Content-Length` announces more
        //# than 4096 octets the server MUST answer without reading the body
        if announced_length(headers).is_some_and(|n| n > MAX_PAYLOAD_LEN as u64) {
            return Err(Error::PayloadTooLarge);
        }
        Ok(Self {
            ttl,
            topic,
            urgency,
        })
    }
}

/// The body length `Content-Length` announces, when it is one decimal number.
pub(crate) fn announced_length(headers: &HeaderMap) -> Option<u64> {
    singleton(headers, &header::CONTENT_LENGTH)
        .ok()
        .flatten()
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .map(|v| v.parse::<u64>().unwrap_or(u64::MAX))
}

/// The answer to an accepted push (PROV-9): `201 Created`, `Location` naming the push message
/// resource and the `TTL` applied (PROV-4).
pub fn created(token: &DeviceToken, id: u64, ttl: Ttl) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::CREATED;
    let headers = response.headers_mut();
    //= spec/provider-api.md#PROV-9
    //# The server MUST answer an accepted push `201 Created` with a `Location` header naming
    //# the push message resource, `/v1/message/<device-token>/<id>`
    if let Ok(location) = HeaderValue::from_str(&message_path(token, id)) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::TTL, ttl.to_header_value());
    response
}

/// The answer to a push over the rate limit (PROV-12): `429`, error `rate-limited` and
/// `Retry-After` in seconds.
pub fn rate_limited(retry_after_secs: u64) -> Response<Bytes> {
    let mut response =
        ErrorBody::new(ErrorCode::RateLimited, "too many pushes for this device").to_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// What a push service answered to a push, as far as the mail server acts on it (PROV-23).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResponse {
    /// The status.
    pub status: StatusCode,
    /// `Retry-After`, as a delay from when the response was read, at most [`MAX_RETRY_AFTER`].
    pub retry_after: Option<Duration>,
    /// The `TTL` the service applied, on a `201`.
    pub ttl: Option<Ttl>,
    /// `Location`: the push message resource, on a `201`.
    pub location: Option<String>,
}

impl PushResponse {
    /// Reads the head of a response received at `now`.
    pub fn from_parts(parts: &http::response::Parts, now: SystemTime) -> Self {
        let field = |name| singleton(&parts.headers, name).ok().flatten();
        Self {
            status: parts.status,
            retry_after: field(&header::RETRY_AFTER).and_then(|v| retry_after(v, now)),
            ttl: field(&header::TTL).and_then(|v| Ttl::parse(v).ok()),
            location: field(&header::LOCATION).map(str::to_owned),
        }
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date (IMF-fixdate or the
/// obsolete RFC 850 and asctime forms) turned into a delay from `now`; a date in the past is no
/// delay. At most [`MAX_RETRY_AFTER`]; `None` when it is neither form.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let delay = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a delay, and a long one.
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let date = httpdate::parse_http_date(value).ok()?;
        date.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str) -> SystemTime {
        httpdate::parse_http_date(date).unwrap()
    }

    /// RFC 9110 §10.2.3: `Retry-After` as delay-seconds or as an HTTP-date.
    #[test]
    fn retry_after_as_seconds_or_date() {
        let now = at("Fri, 31 Dec 1999 23:57:59 GMT");
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        // IMF-fixdate, and the obsolete RFC 850 and asctime forms.
        for date in [
            "Fri, 31 Dec 1999 23:59:59 GMT",
            "Friday, 31-Dec-99 23:59:59 GMT",
            "Fri Dec 31 23:59:59 1999",
        ] {
            assert_eq!(
                retry_after(date, now),
                Some(Duration::from_secs(120)),
                "{date}"
            );
        }
        // A date already past asks for no delay.
        assert_eq!(
            retry_after("Fri, 31 Dec 1999 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        // Far future dates and huge numbers are cut.
        assert_eq!(
            retry_after("Sat, 31 Dec 2050 23:59:59 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("", now), None);
    }

    #[test]
    fn responses_read_back() {
        let token = DeviceToken::from_octets([1; 32]);
        let (parts, _) = created(&token, 7, Ttl::from_secs(60)).into_parts();
        let read = PushResponse::from_parts(&parts, SystemTime::UNIX_EPOCH);
        assert_eq!(read.status, StatusCode::CREATED);
        assert_eq!(read.ttl, Some(Ttl::from_secs(60)));
        assert_eq!(read.location, Some(format!("/v1/message/{token}/7")));
        let (parts, body) = rate_limited(3).into_parts();
        let read = PushResponse::from_parts(&parts, SystemTime::UNIX_EPOCH);
        assert_eq!(read.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(
            ErrorBody::parse(parts.status, &body).unwrap().code,
            ErrorCode::RateLimited
        );
    }
}
