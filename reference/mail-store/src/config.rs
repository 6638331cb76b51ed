//! Configuration of a store: limits and the cost of password hashes.

use argon2::Params;

/// Size and count limits of a store. Every limit is enforced before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest message `append` accepts, in octets (default 50 MiB).
    pub max_message_size: u64,
    /// Most mailboxes a user may have, `INBOX` included (default 1000).
    pub max_mailboxes_per_user: usize,
    /// Longest mailbox name, in octets (default 1024).
    pub max_mailbox_name_len: usize,
    /// Most live push registrations per user (XAPS-17, default 50).
    pub max_registrations_per_user: usize,
    /// Most mailboxes per push registration (XAPS-7, default 1000).
    pub max_mailboxes_per_registration: usize,
    /// How long a registration lives after it was last stored: the 30 days of XAPS-16
    /// ([`crate::REGISTRATION_LIFETIME`]). Shorter only so that a conformance run can watch a
    /// registration expire; a deployment keeps the default.
    pub registration_lifetime: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 50 * 1024 * 1024,
            max_mailboxes_per_user: 1000,
            max_mailbox_name_len: 1024,
            max_registrations_per_user: 50,
            max_mailboxes_per_registration: 1000,
            registration_lifetime: crate::REGISTRATION_LIFETIME,
        }
    }
}

/// Argon2id cost parameters for new password hashes. Verification reads the parameters stored
/// in each hash, so changing these does not lock anybody out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    /// Memory in KiB (default 19456, the OWASP recommendation).
    pub memory_kib: u32,
    /// Passes (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
}

impl PasswordHashing {
    /// The lowest cost argon2 accepts (8 KiB, one pass, one lane): for tests and fuzzing, which
    /// check behaviour, not hashing strength. Never for real accounts.
    pub const CHEAPEST: Self = Self {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
}

impl Default for PasswordHashing {
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
        }
    }
}

/// Configuration of a [`Store`](crate::Store).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Limits.
    pub limits: Limits,
    /// Cost of new password hashes.
    pub password_hashing: PasswordHashing,
}

impl Config {
    /// The default limits with [`PasswordHashing::CHEAPEST`]: for tests and fuzzing, which check
    /// behaviour, not hashing strength. Never for real accounts.
    pub fn for_tests() -> Self {
        Config {
            password_hashing: PasswordHashing::CHEAPEST,
            ..Config::default()
        }
    }
}

/// Longest password accepted, in octets.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Longest user name accepted, in octets.
pub const MAX_USER_NAME_LEN: usize = 255;
