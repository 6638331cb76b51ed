//! XAPPLEPUSHSERVICE (spec/imap-push.md): a device registers for pushes about mailboxes.

use mailpush_imap::xaps::{XapsRefusal, XapsRequest};
use mailpush_imap::{Data, IString, XapsRegistration, XapsResponse};
use mailpush_mutants::{Mutant, active};
use mailpush_provider_api::DeviceToken;

use mailpush_trace::{EventKind, Record};

use super::Context;
use super::output::{Reply, other_code};
use crate::store::{MailBackend, RegistrationRequest, StoreError, UserId};

impl<B: MailBackend> Context<B> {
    pub(super) fn xaps(&mut self, user: UserId, reg: &XapsRegistration) -> Result<Reply, Reply> {
        if !self.config.xaps {
            return Err(Reply::bad(
                "XAPPLEPUSHSERVICE is not offered by this server",
            ));
        }
        let request: XapsRequest = reg
            .interpret(self.config.xaps_limits)
            .map_err(|r| match r {
                XapsRefusal::Bad(t) => Reply::bad(t),
                XapsRefusal::No(t) => Reply::no(t),
            })?;
        let utf8 = |b: &[u8], what: &str| {
            String::from_utf8(b.to_vec()).map_err(|_| Reply::bad(format!("{what} must be UTF-8")))
        };
        let account_id = utf8(&request.account_id, "aps-account-id")?;
        let device_token = utf8(&request.device_token, "aps-device-token")?;
        //= spec/imap-push.md#XAPS-20
        //# A server MUST reply `NO` with a text naming the problem,
        //# and record nothing, when the value of `aps-device-token` names no push resource of its push
        //# service
        //= spec/provider-api.md#PROV-27
        //# the mail server MUST refuse to register any other token
        //= spec/imap-push.md#XAPS-20
        //# a mailpush mail server accepts exactly 64
        //# hexadecimal characters, in either case, and stores and pushes the token in lowercase, so that the
        //# same device registered with either spelling is one registration.
        let device_token = match DeviceToken::parse_any_case(&device_token) {
            Ok(token) => token.as_str().to_owned(),
            Err(_) if active(Mutant::XapsAnyToken) => device_token,
            Err(_) => {
                return Err(Reply::no(
                    "aps-device-token must be 64 hexadecimal characters",
                ));
            }
        };
        let subtopic = request
            .subtopic
            .as_deref()
            .map(|s| utf8(s, "aps-subtopic"))
            .transpose()?;
        let version = request.negotiated_version();
        // A name that is not UTF-8 names no mailbox of the store, so it is simply not
        // acknowledged (XAPS-10).
        let mailboxes: Vec<String> = request
            .requested_mailboxes()
            .iter()
            .filter_map(|m| String::from_utf8(m.as_bytes().to_vec()).ok())
            .collect();
        let label = self
            .trace
            .is_on()
            .then(|| mailpush_trace::Label::of_device_token(&device_token));
        let registration = RegistrationRequest {
            account_id,
            device_token,
            subtopic,
            version: version.get(),
            mailboxes,
        };
        //= spec/imap-push.md#XAPS-15
        //# The server MUST store the registration durably before it sends the tagged
        //# `OK`
        let acknowledged = match self
            .backend
            .register_push(user, &registration, self.now.wall)
        {
            Err(StoreError::RegistrationLimit { limit }) => {
                //= spec/imap-push.md#XAPS-17
                //# A command that would create a registration beyond the limit MUST get
                //# `NO [LIMIT]` (RFC 5530) and MUST NOT change or evict any stored registration
                return Err(
                    Reply::no(format!("Too many push registrations (limit {limit})"))
                        .code(other_code("LIMIT")),
                );
            }
            other => other?,
        };
        //= spec/imap-push.md#XAPS-11
        //# Under version 2 the server MUST send, before the tagged `OK`, one untagged
        //# `* XAPPLEPUSHSERVICE "mailbox" <name>` line per acknowledged mailbox, in the order of the request,
        //# with the name spelled exactly as the client sent it (after unquoting), followed by exactly one
        //# `* XAPPLEPUSHSERVICE "aps-version" "<v>" "aps-topic" <topic>` line
        if let Some(label) = &label {
            //= spec/trace.md#TRACE-11
            //# the mail server has stored a registration and is about to reply
            self.trace.record(|| {
                Record::new(EventKind::PushSubset)
                    .device(label)
                    .mailboxes(acknowledged.iter().map(String::as_str))
                    .detail(&format!("aps-version {}", version.get()))
            });
        }
        if version.get() >= 2 || active(Mutant::XapsMailboxLinesUnderVersion1) {
            for name in acknowledged {
                self.untagged(Data::XApplePushService(XapsResponse::Mailbox(
                    IString::from(name),
                )));
            }
        }
        //= spec/imap-push.md#XAPS-11
        //# Under version 1 the server MUST send only the `aps-version` line.
        if version.get() >= 2 && active(Mutant::XapsVersionLineMissing) {
            return Ok(Reply::ok("XAPPLEPUSHSERVICE completed"));
        }
        self.untagged(Data::XApplePushService(XapsResponse::Version {
            version,
            topic: IString::from(self.config.xaps_topic.as_str()),
        }));
        Ok(Reply::ok("XAPPLEPUSHSERVICE completed"))
    }
}
