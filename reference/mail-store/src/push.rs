//! Push registrations of the `XAPPLEPUSHSERVICE` extension (spec/imap-push.md).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Failure;
use crate::store::{canonical_mailbox_name, find_mailbox, to_i64};
use crate::{Error, RegistrationRequest, Store, UserId};

/// How long a registration lives after it was last stored (XAPS-16).
pub const REGISTRATION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Longest account ID, device token or subtopic, in octets (XAPS-7).
pub const MAX_REGISTRATION_FIELD_LEN: usize = mailpush_imap::xaps::MAX_FIELD_LEN;

/// Identifies a registration (XAPS-14).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationKey {
    /// The authenticated user who registered.
    pub user: UserId,
    /// `aps-account-id`.
    pub account_id: String,
    /// `aps-device-token`.
    pub device_token: String,
}

/// A stored registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Its key.
    pub key: RegistrationKey,
    /// `aps-subtopic`, when sent.
    pub subtopic: Option<String>,
    /// The negotiated version.
    pub version: u32,
    /// The acknowledged mailboxes, spelled as the client sent them, in request order.
    pub mailboxes: Vec<String>,
    /// When it was last stored.
    pub stored_at: SystemTime,
    /// When it expires: [`REGISTRATION_LIFETIME`] (or the store's configured lifetime) after
    /// `stored_at`.
    pub expires_at: SystemTime,
}

/// A registration that must be told about a change of one mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// The registration.
    pub registration: Registration,
    /// The spellings under which the client registered the changed mailbox (usually one);
    /// payloads carry the MD5 of each (XAPS-13).
    pub spellings: Vec<String>,
}

fn millis(t: SystemTime) -> Result<i64, Error> {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    i64::try_from(ms).map_err(|_| Error::InvalidRegistration("time out of range"))
}

fn from_millis(ms: i64) -> Result<SystemTime, Error> {
    let ms = u64::try_from(ms).map_err(|_| Error::Corrupt(format!("time {ms}")))?;
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .ok_or_else(|| Error::Corrupt(format!("time {ms}")))
}

fn check_field(value: &str, what: &'static str) -> Result<(), Error> {
    if value.len() > MAX_REGISTRATION_FIELD_LEN {
        return Err(Error::InvalidRegistration(what));
    }
    Ok(())
}

