//! The requests the notifier gives its driver.

use bytes::Bytes;
use http::HeaderValue;
use mailpush_provider_api::PushMessage;

use crate::{PushService, RegistrationKey};

/// Identifies a request until its response is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// One push for a driver to send to the device's push resource: [`PushRequest::to_http`] gives
/// the HTTP request. Works with any RFC 8030 push service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest<U> {
    /// Give it back to [`crate::Notifier::handle_response`].
    pub id: RequestId,
    /// The registration it is for.
    pub registration: RegistrationKey<U>,
    /// The mailboxes it reports, as the client spelled them, in payload order.
    pub mailboxes: Vec<String>,
    /// `TTL` (PROV-22), `Topic` (PROV-21), `Urgency` (PROV-24) and the payload (PROV-20).
    pub message: PushMessage,
}

impl<U> PushRequest<U> {
    /// The HTTP request: `POST` to the registration's push resource at `service`, with the
    /// provider's `Authorization` when given (PROV-2, [`mailpush_provider_api::authorization`]).
    pub fn to_http(
        &self,
        service: &PushService,
        authorization: Option<&HeaderValue>,
    ) -> http::Request<Bytes> {
        //= spec/provider-api.md#PROV-27
        //# The mail server MUST send the pushes of a registration to
        //# the push resource that its device token names
        let resource = service.resource(&self.registration.device_token);
        self.message.to_request(resource, authorization)
    }
}
