//! Device registration (PROV-15, PROV-31..PROV-33) and unregistration (PROV-16): both ends.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};

use crate::fields::header;
use crate::push::announced_length;
use crate::{DeviceSecret, DeviceToken, Error, ErrorBody, device_path, push_path, route};

/// What the push server gives a device that registers (PROV-15): its token and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRegistration {
    /// The device token; the device gives it to mail servers.
    pub token: DeviceToken,
    /// The device secret; the device keeps it.
    pub secret: DeviceSecret,
}

/// `base` (scheme, authority and an optional path prefix) followed by `path`.
fn under(base: &Uri, path: &str) -> Result<Uri, Error> {
    let (Some(scheme), Some(authority)) = (base.scheme_str(), base.authority()) else {
        return Err(Error::BadUri(format!("{base} has no scheme and host")));
    };
    let prefix = base.path().trim_end_matches('/');
    format!("{scheme}://{authority}{prefix}{path}")
        .parse()
        .map_err(|e| Error::BadUri(format!("{base}: {e}")))
}

/// Reads a response that should have `expected` status: anything else is [`Error::Refused`]
/// with the error body when the response carries one.
fn expect(status: StatusCode, expected: StatusCode, body: &[u8]) -> Result<(), Error> {
    if status == expected {
        return Ok(());
    }
    Err(Error::Refused {
        status,
        error: ErrorBody::parse(status, body).ok(),
    })
}

impl DeviceRegistration {
    /// The registration request to the push server at `base` (for example
    /// `https://push.example:8443`): `POST <base>/v1/devices` with the registration token and an
    /// empty body (PROV-15, PROV-32).
    pub fn request(base: &Uri, registration_token: &str) -> Result<Request<Bytes>, Error> {
        let mut request = Request::new(Bytes::new());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = under(base, route::DEVICES)?;
        let headers = request.headers_mut();
        headers.insert(
            header::AUTHORIZATION,
            crate::authorization(registration_token)?,
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        Ok(request)
    }

    /// Reads the answer to [`DeviceRegistration::request`]: `201` with the JSON body of PROV-15.
    pub fn from_response(parts: &http::response::Parts, body: &[u8]) -> Result<Self, Error> {
        expect(parts.status, StatusCode::CREATED, body)?;
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| Error::BadResponse("registration body not JSON"))?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(serde_json::Value::as_str)
                .ok_or(Error::BadResponse(
                    "registration body lacks token, secret or push",
                ))
        };
        let registration = Self {
            token: DeviceToken::parse(field("token")?)?,
            secret: DeviceSecret::parse(field("secret")?)?,
        };
        if field("push")? != registration.push_path() {
            return Err(Error::BadResponse(
                "registration's push is not its token's resource",
            ));
        }
        Ok(registration)
    }

    /// The path of the device's push resource, `/v1/push/<token>`.
    pub fn push_path(&self) -> String {
        push_path(&self.token)
    }

    /// Checks the head of a registration request on the server: a `Content-Length` above zero is
    /// [`Error::RegistrationBody`], answered without reading the body (PROV-32); a body without
    /// `Content-Length` must be read, and refused at its first octet.
    pub fn check_request(headers: &HeaderMap) -> Result<(), Error> {
        if announced_length(headers).is_some_and(|n| n > 0) {
            return Err(Error::RegistrationBody);
        }
        Ok(())
    }

    /// The server's answer (PROV-15): `201`, `Location: /v1/devices/<token>` and the JSON body
    /// `{"token":…,"secret":…,"push":"/v1/push/<token>"}`.
    pub fn to_response(&self) -> Response<Bytes> {
        let body = serde_json::json!({
            "token": self.token.as_str(),
            "secret": self.secret.as_str(),
            "push": self.push_path(),
        });
        let mut response = Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = StatusCode::CREATED;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(header::APPLICATION_JSON),
        );
        if let Ok(location) = HeaderValue::from_str(&device_path(&self.token)) {
            headers.insert(header::LOCATION, location);
        }
        response
    }
}

/// The unregistration request to the push server at `base` (PROV-16): `DELETE
/// <base>/v1/devices/<token>` with the device's secret as bearer token.
pub fn unregistration_request(
    base: &Uri,
    token: &DeviceToken,
    secret: &DeviceSecret,
) -> Result<Request<Bytes>, Error> {
    let mut request = Request::new(Bytes::new());
    *request.method_mut() = Method::DELETE;
    *request.uri_mut() = under(base, &device_path(token))?;
    request.headers_mut().insert(
        header::AUTHORIZATION,
        crate::authorization(secret.as_str())?,
    );
    Ok(request)
}

/// Reads the answer to [`unregistration_request`]: `204` is success (PROV-16).
pub fn unregistration_outcome(parts: &http::response::Parts, body: &[u8]) -> Result<(), Error> {
    expect(parts.status, StatusCode::NO_CONTENT, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn base() -> Uri {
        "https://push.example:8443/prefix/".parse().unwrap()
    }

    #[test]
    fn registration_round_trip() {
        let request = DeviceRegistration::request(&base(), "dev-secret").unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(
            request.uri().to_string(),
            "https://push.example:8443/prefix/v1/devices"
        );
        assert_eq!(crate::bearer(request.headers()), Some("dev-secret"));
        assert!(DeviceRegistration::check_request(request.headers()).is_ok());

        let registration = DeviceRegistration {
            token: DeviceToken::from_octets([1; 32]),
            secret: DeviceSecret::from_octets([2; 32]),
        };
        let (parts, body) = registration.to_response().into_parts();
        assert_eq!(
            parts.headers[header::LOCATION],
            format!("/v1/devices/{}", registration.token).as_str()
        );
        assert_eq!(
            DeviceRegistration::from_response(&parts, &body),
            Ok(registration)
        );
    }

    #[test]
    fn refusals_carry_their_error_body() {
        let (parts, body) = ErrorBody::new(ErrorCode::RegistrationLimit, "full")
            .to_response()
            .into_parts();
        match DeviceRegistration::from_response(&parts, &body) {
            Err(Error::Refused {
                status,
                error: Some(error),
            }) => {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(error.code, ErrorCode::RegistrationLimit);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unregistration() {
        let token = DeviceToken::from_octets([3; 32]);
        let secret = DeviceSecret::from_octets([4; 32]);
        let request = unregistration_request(&base(), &token, &secret).unwrap();
        assert_eq!(request.method(), Method::DELETE);
        assert_eq!(request.uri().path(), format!("/prefix/v1/devices/{token}"));
        assert_eq!(crate::bearer(request.headers()), Some(secret.as_str()));
        let (parts, _) = Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(unregistration_outcome(&parts, b""), Ok(()));
    }

    #[test]
    fn bases_need_a_scheme_and_a_host() {
        let relative: Uri = "/v1".parse().unwrap();
        assert!(matches!(
            DeviceRegistration::request(&relative, "t"),
            Err(Error::BadUri(_))
        ));
    }
}