impl Store {
    /// Stores a registration and returns the acknowledged mailboxes: the requested mailboxes
    /// that exist, in request order, each spelling once. An empty answer means nothing is
    /// stored and any earlier registration with this key is gone.
    ///
    /// The registration is on disk when this returns (XAPS-15).
    pub fn register_push(
        &self,
        user: UserId,
        request: &RegistrationRequest,
        now: SystemTime,
    ) -> Result<Vec<String>, Error> {
        //= spec/imap-push.md#XAPS-6
        //# A server MUST reply `NO` and record nothing when `aps-account-id` or
        //# `aps-device-token` is absent or empty.
        if request.account_id.is_empty() {
            return Err(Error::InvalidRegistration("empty account ID"));
        }
        if request.device_token.is_empty() {
            return Err(Error::InvalidRegistration("empty device token"));
        }
        //= spec/imap-push.md#XAPS-7
        //# A server MUST reply `BAD` and record nothing when the account ID, the device token or the
        //# subtopic is longer than 256 octets, or when `mailboxes` names more mailboxes than the server's
        //# per-registration limit (default 1000).
        check_field(&request.account_id, "account ID longer than 256 octets")?;
        check_field(&request.device_token, "device token longer than 256 octets")?;
        if let Some(subtopic) = &request.subtopic {
            check_field(subtopic, "subtopic longer than 256 octets")?;
        }
        if request.mailboxes.len() > self.config().limits.max_mailboxes_per_registration {
            return Err(Error::InvalidRegistration("too many mailboxes"));
        }
        let limit = self.config().limits.max_registrations_per_user;
        let stored_at = millis(now)?;
        let lifetime = i64::try_from(self.config().limits.registration_lifetime.as_millis())
            .map_err(|_| Error::InvalidRegistration("lifetime"))?;
        let expires_at = stored_at.saturating_add(lifetime);
        self.write(|tx| {
            //= spec/imap-push.md#XAPS-10
            //# The server MUST acknowledge exactly those requested mailboxes that exist
            //# and that the authenticated user may read, and MUST NOT acknowledge any other.
            let mut acknowledged: Vec<String> = Vec::new();
            for spelling in &request.mailboxes {
                if acknowledged.contains(spelling) {
                    continue;
                }
                if mailpush_mutants::active(mailpush_mutants::Mutant::XapsAcknowledgesMissing)
                    || find_mailbox(tx, user, &canonical_mailbox_name(spelling))?.is_some()
                {
                    acknowledged.push(spelling.clone());
                }
            }
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM registrations \
                     WHERE user_id = ?1 AND account_id = ?2 AND device_token = ?3",
                    params![user.raw(), request.account_id, request.device_token],
                    |r| r.get(0),
                )
                .optional()?;
            //= spec/imap-push.md#XAPS-14
            //# A new command with the same key MUST replace the stored set of acknowledged mailboxes, the
            //# subtopic and the version (it does not add to them) and MUST restart the expiry period. A
            //# registration whose acknowledged set is empty MUST be deleted.
            if acknowledged.is_empty()
                && mailpush_mutants::active(mailpush_mutants::Mutant::XapsEmptyKeepsOld)
            {
                return Ok(acknowledged);
            }
            if let Some(id) = existing {
                tx.execute("DELETE FROM registrations WHERE id = ?1", [id])?;
            }
            if acknowledged.is_empty() {
                return Ok(acknowledged);
            }
            if existing.is_none() {
                //= spec/imap-push.md#XAPS-17
                //# A command that would create a registration beyond the limit MUST get
                //# `NO [LIMIT]` (RFC 5530) and MUST NOT change or evict any stored registration; replacing an existing
                //# registration is always allowed.
                let live: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM registrations WHERE user_id = ?1 AND expires_at_ms > ?2",
                    params![user.raw(), stored_at],
                    |r| r.get(0),
                )?;
                if usize::try_from(live).unwrap_or(usize::MAX) >= limit {
                    return Err(Error::RegistrationLimit { limit }.into());
                }
            }
            tx.execute(
                "INSERT INTO registrations (user_id, account_id, device_token, subtopic, version, \
                 stored_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    user.raw(),
                    request.account_id,
                    request.device_token,
                    request.subtopic,
                    request.version,
                    stored_at,
                    expires_at
                ],
            )?;
            let id = tx.last_insert_rowid();
            let mut stmt = tx.prepare_cached(
                "INSERT INTO registration_mailboxes (registration_id, position, spelling, mailbox_key) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (position, spelling) in acknowledged.iter().enumerate() {
                //= spec/imap-push.md#XAPS-13
                //# The server MUST remember every acknowledged mailbox under the name exactly
                //# as the client sent it
                stmt.execute(params![
                    id,
                    to_i64(position as u64)?,
                    spelling,
                    mailbox_key(user, spelling)
                ])?;
            }
            Ok(acknowledged)
        })
    }

    /// The live registrations of `user`, ordered by account ID and device token.
    pub fn registrations(&self, user: UserId, now: SystemTime) -> Result<Vec<Registration>, Error> {
        let now = millis(now)?;
        self.read(|tx| {
            let ids: Vec<i64> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT id FROM registrations WHERE user_id = ?1 AND expires_at_ms > ?2 \
                     ORDER BY account_id, device_token",
                )?;
                let rows = stmt.query_map(params![user.raw(), now], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            ids.into_iter()
                .map(|id| load_registration(tx, id))
                .collect()
        })
    }

    /// The live registrations that cover mailbox `name` of `user`, with the spellings they
    /// registered it under (XAPS-19: only this user's registrations, only for mailboxes they
    /// acknowledged). Expired ones are left out (XAPS-16). It does not wait for announced writes
    /// (see [`Store`]): the notifier calls it while the commit it was told of may be flushing.
    pub fn push_targets(
        &self,
        user: UserId,
        name: &str,
        now: SystemTime,
    ) -> Result<Vec<PushTarget>, Error> {
        let now = millis(now)?;
        let key = mailbox_key(user, name);
        self.read_settled(|tx| {
            //= spec/imap-push.md#XAPS-16
            //# An expired registration
            //# MUST NOT cause any push request
            let rows: Vec<(i64, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT r.id, m.spelling FROM registration_mailboxes m \
                     JOIN registrations r ON r.id = m.registration_id \
                     WHERE m.mailbox_key = ?1 AND r.user_id = ?2 AND r.expires_at_ms > ?3 \
                     ORDER BY r.account_id, r.device_token, m.position",
                )?;
                let rows = stmt.query_map(params![key, user.raw(), now], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
                rows.collect::<Result<_, _>>()?
            };
            let mut targets: Vec<(i64, PushTarget)> = Vec::new();
            for (id, spelling) in rows {
                match targets.last_mut() {
                    Some((last, target)) if *last == id => target.spellings.push(spelling),
                    _ => {
                        let registration = load_registration(tx, id)?;
                        targets.push((
                            id,
                            PushTarget {
                                registration,
                                spellings: vec![spelling],
                            },
                        ));
                    }
                }
            }
            Ok(targets.into_iter().map(|(_, t)| t).collect())
        })
    }

    /// Every mailbox that a live registration registered, once per user and mailbox, under
    /// one of the spellings it was registered with: what the mail server pushes at start
    /// (PROV-36), since the changes it had not pushed when it stopped are not known. Like
    /// [`Store::push_targets`], it does not wait for announced writes.
    pub fn registered_mailboxes(&self, now: SystemTime) -> Result<Vec<(UserId, String)>, Error> {
        let now = millis(now)?;
        self.read_settled(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT r.user_id, MIN(m.spelling) FROM registration_mailboxes m \
                 JOIN registrations r ON r.id = m.registration_id \
                 WHERE r.expires_at_ms > ?1 \
                 GROUP BY r.user_id, m.mailbox_key ORDER BY r.user_id, m.mailbox_key",
            )?;
            let rows = stmt.query_map(params![now], |r| {
                Ok((UserId::from_raw(r.get(0)?), r.get(1)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Deletes every registration of `device_token`, of every user (PROV-23: the push service
    /// answered 404 or 410 for it). Returns how many were deleted.
    pub fn delete_device_registrations(&self, device_token: &str) -> Result<usize, Error> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM registrations WHERE device_token = ?1",
                [device_token],
            )?)
        })
    }

    /// Deletes the registrations expired at `now` (XAPS-16). Returns how many were deleted.
    pub fn purge_expired_registrations(&self, now: SystemTime) -> Result<usize, Error> {
        let now = millis(now)?;
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM registrations WHERE expires_at_ms <= ?1", [now])?)
        })
    }
}

/// The name registrations are matched by: per user, `INBOX` case-insensitively.
fn mailbox_key(user: UserId, spelling: &str) -> String {
    format!("{}\u{0}{}", user.raw(), canonical_mailbox_name(spelling))
}

fn load_registration(tx: &Connection, id: i64) -> Result<Registration, Failure> {
    let (user, account_id, device_token, subtopic, version, stored_at, expires_at): (
        i64,
        String,
        String,
        Option<String>,
        i64,
        i64,
        i64,
    ) = tx.query_row(
        "SELECT user_id, account_id, device_token, subtopic, version, stored_at_ms, expires_at_ms \
         FROM registrations WHERE id = ?1",
        [id],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        },
    )?;
    let mut stmt = tx.prepare_cached(
        "SELECT spelling FROM registration_mailboxes WHERE registration_id = ?1 ORDER BY position",
    )?;
    let mailboxes = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(Registration {
        key: RegistrationKey {
            user: UserId::from_raw(user),
            account_id,
            device_token,
        },
        subtopic,
        version: u32::try_from(version)
            .map_err(|_| Error::Corrupt(format!("version {version}")))?,
        mailboxes,
        stored_at: from_millis(stored_at)?,
        expires_at: from_millis(expires_at)?,
    })
}
