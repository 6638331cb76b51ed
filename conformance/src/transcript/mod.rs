//! The transcript format: one conformance case per file, a header and a body of steps.
//! `conformance/README.md` specifies it (with ABNF); the parser's functions are named after its
//! rules. The parser never panics and reports a malformed transcript with the file, line and
//! column of the problem.

pub mod config;
mod cursor;
pub mod expr;
pub mod frame_pattern;
pub mod http_pattern;
pub mod imap_pattern;
mod parse;
pub mod pattern;

use std::time::Duration;

pub use config::{ConfigNeed, ConfigOp};
pub use expr::{EvalError, Expr, Vars};
pub use frame_pattern::{FramePattern, FrameTemplate};
pub use http_pattern::{HttpPattern, HttpTemplate};
pub use imap_pattern::ImapPattern;
pub use mailpush_spec::Level;
pub use parse::{MAX_TRANSCRIPT_LEN, UNREVIEWED, parse};
pub use pattern::{JsonPattern, Template, TextPattern};

/// A syntax error at a place in a transcript.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A malformed transcript: the file and the syntax error in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{error}")]
pub struct TranscriptError {
    /// The file as given to the parser.
    pub file: String,
    /// Where and what.
    pub error: SyntaxError,
}

/// The component a case checks; the runner plays the others. The specification's own, so that
/// a case's `role:` and the wire classification of its requirements name the same roles.
pub use mailpush_spec::Role;

/// The starting states a case of `role` may ask for (`state:`).
pub fn states(role: Role) -> &'static [&'static str] {
    match role {
        Role::ImapServer => &["nonauth", "auth", "mailbox", "selected", "registered"],
        Role::PushServer => &["none", "registered", "connected"],
        Role::Device => &["none", "running"],
    }
}

/// A requirement a case exercises, as its citation quotes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequirementRef {
    /// The document, e.g. `imap-push.md`.
    pub document: String,
    /// The ID, e.g. `XAPS-11`.
    pub id: String,
    /// The quoted text, lines joined with spaces.
    pub quote: String,
    /// The line of the `#=` link.
    pub line: usize,
}

/// What the runner answers to the requests a mail server under test sends to its push service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushReply {
    /// `201 Created` at once; the case reads the requests afterwards.
    Auto,
    /// Held until a `push ->` step of the case answers.
    Scripted,
}

/// The header of a case.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// `case:` the unique id.
    pub id: String,
    /// `title:` one line for people.
    pub title: String,
    /// The citations.
    pub requirements: Vec<RequirementRef>,
    /// `level:`
    pub level: Level,
    /// `role:`
    pub role: Role,
    /// `requires:` capabilities of the implementation (IMAP capability names for an IMAP
    /// server), compared case-insensitively.
    pub requires: Vec<String>,
    /// `harness:` what the runner must be able to do (`restart`, `second-user`, `push`, ...).
    pub harness: Vec<String>,
    /// `config:` configured values the implementation must have been declared to have
    /// (`--config`); an unmet one gives UNSUPPORTED.
    pub config: Vec<ConfigNeed>,
    /// `state:` one of [`Role::states`].
    pub state: String,
    /// `timeout:` the most the whole case may take, and the wait of a step without a deadline
    /// of its own.
    pub timeout: Duration,
    /// `connections:` IMAP connections opened for the case (1 to 9).
    pub connections: u8,
    /// `devices:` devices registered for the case (0 to 9).
    pub devices: u8,
    /// `mailboxes:` mailboxes created for the case (0 to 9).
    pub mailboxes: u8,
    /// `poll:` the poll interval the device under test is asked for in this case, instead of
    /// the runner's (`--poll-ms`); `device` cases only.
    pub poll: Option<Duration>,
    /// `exclusive:` the case must run alone.
    pub exclusive: bool,
    /// `push-reply:`
    pub push_reply: PushReply,
    /// `imap-capabilities:` what the runner's mail server lists after authentication in a device
    /// case, in place of its default list; `None` keeps the default.
    pub imap_capabilities: Option<Vec<String>>,
    /// `tags:` free classification words (for example `imap4rev1`).
    pub tags: Vec<String>,
}

/// A parsed transcript.
#[derive(Clone, Debug, PartialEq)]
pub struct Transcript {
    /// The file name as given.
    pub file: String,
    /// The header.
    pub header: Header,
    /// The body.
    pub steps: Vec<Step>,
    /// The text, for reports that quote lines.
    pub source: String,
}

impl Transcript {
    /// The source line `line` (1-based), without its end.
    pub fn line(&self, line: usize) -> &str {
        self.source
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or("")
    }
}

/// One step of a body, with the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// 1-based line.
    pub line: usize,
    /// What it does.
    pub kind: StepKind,
}

/// A time to wait: a constant, or an expression of seconds or milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub enum DurationSpec {
    /// Known when parsed.
    Fixed(Duration),
    /// `${expr}s` or `${expr}ms`: evaluated when the step runs; the flag says milliseconds.
    Expr(Expr, bool),
}

