//! The SQLite schema and its set-up.

use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};

use crate::Error;
use crate::error::Failure;

/// Version of the schema below; stored in `meta` and checked on open. An older database is
/// brought up to it by [`MIGRATIONS`] when opened.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// The statements that bring a database of version `n` to version `n + 1`, in order from
/// version 1. A new database gets the version 1 schema below and then all of them, so that new
/// and upgraded databases cannot differ.
const MIGRATIONS: &[(i64, &str)] = &[(1, RECENT_TABLE)];

/// Version 2: the `\Recent` watermark of each mailbox (see `recent`). A mailbox without a row
/// has its watermark at UID 1.
const RECENT_TABLE: &str = r"
CREATE TABLE recent (
    mailbox_id INTEGER PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
    watermark  INTEGER NOT NULL
);
";

const SCHEMA: &str = r"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
);
CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    uidvalidity   INTEGER NOT NULL,
    uidnext       INTEGER NOT NULL,
    highestmodseq INTEGER NOT NULL,
    UNIQUE (user_id, name)
);
CREATE TABLE subscriptions (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);
-- The content column comes last so that metadata queries never read its overflow pages.
CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    modseq        INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    utc_offset    INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    seen          INTEGER NOT NULL,
    deleted       INTEGER NOT NULL,
    flags         TEXT NOT NULL,
    raw           BLOB NOT NULL,
    UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_by_modseq ON messages (mailbox_id, modseq);
-- The expunge history QRESYNC needs for VANISHED (EARLIER); UIDs are never reused within a
-- UIDVALIDITY, so a UID appears at most once per mailbox.
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_by_modseq ON expunged (mailbox_id, modseq);
CREATE TABLE registrations (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    account_id   TEXT NOT NULL,
    device_token TEXT NOT NULL,
    subtopic     TEXT,
    version      INTEGER NOT NULL,
    stored_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    UNIQUE (user_id, account_id, device_token)
);
CREATE INDEX registrations_by_token ON registrations (device_token);
CREATE TABLE registration_mailboxes (
    registration_id INTEGER NOT NULL REFERENCES registrations(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    spelling        TEXT NOT NULL,
    mailbox_key     TEXT NOT NULL,
    PRIMARY KEY (registration_id, position)
);
CREATE INDEX registration_mailboxes_by_key ON registration_mailboxes (mailbox_key);
";

/// Sets the connection's pragmas and creates or checks the schema.
pub(crate) fn prepare(conn: &mut Connection, wal: bool) -> Result<(), Failure> {
    if wal {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Corrupt(format!("journal mode {mode} instead of WAL")).into());
        }
    }
    // FULL: in WAL mode each commit is fsynced before the call returns, so an acknowledged
    // write survives a crash of the process and of the machine.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(crate::db::BUSY_TIMEOUT)?;

    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let has_meta: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
        [],
        |row| row.get(0),
    )?;
    if has_meta {
        let found: Option<i64> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        match found {
            Some(SCHEMA_VERSION) => {}
            Some(found) if (1..SCHEMA_VERSION).contains(&found) => {
                for (from, sql) in MIGRATIONS {
                    if *from >= found {
                        tx.execute_batch(sql)?;
                    }
                }
                tx.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(found) => {
                return Err(Error::SchemaVersion {
                    found,
                    expected: SCHEMA_VERSION,
                }
                .into());
            }
            None => return Err(Error::Corrupt("meta table without schema_version".into()).into()),
        }
    } else {
        tx.execute_batch(SCHEMA)?;
        for (_, sql) in MIGRATIONS {
            tx.execute_batch(sql)?;
        }
        // A random start makes a re-created database unlikely to hand out UIDVALIDITY values
        // that clients cached for the old one; from then on values only grow.
        let first_uid_validity: i64 = rand::thread_rng().gen_range(1..=(1_i64 << 30));
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('next_uidvalidity', ?2)",
            params![SCHEMA_VERSION, first_uid_validity],
        )?;
    }
    tx.commit()?;
    Ok(())
}
