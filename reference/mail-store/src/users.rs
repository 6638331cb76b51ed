//! Users: argon2id password hashes, verification that takes as long for an unknown user.

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use rand::RngCore;
use rusqlite::OptionalExtension;

use crate::config::{MAX_PASSWORD_LEN, MAX_USER_NAME_LEN};
use crate::store::insert_mailbox;
use crate::{Error, INBOX, Store, UserId};

fn validate_user_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidUserName("empty"));
    }
    if name.len() > MAX_USER_NAME_LEN {
        return Err(Error::InvalidUserName("too long"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::InvalidUserName("control character or white space"));
    }
    Ok(())
}

impl Store {
    fn argon2(&self) -> Result<Argon2<'static>, Error> {
        let p = self.config.password_hashing;
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| Error::PasswordHash(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    fn hash_password(&self, password: &[u8]) -> Result<String, Error> {
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Error::PasswordTooLong {
                limit: MAX_PASSWORD_LEN,
            });
        }
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| Error::PasswordHash(e.to_string()))?;
        let hash = self
            .argon2()?
            .hash_password(password, &salt)
            .map_err(|e| Error::PasswordHash(e.to_string()))?;
        Ok(hash.to_string())
    }

    /// Adds a user with an argon2id hash of `password`, and its `INBOX`.
    pub fn add_user(&self, name: &str, password: &[u8]) -> Result<UserId, Error> {
        validate_user_name(name)?;
        // Hash outside the lock: it is deliberately slow.
        let hash = self.hash_password(password)?;
        self.write(|tx| {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(Error::UserExists(name.to_owned()).into());
            }
            tx.execute(
                "INSERT INTO users (name, password_hash) VALUES (?1, ?2)",
                [name, &hash],
            )?;
            let user = tx.last_insert_rowid();
            insert_mailbox(tx, user, INBOX)?;
            Ok(UserId::from_raw(user))
        })
    }

    /// Replaces a user's password.
    pub fn set_password(&self, name: &str, password: &[u8]) -> Result<(), Error> {
        let hash = self.hash_password(password)?;
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE name = ?1",
                [name, &hash],
            )?;
            if n == 0 {
                Err(Error::NoSuchUser.into())
            } else {
                Ok(())
            }
        })
    }

    /// Deletes a user with all its mailboxes, messages, subscriptions and push registrations.
    pub fn delete_user(&self, name: &str) -> Result<(), Error> {
        self.write(|tx| {
            let n = tx.execute("DELETE FROM users WHERE name = ?1", [name])?;
            if n == 0 {
                Err(Error::NoSuchUser.into())
            } else {
                Ok(())
            }
        })
    }

    /// Checks a password. Returns the user when it matches, `None` when the user does not exist
    /// or the password is wrong; both take about the same time (a hash is verified either way),
    /// and the comparison inside argon2 is constant-time.
    pub fn verify_password(&self, name: &str, password: &[u8]) -> Result<Option<UserId>, Error> {
        if password.len() > MAX_PASSWORD_LEN {
            return Ok(None);
        }
        let found: Option<(i64, String)> = self.read(|tx| {
            Ok(tx
                .query_row(
                    "SELECT id, password_hash FROM users WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, self.dummy_hash()?),
        };
        let parsed =
            PasswordHash::new(&hash).map_err(|_| Error::Corrupt("password hash".into()))?;
        // Argon2::default() reads the algorithm and costs from the stored hash.
        let matches = Argon2::default().verify_password(password, &parsed).is_ok();
        Ok(user.filter(|_| matches).map(UserId::from_raw))
    }

    fn dummy_hash(&self) -> Result<String, Error> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash.clone());
        }
        let hash = self.hash_password(b"not a password of anybody")?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }

    /// The id of the user called `name`.
    pub fn user_id(&self, name: &str) -> Result<Option<UserId>, Error> {
        self.read(|tx| {
            Ok(tx
                .query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
                .optional()?
                .map(UserId::from_raw))
        })
    }

    /// Names of every user, sorted.
    pub fn users(&self) -> Result<Vec<String>, Error> {
        self.read(|tx| {
            let mut stmt = tx.prepare("SELECT name FROM users ORDER BY name")?;
            let names = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(names)
        })
    }
}
