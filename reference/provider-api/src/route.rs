//! The resources of the provider API and their methods (PROV-35).

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, Response};

use crate::fields::header;
use crate::{ErrorBody, ErrorCode};

pub(crate) const PUSH_PREFIX: &str = "/v1/push/";
pub(crate) const DEVICES: &str = "/v1/devices";
pub(crate) const MESSAGE_PREFIX: &str = "/v1/message/";
const METRICS: &str = "/metrics";

/// The resource and method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `POST /v1/push/<segment>`: a push (PROV-4); the segment is not checked yet.
    Push {
        /// The path segment that should be a device token.
        token: &'a str,
    },
    /// `POST /v1/devices`: a registration (PROV-15).
    Register,
    /// `DELETE /v1/devices/<segment>`: an unregistration (PROV-16).
    Unregister {
        /// The path segment that should be a device token.
        token: &'a str,
    },
    /// `GET /metrics` (PROV-26).
    Metrics,
}

/// Why a request names no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// `404 not-found`: the path names no resource.
    NotFound,
    /// `405 method-not-allowed`: the resource exists; `allow` is its method.
    MethodNotAllowed {
        /// The `Allow` field value.
        allow: &'static str,
    },
}

impl RouteError {
    /// The error response, with `Allow` on a `405` (RFC 9110 §15.5.6).
    pub fn to_response(self) -> Response<Bytes> {
        match self {
            RouteError::NotFound => {
                ErrorBody::new(ErrorCode::NotFound, "no such resource").to_response()
            }
            RouteError::MethodNotAllowed { allow } => {
                let mut response = ErrorBody::new(
                    ErrorCode::MethodNotAllowed,
                    format!("this resource allows {allow} only"),
                )
                .to_response();
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                response
            }
        }
    }
}

/// The route of `method` on `path` (the path of the request target, without its query).
//= spec/provider-api.md#PROV-35
//# MUST be
//# answered `404` with error `not-found`; a path that is one of them with another method MUST be
//# answered `405` with error `method-not-allowed` and an `Allow` header naming the method of the
//# table.
pub fn route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, RouteError> {
    let segment = |prefix: &str| path.strip_prefix(prefix).filter(|rest| !rest.contains('/'));
    let (route, allow) = if let Some(token) = segment(PUSH_PREFIX) {
        (Route::Push { token }, Method::POST)
    } else if path == DEVICES {
        (Route::Register, Method::POST)
    } else if let Some(token) = path
        .strip_prefix(DEVICES)
        .and_then(|rest| rest.strip_prefix('/').filter(|rest| !rest.contains('/')))
    {
        (Route::Unregister { token }, Method::DELETE)
    } else if path == METRICS {
        (Route::Metrics, Method::GET)
    } else {
        return Err(RouteError::NotFound);
    };
    if *method == allow {
        Ok(route)
    } else {
        Err(RouteError::MethodNotAllowed {
            allow: match route {
                Route::Metrics => "GET",
                Route::Unregister { .. } => "DELETE",
                Route::Push { .. } | Route::Register => "POST",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let post = Method::POST;
        assert_eq!(route(&post, "/v1/push/ab"), Ok(Route::Push { token: "ab" }));
        assert_eq!(route(&post, "/v1/push/"), Ok(Route::Push { token: "" }));
        assert_eq!(route(&post, "/v1/devices"), Ok(Route::Register));
        assert_eq!(
            route(&Method::DELETE, "/v1/devices/ab"),
            Ok(Route::Unregister { token: "ab" })
        );
        assert_eq!(route(&Method::GET, "/metrics"), Ok(Route::Metrics));
        for path in [
            "/",
            "",
            "/v1/push",
            "/v1/push/a/b",
            "//v1/push/a",
            "/v1/devices/a/b",
            "/v1/message/a/1",
            "/metrics/",
        ] {
            assert_eq!(route(&post, path), Err(RouteError::NotFound), "{path}");
        }
        assert_eq!(
            route(&Method::GET, "/v1/push/ab"),
            Err(RouteError::MethodNotAllowed { allow: "POST" })
        );
        assert_eq!(
            route(&post, "/v1/devices/ab"),
            Err(RouteError::MethodNotAllowed { allow: "DELETE" })
        );
        let response = RouteError::MethodNotAllowed { allow: "GET" }.to_response();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET");
    }
}
