//! Capabilities, authentication (LOGIN, AUTHENTICATE PLAIN) and ENABLE.

use mailpush_imap::{Atom, Capability, Code, Data, Vec1};

use super::output::{Reply, other_code};
use super::{Context, Event, Session, State};
use crate::store::MailBackend;

impl<B> Context<B> {
    /// The capabilities for the current state.
    pub(super) fn capabilities(&self, authenticated: bool) -> Option<Vec1<Capability>> {
        let mut caps = vec!["IMAP4rev1", "LITERAL+", "ENABLE", "IDLE"];
        if self.config.uidplus {
            caps.push("UIDPLUS");
        }
        caps.extend(["MOVE", "UNSELECT"]);
        if self.config.offers_condstore() {
            caps.push("CONDSTORE");
        }
        if self.config.offers_qresync() {
            caps.push("QRESYNC");
        }
        if !authenticated {
            if !self.protected {
                caps.push("STARTTLS");
            }
            if self.auth_allowed() {
                caps.extend(["AUTH=PLAIN", "SASL-IR"]);
            } else {
                caps.push("LOGINDISABLED");
            }
        } else if self.config.xaps {
            //= spec/imap-push.md#XAPS-1
            //# A server that supports this extension MUST list
            //# `XAPPLEPUSHSERVICE` in its capabilities in the authenticated and selected states, and MUST NOT list
            //# it before authentication
            caps.push("XAPPLEPUSHSERVICE");
        }
        let caps: Vec<Capability> = caps
            .into_iter()
            .filter_map(|c| Capability::new(c).ok())
            .collect();
        Vec1::new(caps).ok()
    }

    fn auth_allowed(&self) -> bool {
        self.protected || self.config.allow_plaintext_auth
    }

    fn privacy_required() -> Reply {
        Reply::no(
            "Plaintext authentication is disabled on an unprotected connection: use STARTTLS first",
        )
        .code(other_code("PRIVACYREQUIRED"))
    }

    /// Whether AUTHENTICATE with `mechanism` may go on.
    pub(super) fn authenticate(&self, mechanism: &Atom) -> Result<(), Reply> {
        if !mechanism.eq_ignore_case("PLAIN") {
            return Err(Reply::no(format!(
                "Unsupported authentication mechanism {}",
                mechanism.as_str()
            ))
            .code(other_code("CANNOT")));
        }
        if !self.auth_allowed() {
            return Err(Self::privacy_required());
        }
        Ok(())
    }

    /// `ENABLE`: CONDSTORE and QRESYNC when offered (QRESYNC enables CONDSTORE too); other
    /// capabilities are ignored (RFC 5161 §3.1).
    pub(super) fn enable(&mut self, caps: &[Capability]) -> Reply {
        let mut enabled = Vec::new();
        for cap in caps {
            if cap.is("CONDSTORE") && self.config.offers_condstore() && !self.condstore {
                self.condstore = true;
                enabled.push(cap.clone());
            } else if cap.is("QRESYNC") && self.config.offers_qresync() && !self.qresync {
                self.qresync = true;
                self.condstore = true;
                enabled.push(cap.clone());
            }
        }
        self.untagged(Data::Enabled(enabled));
        Reply::ok("ENABLE completed")
    }
}

impl<B: MailBackend> Session<B> {
    pub(super) fn login(
        &mut self,
        user: &[u8],
        password: &[u8],
        what: &str,
    ) -> Result<Reply, Reply> {
        if !self.cx.auth_allowed() {
            return Err(Context::<B>::privacy_required());
        }
        let verified = match std::str::from_utf8(user) {
            Ok(name) => self.cx.backend.verify_password(name, password)?,
            Err(_) => None,
        };
        match verified {
            Some(user) => {
                self.state = State::Authenticated { user };
                self.cx.events.push_back(Event::Authenticated { user });
                let caps = self.cx.capabilities(true);
                Ok(Reply::ok(format!("{what} completed")).code(caps.map(Code::Capability)))
            }
            None => {
                self.cx.auth_failures = self.cx.auth_failures.saturating_add(1);
                if self.cx.auth_failures >= self.cx.config.max_auth_failures {
                    self.cx.bye("Too many authentication failures");
                }
                Err(Reply::no("Invalid user name or password")
                    .code(other_code("AUTHENTICATIONFAILED")))
            }
        }
    }

    /// SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.
    pub(super) fn plain(&mut self, response: &[u8]) -> Result<Reply, Reply> {
        let parts: Vec<&[u8]> = response.split(|&b| b == 0).collect();
        match parts.as_slice() {
            [authz, authc, passwd] if authz.is_empty() || authz == authc => {
                self.login(authc, passwd, "AUTHENTICATE")
            }
            [_, _, _] => Err(Reply::no(
                "Authorization identity differs from the authentication identity",
            )
            .code(other_code("AUTHORIZATIONFAILED"))),
            _ => Err(Reply::bad("Malformed SASL PLAIN response")),
        }
    }
}
