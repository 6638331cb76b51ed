//! The wire classification, `spec/wire.toml`: which MUST requirements a conformance runner can
//! observe in the traffic, and for which role, and why the others cannot be.
//!
//! ```toml
//! [wire]
//! CHAN-2 = ["push-server", "device"]
//!
//! [local]
//! SM-1 = "a property of the formal model, checked by model checking"
//! ```
//!
//! Every key is a requirement ID; a `[wire]` value lists conformance roles, a `[local]` value is a
//! one-line reason.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use crate::pending::{is_one_line, line_of};
use crate::{Location, Problem};

/// The wire classification's path, relative to the root of the checked tree.
pub const WIRE_PATH: &str = "spec/wire.toml";

/// Where the conformance cases live, relative to the root of the checked tree.
pub const CASES_DIR: &str = "conformance/";

/// A conformance role: the component under test, whose peers the runner plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The mail server: IMAP with `XAPPLEPUSHSERVICE`, and the pushes it requests.
    ImapServer,
    /// The push notification server: the provider API and the device channel.
    PushServer,
    /// The device: mail client, data-access daemon and the applications that write through them.
    Device,
}

impl Role {
    /// Every role, in report order.
    pub const ALL: [Role; 3] = [Role::ImapServer, Role::PushServer, Role::Device];

    /// The role's name as a case header and the classification write it.
    pub fn name(self) -> &'static str {
        match self {
            Role::ImapServer => "imap-server",
            Role::PushServer => "push-server",
            Role::Device => "device",
        }
    }

    /// The role a name stands for, if any.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a requirement is classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observability {
    /// Observable on the wire by conformance cases of these roles (at least one, no repeats).
    Wire(Vec<Role>),
    /// Not observable on the wire, for this reason.
    Local(String),
}

/// One entry of the wire classification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireEntry {
    /// The requirement ID it classifies.
    pub id: String,
    /// The classification.
    pub observability: Observability,
    /// Where the entry stands.
    pub at: Location,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireFile {
    #[serde(default)]
    wire: BTreeMap<String, Spanned<Vec<String>>>,
    #[serde(default)]
    local: BTreeMap<String, Spanned<String>>,
}

/// Reads the wire classification. Entries come in file order. A role that is not one of
/// [`Role::ALL`], an empty or repeated role list, a reason that is empty or longer than a line,
/// and text that is not the documented TOML are problems; whether the IDs exist and are MUST
/// requirements is for the caller, which knows the spec.
pub fn parse_wire(text: &str) -> (Vec<WireEntry>, Vec<Problem>) {
    let at = |line| Location {
        path: WIRE_PATH.to_owned(),
        line,
    };
    let file: WireFile = match toml::from_str(text) {
        Ok(file) => file,
        Err(error) => {
            let line = error.span().map_or(1, |span| line_of(text, span.start));
            return (
                Vec::new(),
                vec![Problem::Wire {
                    entry: String::new(),
                    why: error.message().to_owned(),
                    at: at(line),
                }],
            );
        }
    };
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (id, names) in file.wire {
        let location = at(line_of(text, names.span().start));
        let mut roles = Vec::new();
        let mut why = None;
        for name in names.into_inner() {
            match Role::from_name(&name) {
                None => {
                    why = Some(format!(
                        "{name:?} is not a role (imap-server, push-server, device)"
                    ))
                }
                Some(role) if roles.contains(&role) => {
                    why = Some(format!("{name} is listed twice"))
                }
                Some(role) => roles.push(role),
            }
        }
        if roles.is_empty() && why.is_none() {
            why = Some("a wire requirement names at least one role".to_owned());
        }
        if let Some(why) = why {
            problems.push(Problem::Wire {
                entry: id.clone(),
                why,
                at: location.clone(),
            });
        }
        entries.push(WireEntry {
            id,
            observability: Observability::Wire(roles),
            at: location,
        });
    }
    for (id, reason) in file.local {
        let location = at(line_of(text, reason.span().start));
        let reason = reason.into_inner();
        if !is_one_line(&reason) {
            problems.push(Problem::Wire {
                entry: id.clone(),
                why: "the reason must be one non-empty line".to_owned(),
                at: location.clone(),
            });
        }
        entries.push(WireEntry {
            id,
            observability: Observability::Local(reason.trim().to_owned()),
            at: location,
        });
    }
    entries.sort_by(|a, b| a.at.cmp(&b.at));
    (entries, problems)
}

/// The role a conformance transcript's header names (`role: push-server`), read up to the empty
/// line that ends the header. `None` when the header names none.
pub fn case_role(text: &str) -> Option<&str> {
    text.lines()
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.strip_prefix("role:"))
        .map(str::trim)
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_tables_in_file_order_with_lines() {
        let text = "[local]\nABC-2 = \"inside\"\n\n[wire]\nABC-1 = [\"push-server\", \"device\"]\n";
        let (entries, problems) = parse_wire(text);
        assert!(problems.is_empty(), "{problems:?}");
        let read: Vec<_> = entries
            .iter()
            .map(|e| (e.id.as_str(), e.at.line, e.observability.clone()))
            .collect();
        assert_eq!(
            read,
            [
                ("ABC-2", 2, Observability::Local("inside".into())),
                (
                    "ABC-1",
                    5,
                    Observability::Wire(vec![Role::PushServer, Role::Device])
                )
            ]
        );
    }

    #[test]
    fn bad_roles_reasons_and_text_are_problems() {
        for text in [
            "[wire]\nA-1 = [\"mail-server\"]\n",
            "[wire]\nA-1 = []\n",
            "[wire]\nA-1 = [\"device\", \"device\"]\n",
            "[local]\nA-1 = \" \"\n",
            "[local]\nA-1 = \"\"\"\ntwo\nlines\"\"\"\n",
            "[elsewhere]\nA-1 = \"x\"\n",
            "[wire]\nA-1 = \"device\"\n",
        ] {
            let (_, problems) = parse_wire(text);
            assert!(
                matches!(problems.as_slice(), [Problem::Wire { .. }]),
                "{text}: {problems:?}"
            );
        }
    }

    #[test]
    fn the_role_comes_from_the_header_only() {
        assert_eq!(
            case_role("case: x\nrole: imap-server\nlevel: MUST\n\n1 ok NOOP\n"),
            Some("imap-server")
        );
        assert_eq!(case_role("case: x\n\nrole: device\n"), None);
    }
}
