//! The header: `header = 1*(header-field / citation / comment) LF`, the case's identity, the
//! requirements it cites and the state it starts from.

use std::time::Duration;

use super::{at, duration};

use crate::transcript::cursor::Cursor;
use crate::transcript::{
    DurationSpec, Header, Level, PushReply, RequirementRef, Role, SyntaxError, states,
};

/// `header = 1*(header-field / citation / comment) LF` up to the first empty line. Returns the
/// header and the index of the first body line.
pub(super) fn header(lines: &[&str]) -> Result<(Header, usize), SyntaxError> {
    let mut id = None;
    let mut title = String::new();
    let mut level = None;
    let mut role = None;
    let mut requires = Vec::new();
    let mut harness = Vec::new();
    let mut config = Vec::new();
    let mut state = None;
    let mut timeout = Duration::from_secs(30);
    let mut connections = 1u8;
    let mut devices = None;
    let mut mailboxes = None;
    let mut exclusive = false;
    let mut poll = None;
    let mut push_reply = PushReply::Auto;
    let mut imap_capabilities = None;
    let mut tags = Vec::new();
    let mut requirements: Vec<RequirementRef> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut index = 0;
    let mut in_citation = false;
    while index < lines.len() {
        let line = lines[index];
        let number = index + 1;
        index += 1;
        if line.trim().is_empty() {
            break;
        }
        let mut c = Cursor::new(line, number, 1);
        if c.eat("#=") {
            c.skip_space();
            requirements.push(citation_link(&mut c)?);
            in_citation = true;
            continue;
        }
        if c.eat("##") {
            let Some(last) = requirements.last_mut().filter(|_| in_citation) else {
                return Err(at(
                    number,
                    1,
                    "a `##` quote line must follow a `#=` link or another quote line",
                ));
            };
            if !last.quote.is_empty() {
                last.quote.push(' ');
            }
            last.quote.push_str(c.rest().trim());
            continue;
        }
        in_citation = false;
        if c.eat("#") {
            continue;
        }
        let key = c.take_while(|ch| ch.is_ascii_lowercase() || ch == '-');
        if key.is_empty() || !c.eat(":") {
            return Err(at(
                number,
                1,
                "expected `key: value`, a `#=` citation, or a `#` comment",
            ));
        }
        if seen.contains(&key) {
            return Err(at(number, 1, format!("`{key}:` given twice")));
        }
        seen.push(key);
        c.skip_space();
        let value_column = c.column();
        let value = c.rest().trim_end();
        let bad = |message: String| at(number, value_column, message);
        match key {
            "case" => {
                let valid = value.len() <= 80
                    && value
                        .chars()
                        .next()
                        .is_some_and(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                    && value.chars().all(|ch| {
                        ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '.'
                    });
                if !valid {
                    return Err(bad(
                        "a case id is 1 to 80 of a-z 0-9 - . (a letter or digit first)".into(),
                    ));
                }
                id = Some(value.to_owned());
            }
            "title" => title = value.to_owned(),
            "level" => {
                level = Some(match value {
                    "MUST" => Level::Must,
                    "SHOULD" => Level::Should,
                    "MAY" => Level::May,
                    _ => return Err(bad("level is MUST, SHOULD or MAY".into())),
                })
            }
            "role" => {
                role = Some(
                    Role::from_name(value)
                        .ok_or_else(|| bad("role is imap-server, push-server or device".into()))?,
                )
            }
            "requires" => requires = words(value),
            "harness" => {
                harness = words(value);
                if let Some(unknown) = harness.iter().find(|h| !HARNESS.contains(&h.as_str())) {
                    return Err(bad(format!(
                        "unknown harness feature `{unknown}` (known: {})",
                        HARNESS.join(", ")
                    )));
                }
            }
            "config" => {
                config =
                    crate::transcript::config::parse_needs(value).map_err(|e| bad(e.to_string()))?
            }
            "state" => state = Some(value.to_owned()),
            "timeout" => {
                let mut d = Cursor::new(value, number, value_column);
                timeout = match duration(&mut d)? {
                    DurationSpec::Fixed(t) if d.at_end() && !t.is_zero() => t,
                    _ => {
                        return Err(bad(
                            "timeout is a fixed, non-zero duration such as 30s".into()
                        ));
                    }
                };
            }
            "connections" => {
                connections =
                    small_number(value, 1).ok_or_else(|| bad("connections is 1 to 9".into()))?
            }
            "devices" => {
                devices =
                    Some(small_number(value, 0).ok_or_else(|| bad("devices is 0 to 9".into()))?)
            }
            "mailboxes" => {
                mailboxes =
                    Some(small_number(value, 0).ok_or_else(|| bad("mailboxes is 0 to 9".into()))?)
            }
            "poll" => {
                let mut d = Cursor::new(value, number, value_column);
                poll = match duration(&mut d)? {
                    DurationSpec::Fixed(t) if d.at_end() && !t.is_zero() => Some(t),
                    _ => {
                        return Err(bad("poll is a fixed, non-zero duration such as 600s".into()));
                    }
                };
            }
            "exclusive" => {
                exclusive = match value {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(bad("exclusive is yes or no".into())),
                }
            }
            "push-reply" => {
                push_reply = match value {
                    "auto" => PushReply::Auto,
                    "scripted" => PushReply::Scripted,
                    _ => return Err(bad("push-reply is auto or scripted".into())),
                }
            }
            "imap-capabilities" => imap_capabilities = Some(capability_list(value).map_err(bad)?),
            "tags" => tags = words(value),
            other => return Err(at(number, 1, format!("unknown header key `{other}`"))),
        }
    }
    let missing = |key: &str| at(1, 1, format!("the header has no `{key}:`"));
    let id = id.ok_or_else(|| missing("case"))?;
    let level = level.ok_or_else(|| missing("level"))?;
    let role = role.ok_or_else(|| missing("role"))?;
    // A recording not yet reviewed cites nothing: it claims no requirement until someone who
    // read it says which one it shows (conformance/README.md, "Recording cases").
    if requirements.is_empty() && !tags.iter().any(|t| t == UNREVIEWED) {
        return Err(at(
            1,
            1,
            "the header cites no requirement (`#= spec/<document>.md#<ID>` and `##` quote lines)",
        ));
    }
    if let Some(r) = requirements.iter().find(|r| r.quote.is_empty()) {
        return Err(at(
            r.line,
            1,
            format!("the citation of {} quotes nothing (add `##` lines)", r.id),
        ));
    }
    // Only the device role is asked for a poll interval; elsewhere the field would be ignored
    // silently, which hides a mistake.
    if poll.is_some() && role != Role::Device {
        return Err(at(1, 1, format!("`poll:` is for device cases, not {role}")));
    }
    let state =
        state.unwrap_or_else(|| states(role)[usize::from(role == Role::ImapServer)].to_owned());
    if !states(role).contains(&state.as_str()) {
        return Err(at(
            1,
            1,
            format!(
                "state `{state}` is not one of {} for role {role}",
                states(role).join(", ")
            ),
        ));
    }
    let needs_mailbox = matches!(state.as_str(), "mailbox" | "selected" | "registered");
    let mailboxes = mailboxes.unwrap_or(u8::from(needs_mailbox));
    if needs_mailbox && mailboxes == 0 {
        return Err(at(
            1,
            1,
            format!("state `{state}` needs at least one mailbox"),
        ));
    }
    if imap_capabilities.is_some() && role != Role::Device {
        return Err(at(
            1,
            1,
            "`imap-capabilities:` is for device cases: it sets what the runner's mail server lists",
        ));
    }
    let needs_device =
        matches!(state.as_str(), "registered" | "connected") && role == Role::PushServer;
    let devices = devices.unwrap_or(u8::from(needs_device));
    if needs_device && devices == 0 {
        return Err(at(
            1,
            1,
            format!("state `{state}` needs at least one device"),
        ));
    }
    Ok((
        Header {
            id,
            title,
            requirements,
            level,
            role,
            requires,
            harness,
            config,
            state,
            timeout,
            connections,
            devices,
            mailboxes,
            poll,
            exclusive,
            push_reply,
            imap_capabilities,
            tags,
        },
        index,
    ))
}

/// The most capabilities `imap-capabilities:` may name, and the longest name: a list is a line of
/// the runner's greeting and login reply, not a place for unbounded text.
const MAX_CAPABILITIES: usize = 32;
const MAX_CAPABILITY_LEN: usize = 64;

/// `imap-capabilities: *(SP capability)`: IMAP atoms (RFC 3501 `atom`, with `=` and `+` as in
/// `AUTH=PLAIN`), at most [`MAX_CAPABILITIES`] of at most [`MAX_CAPABILITY_LEN`] characters.
/// An empty value is an empty list.
fn capability_list(value: &str) -> Result<Vec<String>, String> {
    let names = words(value);
    if names.len() > MAX_CAPABILITIES {
        return Err(format!(
            "imap-capabilities names at most {MAX_CAPABILITIES} capabilities"
        ));
    }
    let atom_char = |ch: char| {
        ch.is_ascii_graphic() && !matches!(ch, '(' | ')' | '{' | '%' | '*' | '"' | '\\' | ']')
    };
    if let Some(bad) = names
        .iter()
        .find(|n| n.len() > MAX_CAPABILITY_LEN || !n.chars().all(atom_char))
    {
        return Err(format!(
            "`{bad}` is not an IMAP capability name (an atom of at most {MAX_CAPABILITY_LEN} characters)"
        ));
    }
    Ok(names)
}

/// The tag of a recorded case that cites no requirement yet.
pub const UNREVIEWED: &str = "unreviewed";

/// What `harness:` may name.
pub const HARNESS: [&str; 6] = ["restart", "second-user", "push", "cleartext", "tls", "app"];

fn words(value: &str) -> Vec<String> {
    value.split_whitespace().map(str::to_owned).collect()
}

fn small_number(value: &str, least: u8) -> Option<u8> {
    value.parse::<u8>().ok().filter(|n| (least..=9).contains(n))
}

/// `citation-link = "#=" SP "spec/" document "#" requirement-id`
fn citation_link(c: &mut Cursor<'_>) -> Result<RequirementRef, SyntaxError> {
    let line = c.line();
    if !c.eat("spec/") {
        return Err(c.error("a citation link is `#= spec/<document>.md#<ID>`"));
    }
    let document = c.take_while(|ch| ch != '#' && !ch.is_whitespace());
    if !document.ends_with(".md") || document.contains('/') || !c.eat("#") {
        return Err(c.error("a citation link is `#= spec/<document>.md#<ID>`"));
    }
    let id = c.take_while(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '-');
    let valid = id.split_once('-').is_some_and(|(p, n)| {
        !p.is_empty() && !n.is_empty() && n.chars().all(|d| d.is_ascii_digit())
    });
    if !valid || !c.rest().trim().is_empty() {
        return Err(c.error("a requirement ID is PREFIX-N, e.g. XAPS-11"));
    }
    Ok(RequirementRef {
        document: document.to_owned(),
        id: id.to_owned(),
        quote: String::new(),
        line,
    })
}

#[cfg(test)]
mod tests {
    use crate::transcript::parse;

    fn device_case(capabilities_line: &str, role: &str) -> String {
        format!(
            "case: x\n#= spec/sync.md#SYNC-1\n## q\nlevel: MUST\nrole: {role}\n{capabilities_line}\n\nwait 1ms\n"
        )
    }

    #[test]
    fn imap_capabilities_are_read_as_a_list_and_default_to_none() {
        let t = parse(
            "c.case",
            &device_case(
                "imap-capabilities: IMAP4rev1  AUTH=PLAIN CONDSTORE",
                "device",
            ),
        )
        .unwrap();
        assert_eq!(
            t.header.imap_capabilities,
            Some(vec![
                "IMAP4rev1".into(),
                "AUTH=PLAIN".into(),
                "CONDSTORE".into()
            ])
        );
        let t = parse("c.case", &device_case("imap-capabilities:", "device")).unwrap();
        assert_eq!(t.header.imap_capabilities, Some(vec![]));
        let t = parse("c.case", &device_case("# none", "device")).unwrap();
        assert_eq!(t.header.imap_capabilities, None);
    }

    #[test]
    fn bad_imap_capabilities_are_refused_with_line_and_column() {
        let too_many = vec!["X"; 33].join(" ");
        let too_long = "X".repeat(65);
        let cases = [
            (
                device_case("imap-capabilities: IMAP4rev1 (QRESYNC)", "device"),
                6,
                20,
                "not an IMAP capability",
            ),
            (
                device_case(&format!("imap-capabilities: {too_long}"), "device"),
                6,
                20,
                "not an IMAP capability",
            ),
            (
                device_case(&format!("imap-capabilities: {too_many}"), "device"),
                6,
                20,
                "at most 32",
            ),
            (
                device_case("imap-capabilities: IMAP4rev1", "imap-server"),
                1,
                1,
                "for device cases",
            ),
        ];
        for (text, line, column, words) in cases {
            let e = parse("c.case", &text).unwrap_err();
            assert_eq!((e.error.line, e.error.column), (line, column), "{e}");
            assert!(e.error.message.contains(words), "{e}");
        }
    }
}
