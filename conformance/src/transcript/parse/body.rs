//! The body: `body = *(step / expectation / continuation / comment / empty-line)`, the steps a
//! case plays on each connection and what it expects back.

use super::app::app_step;
use super::{at, duration};

use crate::transcript::cursor::Cursor;
use crate::transcript::expr::{expr, name_char, name_start};
use crate::transcript::frame_pattern::{frame_expect, frame_send};
use crate::transcript::http_pattern::{
    HttpPattern, HttpTemplate, http_expect_line, http_expect_start, http_send_line, http_send_start,
};
use crate::transcript::imap_pattern::imap_pattern;
use crate::transcript::pattern::{Piece, Template, template};
use crate::transcript::{
    AppFinish, AppStep, CHANNEL_HELP, CleartextService, Command, CommandPart, ConnectMode,
    Deadline, DeviceImapStep, Expectation, FrameStep, Header, HttpStep, ImapExpect, ImapStep,
    Presence, Role, Status, Step, StepKind, SyntaxError,
};

/// Where a continuation or expectation line goes.
enum Context {
    None,
    /// The last step is an IMAP command (block index path resolved by the step's position).
    Command,
    /// The last step is `app <-`: expectations judge the application's output lines.
    App,
    HttpSend,
    HttpExpect,
}

struct Block {
    steps: Vec<Step>,
    /// `repeat`'s expression and line, `None` for the body itself.
    repeat: Option<(crate::transcript::Expr, usize)>,
}

struct BodyParser<'h> {
    header: &'h Header,
    blocks: Vec<Block>,
    context: Context,
    /// The indentation of the last step; deeper lines continue an HTTP step.
    step_indent: usize,
    /// Per IMAP connection: the line of the open command and the block depth it was opened at.
    open: [Option<(usize, usize)>; 10],
}

/// `body = *(step / expectation / continuation / comment / empty-line)`
pub(super) fn body(
    lines: &[&str],
    start: usize,
    header: &Header,
) -> Result<Vec<Step>, SyntaxError> {
    let mut p = BodyParser {
        header,
        blocks: vec![Block {
            steps: Vec::new(),
            repeat: None,
        }],
        context: Context::None,
        step_indent: 0,
        open: [None; 10],
    };
    for (index, line) in lines.iter().enumerate().skip(start) {
        p.line(line, index + 1)?;
    }
    if let Some((line, _)) = p.open.iter().flatten().next() {
        return Err(at(
            *line,
            1,
            "this command has no status line (`N ok`, `N no`, `N bad`)",
        ));
    }
    if p.blocks.len() > 1 {
        let line = p
            .blocks
            .last()
            .and_then(|b| b.repeat.as_ref())
            .map_or(1, |(_, l)| *l);
        return Err(at(line, 1, "`repeat` without `end`"));
    }
    let steps = p.blocks.pop().map(|b| b.steps).unwrap_or_default();
    if steps.is_empty() {
        return Err(at(lines.len().max(1), 1, "the body has no step"));
    }
    Ok(steps)
}

