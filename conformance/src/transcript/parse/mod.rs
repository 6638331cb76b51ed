//! The transcript parser: `transcript = header blank-line body` (see `conformance/README.md`).
//! One function per rule, named after it: the header's fields and citations in `header`, the
//! steps and expectations of the body in `body`.

mod app;
mod body;
mod header;

pub use header::UNREVIEWED;

use body::body;
use header::header;

use std::time::Duration;

use super::cursor::Cursor;
use super::expr::expr;
use super::{DurationSpec, SyntaxError, Transcript, TranscriptError};

/// The largest transcript the parser reads.
pub const MAX_TRANSCRIPT_LEN: usize = 1 << 20;

/// Longest wait a duration may name, so a typo cannot hang a run for a day.
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Parses one transcript. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Transcript, TranscriptError> {
    let wrap = |error: SyntaxError| TranscriptError {
        file: file.to_owned(),
        error,
    };
    if text.len() > MAX_TRANSCRIPT_LEN {
        return Err(wrap(SyntaxError {
            line: 1,
            column: 1,
            message: format!("a transcript may have at most {MAX_TRANSCRIPT_LEN} octets"),
        }));
    }
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let (header, body_start) = header(&lines).map_err(wrap)?;
    let steps = body(&lines, body_start, &header).map_err(wrap)?;
    Ok(Transcript {
        file: file.to_owned(),
        header,
        steps,
        source: text.to_owned(),
    })
}

fn at(line: usize, column: usize, message: impl Into<String>) -> SyntaxError {
    SyntaxError {
        line,
        column,
        message: message.into(),
    }
}

/// `duration = 1*DIGIT ("ms" / "s") / "${" expr "}" ("ms" / "s")`
fn duration(c: &mut Cursor<'_>) -> Result<DurationSpec, SyntaxError> {
    let start = c.offset();
    let unit = |c: &mut Cursor<'_>| -> Result<bool, SyntaxError> {
        if c.eat("ms") {
            Ok(true)
        } else if c.eat("s") {
            Ok(false)
        } else {
            Err(c.error("expected a unit, `s` or `ms`"))
        }
    };
    if c.eat("${") {
        c.skip_space();
        let e = expr(c)?;
        c.skip_space();
        if !c.eat("}") {
            return Err(c.error("expected `}`"));
        }
        let millis = unit(c)?;
        return Ok(DurationSpec::Expr(e, millis));
    }
    let digits = c.take_while(|d| d.is_ascii_digit());
    let n: u64 = digits
        .parse()
        .map_err(|_| c.error_at(start, "expected a duration such as 5s or 500ms"))?;
    let d = if unit(c)? {
        Duration::from_millis(n)
    } else {
        Duration::from_secs(n)
    };
    if d > MAX_DURATION {
        return Err(c.error_at(start, "a duration of more than an hour"));
    }
    Ok(DurationSpec::Fixed(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{CommandPart, ImapStep, Status, StepKind};

    const GOOD: &str = "case: xaps-1.example
title: an example
#= spec/imap-push.md#XAPS-1
## A server that supports this extension MUST list
## `XAPPLEPUSHSERVICE`
level: MUST
role: imap-server
requires: XAPPLEPUSHSERVICE
state: auth
connections: 2

# a comment
1 ok capability
* CAPABILITY $* XAPPLEPUSHSERVICE $*
1 select $mailbox
$!exact
* $n EXISTS
? OK $*
1 ok [READ-WRITE] $*
2 idle
2 <- within 2s + $*
2 -> DONE
2 ok
push <- within 3s POST /v1/push/${lower(token)}
  TTL: $ttl
  !Urgency
  body json {\"aps\":{\"account-id\":\"$account\",\"m\":[\"${md5(mailbox)}\"]}}
push <- not within 1s POST $
repeat 3
  check i <= 3
end
1 ok append $mailbox {{Subject: x\\r\\n\\r\\nbody}}
";

    #[test]
    fn a_full_transcript_parses() {
        let t = parse("good.case", GOOD).unwrap();
        assert_eq!(t.header.id, "xaps-1.example");
        assert_eq!(
            t.header.requirements[0].quote,
            "A server that supports this extension MUST list `XAPPLEPUSHSERVICE`"
        );
        assert_eq!(t.header.connections, 2);
        assert_eq!(t.steps.len(), 11, "{:#?}", t.steps);
        let StepKind::Imap(1, ImapStep::Command(select)) = &t.steps[1].kind else {
            panic!("{:?}", t.steps[1]);
        };
        assert!(select.exact && select.open);
        assert_eq!(select.status, Some(Status::Ok));
        assert_eq!(select.expectations.len(), 2);
        let StepKind::Imap(1, ImapStep::Command(append)) = &t.steps[10].kind else {
            panic!("{:?}", t.steps[10]);
        };
        let CommandPart::Literal(literal) = &append.parts[1] else {
            panic!("{append:?}");
        };
        assert_eq!(
            literal.render(&Default::default()).unwrap(),
            "Subject: x\r\n\r\nbody"
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            (
                "case: x\nlevel: MUST\nrole: imap-server\n\n1 ok noop\n",
                1,
                "cites no requirement",
            ),
            (
                "case: x\n#= spec/a.md#A-1\n## q\nlevel: MUST\nrole: imap-server\n\n1 ok noop\n1 <- within 5 * x\n",
                8,
                "unit",
            ),
            (
                "case: x\n#= spec/a.md#A-1\n## q\nlevel: MUST\nrole: push-server\n\ndev1 <- notify id=x\n",
                7,
                "not a value",
            ),
            (
                "case: x\n#= spec/a.md#A-1\n## q\nlevel: MUST\nrole: imap-server\n\n1 select a\n",
                7,
                "no status line",
            ),
            (
                "case: x\n#= spec/a.md#A-1\n## q\nlevel: MUST\nrole: imap-server\n\n2 ok noop\n",
                7,
                "connections: 1",
            ),
        ];
        for (text, line, message) in cases {
            let error = parse("bad.case", text).unwrap_err();
            assert_eq!(error.error.line, line, "{error}");
            assert!(error.error.message.contains(message), "{error}");
            assert!(
                error.to_string().starts_with(&format!("bad.case:{line}:")),
                "{error}"
            );
        }
        let error = parse("bad.case", "case: x\n#= spec/a.md#A-1\n## q\nlevel: MUST\nrole: imap-server\n\n1 <- within 5s * (a\n").unwrap_err();
        assert_eq!((error.error.line, error.error.column), (7, 20), "{error}");
    }

    #[test]
    fn a_poll_interval_is_for_device_cases_only() {
        let case = |role: &str, poll: &str| {
            format!(
                "case: x\n#= spec/a.md#A-1\n## q\nlevel: MUST\nrole: {role}\npoll: {poll}\n\nwait 1s\n"
            )
        };
        let t = parse("p.case", &case("device", "600s")).unwrap();
        assert_eq!(t.header.poll, Some(std::time::Duration::from_secs(600)));
        let t = parse(
            "p.case",
            "case: x\n#= spec/a.md#A-1\n## q\nlevel: MUST\nrole: device\n\nwait 1s\n",
        )
        .unwrap();
        assert_eq!(t.header.poll, None);
        for (role, poll, message) in [
            ("imap-server", "600s", "for device cases"),
            ("device", "0s", "non-zero"),
            ("device", "${x}s", "fixed"),
            ("device", "7200s", "duration"),
        ] {
            let error = parse("p.case", &case(role, poll)).unwrap_err();
            assert!(error.error.message.contains(message), "{poll}: {error}");
        }
    }
}