impl DurationSpec {
    /// The duration with the variables bound so far.
    pub fn eval(&self, vars: &Vars) -> Result<Duration, EvalError> {
        match self {
            DurationSpec::Fixed(d) => Ok(*d),
            DurationSpec::Expr(e, millis) => {
                let value = e.eval(vars)?;
                let n = value
                    .as_u64()
                    .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| {
                        EvalError::Type(format!("a duration: {value} is not a whole number"))
                    })?;
                Ok(if *millis {
                    Duration::from_millis(n)
                } else {
                    Duration::from_secs(n)
                })
            }
        }
    }
}

/// `within D` or `not within D` on a receive step.
#[derive(Clone, Debug, PartialEq)]
pub enum Deadline {
    /// The case's timeout.
    Default,
    /// `within D`: it must arrive in time.
    Within(DurationSpec),
    /// `not within D`: it must not arrive in that time.
    NotWithin(DurationSpec),
}

/// IMAP tagged status words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BAD`
    Bad,
    /// Any of the three.
    Any,
}

impl Status {
    /// Whether a status word satisfies this.
    pub fn accepts(self, word: &str) -> bool {
        match self {
            Status::Any => ["OK", "NO", "BAD"]
                .iter()
                .any(|w| w.eq_ignore_ascii_case(word)),
            Status::Ok => word.eq_ignore_ascii_case("OK"),
            Status::No => word.eq_ignore_ascii_case("NO"),
            Status::Bad => word.eq_ignore_ascii_case("BAD"),
        }
    }

    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::Any => "OK|NO|BAD",
        }
    }
}

/// What an expectation line after an IMAP command says about an untagged response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// `* ...`: it must be among the command's untagged responses.
    Must,
    /// `! ...`: it must not.
    MustNot,
    /// `? ...`: it may (allowed even under `$!exact`).
    May,
}

/// An expectation after an IMAP command.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// Must, must not or may.
    pub presence: Presence,
    /// The pattern over the response after its `*`.
    pub pattern: ImapPattern,
    /// Its line.
    pub line: usize,
}

/// A piece of an IMAP command: text, or a synchronizing literal `{{...}}`.
#[derive(Clone, Debug, PartialEq)]
pub enum CommandPart {
    /// Sent as it is (after rendering).
    Text(Template),
    /// Sent as `{n}` CRLF, then (after the server's continuation) the octets.
    Literal(Template),
}

/// An IMAP command step (imaptest's two forms).
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// The connection.
    pub conn: u8,
    /// The command after the tag.
    pub parts: Vec<CommandPart>,
    /// The tagged status expected; `None` until the status line of the second form.
    pub status: Option<Status>,
    /// With the second form: the pattern over the tagged response after its status word.
    pub status_pattern: Option<ImapPattern>,
    /// The line of the status line (second form).
    pub status_line: Option<usize>,
    /// Untagged responses it must, must not or may produce.
    pub expectations: Vec<Expectation>,
    /// `$!ordered`: the `*` expectations appear in this order.
    pub ordered: bool,
    /// `$!exact`: no untagged response besides the `*` and `?` ones.
    pub exact: bool,
    /// The second form: the command stays open while other steps run.
    pub open: bool,
}

/// How an IMAP connection is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectMode {
    /// As the runner is configured.
    Default,
    /// Without TLS, to the cleartext port.
    Cleartext,
}

/// What a receive step on an IMAP connection expects.
#[derive(Clone, Debug, PartialEq)]
pub enum ImapExpect {
    /// `* ...`
    Untagged(ImapPattern),
    /// `+ ...`
    Continuation(ImapPattern),
    /// `eof`: the server closed the connection.
    Eof,
}

/// A step on an IMAP connection.
#[derive(Clone, Debug, PartialEq)]
pub enum ImapStep {
    /// `N connect [cleartext]`
    Connect(ConnectMode),
    /// `N disconnect`
    Disconnect,
    /// A command (either form).
    Command(Box<Command>),
    /// The status line that completes an open command, by its index in the body's command
    /// list (resolved by the parser).
    Complete {
        /// The line of the command it completes.
        command_line: usize,
    },
    /// `N -> text`: a line sent without a tag.
    Send(Template),
    /// `N <- [deadline] ...`
    Expect(Deadline, ImapExpect),
}

/// A step on a provider-API or push-service channel.
#[derive(Clone, Debug, PartialEq)]
pub enum HttpStep {
    /// `->`: a request (`api`) or a response (`push`) the runner sends.
    Send(HttpTemplate),
    /// `<-`: a response (`api`) or a request (`push`) the runner expects.
    Expect(Deadline, HttpPattern),
}

/// A step on a device-channel connection.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameStep {
    /// `devN connect`
    Connect,
    /// `devN disconnect`
    Disconnect,
    /// `devN -> frame`
    Send(FrameTemplate),
    /// `devN <- [deadline] pattern`
    Expect(Deadline, FramePattern),
}