impl BodyParser<'_> {
    fn steps(&mut self) -> &mut Vec<Step> {
        // The body block is never popped, so there is always one.
        let last = self.blocks.len() - 1;
        &mut self.blocks[last].steps
    }

    fn push(&mut self, line: usize, kind: StepKind) {
        self.steps().push(Step { line, kind });
    }

    fn line(&mut self, text: &str, number: usize) -> Result<(), SyntaxError> {
        if text.trim().is_empty() {
            self.context = Context::None;
            return Ok(());
        }
        let unindented = text.trim_start_matches([' ', '\t']);
        // A comment may be indented like the steps around it (inside `repeat`).
        if unindented.starts_with('#') {
            return Ok(());
        }
        let indent = text.len() - unindented.len();
        let mut c = Cursor::new(text, number, 1);
        c.skip_space();
        let expectation = matches!(c.peek(), Some('*' | '!' | '?')) && c.peek2() == Some(' ')
            || c.rest().starts_with("$!");
        match self.context {
            Context::HttpSend | Context::HttpExpect if indent > self.step_indent => {
                let Some(Step {
                    kind: StepKind::Http(_, step),
                    ..
                }) = self.steps().last_mut()
                else {
                    return Err(c.error("nothing to continue"));
                };
                match step {
                    HttpStep::Send(message) => http_send_line(&mut c, message),
                    HttpStep::Expect(_, message) => http_expect_line(&mut c, message),
                }
            }
            Context::Command | Context::App if expectation => self.expectation(&mut c),
            _ if expectation => Err(c.error(
                "an expectation (`* `, `! `, `? `, `$!`) must follow an IMAP command or `app <-`",
            )),
            _ => {
                self.context = Context::None;
                self.step_indent = indent;
                self.step(&mut c, number)
            }
        }
    }

    /// `expectation = ("*" / "!" / "?") SP imap-pattern / "$!ordered" / "$!exact"`
    fn expectation(&mut self, c: &mut Cursor<'_>) -> Result<(), SyntaxError> {
        let line = c.line();
        let (expectations, ordered, exact) = match self.steps().last_mut() {
            Some(Step {
                kind: StepKind::Imap(_, ImapStep::Command(command)),
                ..
            }) => {
                let Command {
                    expectations,
                    ordered,
                    exact,
                    ..
                } = &mut **command;
                (expectations, ordered, exact)
            }
            Some(Step {
                kind: StepKind::App(AppStep::Finish(finish)),
                ..
            }) => {
                let AppFinish {
                    expectations,
                    ordered,
                    exact,
                    ..
                } = &mut **finish;
                (expectations, ordered, exact)
            }
            _ => return Err(c.error("an expectation must follow an IMAP command or `app <-`")),
        };
        if c.eat_word("$!ordered") {
            *ordered = true;
        } else if c.eat_word("$!exact") {
            *exact = true;
        } else {
            let presence = match c.bump() {
                Some('*') => Presence::Must,
                Some('!') => Presence::MustNot,
                Some('?') => Presence::May,
                _ => return Err(c.error("expected `* `, `! `, `? `, `$!ordered` or `$!exact`")),
            };
            c.skip_space();
            let pattern = imap_pattern(c)?;
            expectations.push(Expectation {
                presence,
                pattern,
                line,
            });
            return Ok(());
        }
        if !c.at_end() {
            return Err(c.error("nothing may follow a directive"));
        }
        Ok(())
    }

    /// `step = imap-step / http-step / frame-step / control-step`
    fn step(&mut self, c: &mut Cursor<'_>, line: usize) -> Result<(), SyntaxError> {
        let start = c.offset();
        let word = c.take_while(|ch| ch.is_ascii_alphanumeric() || ch == '-');
        let role = self.header.role;
        if word.len() == 1 && word.chars().all(|d| ('1'..='9').contains(&d)) {
            if role == Role::PushServer {
                return Err(c.error_at(start, "a push-server case has no IMAP connection"));
            }
            let conn = word.parse::<u8>().unwrap_or(1);
            if conn > self.header.connections && role == Role::ImapServer {
                return Err(c.error_at(
                    start,
                    format!(
                        "connection {conn}, but `connections: {}`",
                        self.header.connections
                    ),
                ));
            }
            return self.imap_step(c, line, conn);
        }
        if let Some(n) = word.strip_prefix("dev") {
            let Some(conn) = n.parse::<u8>().ok().filter(|d| (1..=9).contains(d)) else {
                return Err(c.error_at(start, "device connections are dev1 to dev9"));
            };
            if role == Role::ImapServer {
                return Err(c.error_at(start, "an imap-server case has no device channel"));
            }
            return self.frame_step(c, line, conn);
        }
        match word {
            "app" => {
                if role != Role::Device {
                    return Err(c.error_at(
                        start,
                        "`app` (the implementation's application) is a channel of device cases only",
                    ));
                }
                if !self.header.harness.iter().any(|h| h == "app") {
                    return Err(c.error_at(
                        start,
                        "an `app` step needs `harness: app` in the header (a device without an application hook gets UNSUPPORTED)",
                    ));
                }
                let step = app_step(c, Self::deadline)?;
                if matches!(step, AppStep::Finish(_)) {
                    self.context = Context::App;
                }
                self.push(line, StepKind::App(step));
                Ok(())
            }
            "imap" => {
                if role != Role::Device {
                    return Err(c.error_at(
                        start,
                        "`imap` (the device's commands to the mail server the runner plays) is a channel of device cases only; number the connections of other roles",
                    ));
                }
                self.device_imap_step(c, line)
            }
            "api" | "push" => {
                let allowed = match role {
                    Role::PushServer => word == "api",
                    Role::ImapServer => word == "push",
                    Role::Device => word == "api",
                };
                if !allowed {
                    return Err(c.error_at(
                        start,
                        format!("`{word}` is not a channel of a {role} case (imap-server: `push`; push-server: `api`)"),
                    ));
                }
                self.http_step(c, line, word)
            }
            "cleartext" => {
                if !self.header.harness.iter().any(|h| h == "tls") {
                    return Err(c.error_at(
                        start,
                        "a `cleartext` step needs `harness: tls` in the header (a run without TLS has no TLS address to speak to in the clear)",
                    ));
                }
                c.skip_space();
                let service = if c.eat_word("imap") && role == Role::ImapServer {
                    CleartextService::Imap
                } else if c.eat_word("api") && role == Role::PushServer {
                    CleartextService::Api
                } else if c.eat_word("dev") && role == Role::PushServer {
                    CleartextService::Device
                } else {
                    return Err(c.error(
                        "`cleartext` names a service of the case's role: `imap` (imap-server), `api` or `dev` (push-server)",
                    ));
                };
                let Deadline::NotWithin(d) = Self::deadline(c)? else {
                    return Err(
                        c.error("`cleartext` says how long no service must come: `not within D`")
                    );
                };
                self.end_of_line(c)?;
                self.push(line, StepKind::Cleartext(service, d));
                Ok(())
            }
            "wait" => {
                c.skip_space();
                let d = duration(c)?;
                self.end_of_line(c)?;
                self.push(line, StepKind::Wait(d));
                Ok(())
            }
            "check" | "assume" => {
                c.skip_space();
                let e = expr(c)?;
                self.end_of_line(c)?;
                let kind = if word == "check" {
                    StepKind::Check(e)
                } else {
                    StepKind::Assume(e)
                };
                self.push(line, kind);
                Ok(())
            }
            "let" => {
                c.skip_space();
                if !c.peek().is_some_and(name_start) {
                    return Err(c.error("expected a variable name"));
                }
                let name = c.take_while(name_char).to_owned();
                c.skip_space();
                if !c.eat("=") {
                    return Err(c.error("expected `=`"));
                }
                c.skip_space();
                let e = expr(c)?;
                self.end_of_line(c)?;
                self.push(line, StepKind::Let(name, e));
                Ok(())
            }
            "repeat" => {
                c.skip_space();
                let e = expr(c)?;
                self.end_of_line(c)?;
                if self.blocks.len() > 8 {
                    return Err(c.error("`repeat` nested more than 8 deep"));
                }
                self.blocks.push(Block {
                    steps: Vec::new(),
                    repeat: Some((e, line)),
                });
                Ok(())
            }
            "end" => {
                self.end_of_line(c)?;
                if self.blocks.len() < 2 {
                    return Err(c.error_at(start, "`end` without `repeat`"));
                }
                let depth = self.blocks.len() - 1;
                if let Some((open, _)) = self.open.iter().flatten().find(|(_, d)| *d == depth) {
                    return Err(at(
                        *open,
                        1,
                        "a command opened in a `repeat` must be completed in it",
                    ));
                }
                let Some(Block {
                    steps,
                    repeat: Some((e, at_line)),
                }) = self.blocks.pop()
                else {
                    return Err(c.error_at(start, "`end` without `repeat`"));
                };
                if steps.is_empty() {
                    return Err(at(at_line, 1, "an empty `repeat`"));
                }
                self.push(at_line, StepKind::Repeat(e, steps));
                Ok(())
            }
            "restart" => {
                self.end_of_line(c)?;
                self.push(line, StepKind::Restart);
                Ok(())
            }
            _ => Err(c.error_at(start, CHANNEL_HELP)),
        }
    }

    fn end_of_line(&self, c: &mut Cursor<'_>) -> Result<(), SyntaxError> {
        c.skip_space();
        if c.at_end() {
            Ok(())
        } else {
            Err(c.error("unexpected text at the end of the step"))
        }
    }

    /// `deadline = "within" SP duration / "not" SP "within" SP duration`
    fn deadline(c: &mut Cursor<'_>) -> Result<Deadline, SyntaxError> {
        c.skip_space();
        let negative = c.eat_word("not");
        if negative {
            c.skip_space();
            if !c.eat_word("within") {
                return Err(c.error("expected `within` after `not`"));
            }
        } else if !c.eat_word("within") {
            return Ok(Deadline::Default);
        }
        c.skip_space();
        let d = duration(c)?;
        c.skip_space();
        Ok(if negative {
            Deadline::NotWithin(d)
        } else {
            Deadline::Within(d)
        })
    }

    /// `device-imap-step = "imap" SP ("<-" [SP deadline] SP imap-pattern
    ///                               / "<-" SP "may" SP imap-pattern / "->" SP template)`
    fn device_imap_step(&mut self, c: &mut Cursor<'_>, line: usize) -> Result<(), SyntaxError> {
        c.skip_space();
        if c.eat("->") {
            c.skip_space();
            let t = template(c)?;
            // The lines right after an optional command are its answer.
            if let Some(Step {
                kind: StepKind::DeviceImap(DeviceImapStep::May(_, answer)),
                ..
            }) = self.steps().last_mut()
            {
                answer.push(t);
            } else {
                self.push(line, StepKind::DeviceImap(DeviceImapStep::Send(t)));
            }
            return Ok(());
        }
        if c.eat("<-") {
            c.skip_space();
            if c.eat_word("may") {
                c.skip_space();
                let at = c.offset();
                if Self::deadline(c)? != Deadline::Default {
                    return Err(c.error_at(
                        at,
                        "an optional command (`may`) has no deadline: nothing waits for it",
                    ));
                }
                let pattern = imap_pattern(c)?;
                if pattern.tokens.is_empty() {
                    return Err(c.error("expected the pattern of a command (after its tag)"));
                }
                self.push(
                    line,
                    StepKind::DeviceImap(DeviceImapStep::May(pattern, Vec::new())),
                );
                return Ok(());
            }
            let deadline = Self::deadline(c)?;
            c.skip_space();
            let pattern = imap_pattern(c)?;
            if pattern.tokens.is_empty() {
                return Err(c.error("expected the pattern of a command (after its tag)"));
            }
            self.push(
                line,
                StepKind::DeviceImap(DeviceImapStep::Expect(deadline, pattern)),
            );
            return Ok(());
        }
        Err(c.error("expected `<-` (a command the device sends) or `->` (a line the runner sends)"))
    }

    /// `imap-step`
    fn imap_step(&mut self, c: &mut Cursor<'_>, line: usize, conn: u8) -> Result<(), SyntaxError> {
        if !c.eat(" ") {
            return Err(c.error("expected a space after the connection number"));
        }
        c.skip_space();
        let slot = usize::from(conn);
        if c.eat_word("connect") {
            c.skip_space();
            let mode = if c.eat_word("cleartext") {
                ConnectMode::Cleartext
            } else {
                ConnectMode::Default
            };
            self.end_of_line(c)?;
            self.push(line, StepKind::Imap(conn, ImapStep::Connect(mode)));
            return Ok(());
        }
        if c.eat_word("disconnect") {
            self.end_of_line(c)?;
            self.push(line, StepKind::Imap(conn, ImapStep::Disconnect));
            return Ok(());
        }
        if c.eat("->") {
            c.skip_space();
            let t = template(c)?;
            self.push(line, StepKind::Imap(conn, ImapStep::Send(t)));
            return Ok(());
        }
        if c.eat("<-") {
            let deadline = Self::deadline(c)?;
            let expect = if c.eat_word("eof") {
                self.end_of_line(c)?;
                ImapExpect::Eof
            } else if c.eat("*") {
                c.skip_space();
                ImapExpect::Untagged(imap_pattern(c)?)
            } else if c.eat("+") {
                c.skip_space();
                ImapExpect::Continuation(imap_pattern(c)?)
            } else {
                return Err(c.error("expected `* pattern`, `+ pattern` or `eof`"));
            };
            self.push(
                line,
                StepKind::Imap(conn, ImapStep::Expect(deadline, expect)),
            );
            return Ok(());
        }
        let status_at = c.offset();
        let status = status_word(c);
        if let (Some(status), Some((command_line, depth))) = (status, self.open[slot]) {
            // The status line of the open command.
            if depth != self.blocks.len() - 1 {
                return Err(c.error_at(
                    status_at,
                    "a command opened in a `repeat` must be completed in it",
                ));
            }
            c.skip_space();
            let pattern = imap_pattern(c)?;
            let command = self
                .find_command(command_line)
                .ok_or_else(|| c.error("lost command"))?;
            command.status = Some(status);
            // A bare status line says nothing about the text after the status word.
            command.status_pattern = (!pattern.tokens.is_empty()).then_some(pattern);
            command.status_line = Some(line);
            self.open[slot] = None;
            self.push(
                line,
                StepKind::Imap(conn, ImapStep::Complete { command_line }),
            );
            return Ok(());
        }
        if status.is_none() {
            c.reset(status_at);
        } else {
            c.skip_space();
        }
        if let Some((open_line, _)) = self.open[slot] {
            return Err(c.error(format!(
                "connection {conn} already has an open command (line {open_line}); complete it with `{conn} ok`, `{conn} no` or `{conn} bad` first"
            )));
        }
        let parts = command_parts(c)?;
        let open = status.is_none();
        if open {
            self.open[slot] = Some((line, self.blocks.len() - 1));
        }
        let command = Command {
            conn,
            parts,
            status,
            status_pattern: None,
            status_line: None,
            expectations: Vec::new(),
            ordered: false,
            exact: false,
            open,
        };
        self.push(
            line,
            StepKind::Imap(conn, ImapStep::Command(Box::new(command))),
        );
        self.context = Context::Command;
        Ok(())
    }

    fn find_command(&mut self, line: usize) -> Option<&mut Command> {
        for block in self.blocks.iter_mut().rev() {
            for step in block.steps.iter_mut().rev() {
                if step.line == line
                    && let StepKind::Imap(_, ImapStep::Command(command)) = &mut step.kind
                {
                    return Some(command);
                }
            }
        }
        None
    }

    /// `http-step = ("api" / "push") SP ("->" SP http-send / "<-" [SP deadline] SP http-expect)`
    fn http_step(
        &mut self,
        c: &mut Cursor<'_>,
        line: usize,
        channel: &str,
    ) -> Result<(), SyntaxError> {
        c.skip_space();
        // `api` sends requests and reads responses; `push` reads requests and sends responses.
        let sends_requests = channel == "api";
        if c.eat("->") {
            c.skip_space();
            let start = http_send_start(c, sends_requests)?;
            let message = HttpTemplate {
                start,
                headers: Vec::new(),
                body: None,
            };
            self.push(
                line,
                StepKind::Http(channel.to_owned(), HttpStep::Send(message)),
            );
            self.context = Context::HttpSend;
            return Ok(());
        }
        if c.eat("<-") {
            let deadline = Self::deadline(c)?;
            let start = http_expect_start(c, !sends_requests)?;
            let message = HttpPattern {
                start,
                headers: Vec::new(),
                body: None,
            };
            self.push(
                line,
                StepKind::Http(channel.to_owned(), HttpStep::Expect(deadline, message)),
            );
            self.context = Context::HttpExpect;
            return Ok(());
        }
        Err(c.error("expected `->` or `<-`"))
    }

    /// `frame-step = "dev" DIGIT SP ("connect" / "disconnect" / "->" SP frame-send / "<-" [SP deadline] SP frame-expect)`
    fn frame_step(&mut self, c: &mut Cursor<'_>, line: usize, conn: u8) -> Result<(), SyntaxError> {
        c.skip_space();
        let step = if c.eat_word("connect") {
            FrameStep::Connect
        } else if c.eat_word("disconnect") {
            FrameStep::Disconnect
        } else if c.eat("->") {
            c.skip_space();
            FrameStep::Send(frame_send(c)?)
        } else if c.eat("<-") {
            let deadline = Self::deadline(c)?;
            FrameStep::Expect(deadline, frame_expect(c)?)
        } else {
            return Err(c.error("expected `connect`, `disconnect`, `->` or `<-`"));
        };
        self.end_of_line(c)?;
        self.push(line, StepKind::Frame(conn, step));
        Ok(())
    }
}