/// A step on the IMAP side of a device case, where the runner is the mail server.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceImapStep {
    /// `imap <- [deadline] pattern`: a command the device sends, on any of its connections;
    /// the pattern matches what follows the tag, and the tag is bound to `$tag`.
    Expect(Deadline, ImapPattern),
    /// `imap -> template`: a line sent to the connection of the command matched last.
    Send(Template),
    /// `imap <- may pattern` and the `imap ->` lines right after it: a command the device may
    /// send next on the connection of the command matched last (a choice its requirements leave
    /// open). If its next command there matches, it gets these lines, whenever it arrives, and
    /// no later step sees it; if that command is another, the step lapses; if it never comes,
    /// nothing is waited for.
    May(ImapPattern, Vec<Template>),
}

/// What a device case asks the implementation's application to do (the `app` hook).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppAction {
    /// `create TEXT`: a new note; the command prints its identity first.
    Create,
    /// `edit ID TEXT`: the note's text replaced.
    Edit,
    /// `delete ID`: the note deleted.
    Delete,
    /// `show ID`: the note's text printed.
    Show,
    /// `list`: one line per note, its identity and its title.
    List,
}

impl AppAction {
    /// Every action, in the order the README lists them.
    pub const ALL: [AppAction; 5] = [
        AppAction::Create,
        AppAction::Edit,
        AppAction::Delete,
        AppAction::Show,
        AppAction::List,
    ];

    /// The word of the transcript and of the `{action}` placeholder.
    pub fn as_str(self) -> &'static str {
        match self {
            AppAction::Create => "create",
            AppAction::Edit => "edit",
            AppAction::Delete => "delete",
            AppAction::Show => "show",
            AppAction::List => "list",
        }
    }

    /// Whether the action names a note (`{id}`) and carries text (`{text}`).
    pub fn arguments(self) -> (bool, bool) {
        match self {
            AppAction::Create => (false, true),
            AppAction::Edit => (true, true),
            AppAction::Delete | AppAction::Show => (true, false),
            AppAction::List => (false, false),
        }
    }
}

/// What `app <-` expects of the application command started last.
#[derive(Clone, Debug, PartialEq)]
pub struct AppFinish {
    /// When it must have ended.
    pub deadline: Deadline,
    /// `ok`: exit status 0; `fail`: any other (the application refused).
    pub success: bool,
    /// Lines of its standard output it must, must not or may print.
    pub expectations: Vec<Expectation>,
    /// `$!ordered`
    pub ordered: bool,
    /// `$!exact`
    pub exact: bool,
}

/// A step on the application of a device case.
#[derive(Clone, Debug, PartialEq)]
pub enum AppStep {
    /// `app -> ACTION [ID] [TEXT]`: starts the application command (`--app`); the case goes on
    /// while it runs.
    Run {
        /// What the application is asked to do.
        action: AppAction,
        /// The note's identity, for the actions that name one.
        id: Option<Expr>,
        /// The text, for the actions that carry one.
        text: Option<Expr>,
    },
    /// `app <- [deadline] ok|fail`: the command started last has ended, so.
    Finish(Box<AppFinish>),
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    /// `app ...`: the application of a device case.
    App(AppStep),
    /// `imap ...`: the mail server side of a device case.
    DeviceImap(DeviceImapStep),
    /// On IMAP connection `conn`.
    Imap(u8, ImapStep),
    /// On `api` or `push`.
    Http(String, HttpStep),
    /// On `devN` (the number).
    Frame(u8, FrameStep),
    /// `wait D`
    Wait(DurationSpec),
    /// `check EXPR`: FAIL unless true.
    Check(Expr),
    /// `assume EXPR`: UNSUPPORTED unless true.
    Assume(Expr),
    /// `let NAME = EXPR`
    Let(String, Expr),
    /// `repeat EXPR` ... `end`: the steps EXPR times, with `$i` from 1.
    Repeat(Expr, Vec<Step>),
    /// `restart`: the runner stops the implementation (SIGKILL) and starts it again.
    Restart,
    /// `cleartext SERVICE not within D`: in a TLS run, a connection to the service's TLS
    /// address that speaks the protocol in the clear gets no service within D.
    Cleartext(CleartextService, DurationSpec),
}

/// The service a `cleartext` step speaks to in the clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CleartextService {
    /// The IMAP server: the runner sends `LOGIN`.
    Imap,
    /// The push server's provider API: the runner sends an HTTP/1.1 request.
    Api,
    /// The push server's device channel: the runner sends `hello`.
    Device,
}

/// The channels a line can start with, for error messages.
pub(crate) const CHANNEL_HELP: &str = "a step starts with an IMAP connection number (1-9), `imap`, `app`, `api`, `push`, `dev1`-`dev9`, \
     `wait`, `check`, `assume`, `let`, `repeat`, `end`, `restart` or `cleartext`";