/// `status = "ok" / "no" / "bad" / "any"` (case-insensitive), when it is followed by a space or
/// the end.
fn status_word(c: &mut Cursor<'_>) -> Option<Status> {
    [
        ("ok", Status::Ok),
        ("no", Status::No),
        ("bad", Status::Bad),
        ("any", Status::Any),
    ]
    .into_iter()
    .find(|(w, _)| c.eat_word(w))
    .map(|(_, s)| s)
}

/// `command-text = 1*(template / "{{" literal-text "}}")`: the command after the tag, with
/// synchronizing literals written in place; `\r`, `\n`, `\t` and `\\` are escapes inside
/// `{{...}}`.
fn command_parts(c: &mut Cursor<'_>) -> Result<Vec<CommandPart>, SyntaxError> {
    let mut parts = Vec::new();
    while !c.at_end() {
        let rest = c.rest();
        match rest.find("{{") {
            Some(0) => {
                c.eat("{{");
                let inner_len = c
                    .rest()
                    .find("}}")
                    .ok_or_else(|| c.error("`{{` without `}}`"))?;
                let mut inner = c.split(inner_len);
                c.eat("}}");
                let t = template(&mut inner)?;
                parts.push(CommandPart::Literal(unescape_literal(t, &inner)?));
            }
            Some(n) => {
                let mut text = c.split(n);
                parts.push(CommandPart::Text(template(&mut text)?));
            }
            None => {
                let mut text = c.split(rest.len());
                parts.push(CommandPart::Text(template(&mut text)?));
            }
        }
    }
    if parts.is_empty() {
        return Err(c.error("expected a command"));
    }
    Ok(parts)
}

fn unescape_literal(t: Template, c: &Cursor<'_>) -> Result<Template, SyntaxError> {
    let mut pieces = Vec::new();
    for piece in t.pieces {
        match piece {
            Piece::Lit(text) => {
                let mut out = String::new();
                let mut chars = text.chars();
                while let Some(ch) = chars.next() {
                    if ch != '\\' {
                        out.push(ch);
                        continue;
                    }
                    match chars.next() {
                        Some('r') => out.push('\r'),
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some('\\') => out.push('\\'),
                        _ => {
                            return Err(
                                c.error("inside `{{...}}` the escapes are \\r \\n \\t \\\\")
                            );
                        }
                    }
                }
                pieces.push(Piece::Lit(out));
            }
            other => pieces.push(other),
        }
    }
    Ok(Template { pieces })
}
