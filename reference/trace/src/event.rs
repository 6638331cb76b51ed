//! The trace event: who, when, which step of the protocol, the spec IDs behind it, and the few
//! facts that matter (spec/trace.md). Types that cannot be built invalid: a [`Label`] and a
//! [`SpecId`] are checked when made, text fields are bounded when set.

use std::fmt;

/// The longest mailbox name, token or detail text an event carries, in octets (TRACE-6).
pub const MAX_TEXT: usize = 1024;
/// The most mailbox names one event carries (TRACE-6).
pub const MAX_MAILBOXES: usize = 64;
/// The most spec IDs one event cites (TRACE-5).
pub const MAX_SPEC_IDS: usize = 16;
/// The longest device label, in octets (TRACE-3).
pub const MAX_LABEL: usize = 64;

/// A component of the system, one lane of the sequence chart (TRACE-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// An application on a device, such as notes.
    Notes,
    /// The data-access daemon of a device.
    Da,
    /// The mail client of a device.
    MailClient,
    /// The mail server.
    MailServer,
    /// The push notification server.
    PushServer,
}

impl Component {
    /// Every component, in the order of the table of spec/trace.md.
    pub const ALL: [Component; 5] = [
        Component::Notes,
        Component::Da,
        Component::MailClient,
        Component::MailServer,
        Component::PushServer,
    ];

    /// The name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Component::Notes => "notes",
            Component::Da => "da",
            Component::MailClient => "mail-client",
            Component::MailServer => "mail-server",
            Component::PushServer => "push-server",
        }
    }

    /// The name a reader sees in a chart.
    pub const fn title(self) -> &'static str {
        match self {
            Component::Notes => "notes",
            Component::Da => "DA",
            Component::MailClient => "mail client",
            Component::MailServer => "mail server",
            Component::PushServer => "push server",
        }
    }

    /// Whether the component runs on a device (and so an event of it names its device).
    pub const fn on_device(self) -> bool {
        matches!(
            self,
            Component::Notes | Component::Da | Component::MailClient
        )
    }

    /// The component with this wire name.
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field of an event other than time, component, device, event and spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `mailbox`: one mailbox name.
    Mailbox,
    /// `mailboxes`: several mailbox names (a LIST reply, a registration, a notification's `m`).
    Mailboxes,
    /// `token`: the token of a mailbox (device-local.md), not the device token.
    Token,
    /// `id`: a notification id (device-channel.md).
    Id,
    /// `retained`: the notification's flag.
    Retained,
    /// `cursor`: a device-channel cursor (hello, ack).
    Cursor,
    /// `versions`: a mailbox's version before and after (HIGHESTMODSEQ, or a view's).
    Versions,
    /// `detail`: free text.
    Detail,
}

impl Field {
    /// The name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::Mailbox => "mailbox",
            Field::Mailboxes => "mailboxes",
            Field::Token => "token",
            Field::Id => "id",
            Field::Retained => "retained",
            Field::Cursor => "cursor",
            Field::Versions => "versions",
            Field::Detail => "detail",
        }
    }
}

macro_rules! vocabulary {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $wire:literal, $from:ident -> $to:tt,
        model: $model:tt, spec: [$($spec:literal),+], requires: [$($req:ident),*];
    )+) => {
        /// What happened: the protocol step, in the spec's vocabulary (the table of TRACE-4).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            $($(#[$doc])* $variant,)+
        }

        impl EventKind {
            /// Every event kind, in the order of the table of spec/trace.md.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)+];

            /// The name on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $wire,)+ }
            }

            /// The only component that emits this event (TRACE-4).
            pub const fn emitter(self) -> Component {
                match self { $(EventKind::$variant => Component::$from,)+ }
            }

            /// The component a message goes to, or `None` for an event local to its emitter.
            pub const fn receiver(self) -> Option<Component> {
                match self { $(EventKind::$variant => vocabulary!(@to $to),)+ }
            }

            /// The action of the model (model/, spec/properties.md SM-8) that this event is, or
            /// is part of; `None` for an event below the model's abstraction.
            pub const fn model_action(self) -> Option<&'static str> {
                match self { $(EventKind::$variant => vocabulary!(@model $model),)+ }
            }

            /// The requirement IDs an event of this kind cites unless its emitter says more.
            pub const fn default_spec(self) -> &'static [&'static str] {
                match self { $(EventKind::$variant => &[$($spec),+],)+ }
            }

            /// The fields every event of this kind must carry (TRACE-6).
            pub const fn required(self) -> &'static [Field] {
                match self { $(EventKind::$variant => &[$(Field::$req),*],)+ }
            }
        }
    };
    (@to local) => { None };
    (@to $to:ident) => { Some(Component::$to) };
    (@model none) => { None };
    (@model $model:ident) => { Some(stringify!($model)) };
}

vocabulary! {
    /// The DA lists the account's mailboxes (IMAP LIST).
    ListMailboxes = "list-mailboxes", Da -> MailServer,
        model: ListMailboxes, spec: ["LOCAL-1"], requires: [];
    /// The DA registers a mailbox with the mail client.
    RegisterMailbox = "register-mailbox", Da -> MailClient,
        model: RegisterWithMailClient, spec: ["LOCAL-2"], requires: [Mailbox];
    /// The mail client gives the DA the token of a registered mailbox.
    Token = "token", MailClient -> Da,
        model: RegisterWithMailClient, spec: ["LOCAL-2", "LOCAL-3"], requires: [Mailbox, Token];
    /// The mail client sends `XAPPLEPUSHSERVICE` with the registered mailboxes.
    RequestPush = "request-push", MailClient -> MailServer,
        model: RequestPush, spec: ["LOCAL-4", "XAPS-14"], requires: [Mailboxes];
    /// The mail server replies with the push subset.
    PushSubset = "push-subset", MailServer -> MailClient,
        model: ServerRepliesPushSubset, spec: ["XAPS-10", "XAPS-11"], requires: [Mailboxes];
    /// The mail client wakes a token after the reply to a push registration.
    InitialWake = "initial-wake", MailClient -> Da,
        model: ServerRepliesPushSubset, spec: ["LOCAL-5"], requires: [Token];
    /// The application writes a note through the DA.
    NoteWrite = "note-write", Notes -> Da,
        model: none, spec: ["NOTE-6"], requires: [Mailbox];
    /// The DA stores a local change on the mail server (APPEND, STORE, EXPUNGE).
    Upload = "upload", Da -> MailServer,
        model: none, spec: ["NOTE-6"], requires: [Mailbox];
    /// A mailbox changed on the mail server.
    MailboxChange = "mailbox-change", MailServer -> local,
        model: MailboxChange, spec: ["PROV-18"], requires: [Mailbox];
    /// The mail server asks the push server to push to a device.
    PushRequest = "push-request", MailServer -> PushServer,
        model: PushRequest, spec: ["PROV-18", "PROV-19", "PROV-20"], requires: [Mailboxes];
    /// The push server holds an accepted notification in the device's ring.
    PushAccepted = "push-accepted", PushServer -> local,
        model: PushRequest, spec: ["RING-1", "CHAN-15"], requires: [Id];
    /// The push server replaced a held notification with the same topic.
    PushCoalesced = "push-coalesced", PushServer -> local,
        model: PushRequest, spec: ["RING-4", "RING-5"], requires: [Id];
    /// The push server dropped the oldest held notification of a full ring.
    PushDropped = "push-dropped", PushServer -> local,
        model: PushRequest, spec: ["RING-2", "RING-5"], requires: [Id];
    /// The device's mark, which becomes `retained`, was set (it was clear before).
    MarkSet = "mark-set", PushServer -> local,
        model: PushRequest, spec: ["RING-5"], requires: [];
    /// A held notification's TTL ran out.
    PushExpired = "push-expired", PushServer -> local,
        model: none, spec: ["RING-3", "RING-5"], requires: [Id];
    /// The mail client opens a device-channel session (`hello` with its cursor).
    Connect = "connect", MailClient -> PushServer,
        model: Reconnect, spec: ["CHAN-7", "CHAN-19"], requires: [Cursor];
    /// The device's session ended.
    Disconnect = "disconnect", PushServer -> local,
        model: Disconnect, spec: ["SM-4"], requires: [];
    /// The push server sends a notification (or a marker) to the device.
    Deliver = "deliver", PushServer -> MailClient,
        model: Deliver, spec: ["CHAN-16"], requires: [Id, Retained];
    /// The mail client acknowledges notifications up to its cursor.
    Ack = "ack", MailClient -> PushServer,
        model: Deliver, spec: ["CHAN-14", "LOCAL-24"], requires: [Cursor];
    /// The mail client wakes the token of a mailbox a notification names.
    Forward = "forward", MailClient -> Da,
        model: Deliver, spec: ["LOCAL-7"], requires: [Token];
    /// The mail client wakes a token because a notification carried `retained`.
    FanOut = "fan-out", MailClient -> Da,
        model: Deliver, spec: ["LOCAL-10"], requires: [Token];
    /// The mail client wakes the token of a mailbox without push on its schedule.
    ScheduledPoll = "scheduled-poll", MailClient -> Da,
        model: ScheduledPoll, spec: ["LOCAL-15"], requires: [Token];
    /// The DA synchronized a mailbox.
    Sync = "sync", Da -> MailServer,
        model: DaSync, spec: ["LOCAL-13", "SYNC-2"], requires: [Mailbox];
    /// The DA tells the application that its data changed.
    NoteUpdate = "note-update", Da -> Notes,
        model: none, spec: ["SYNC-13"], requires: [Mailbox];
}

impl EventKind {
    /// The event kind with this wire name.
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == name)
    }

    /// Whether the event names a device: every event of a device-side component, and every
    /// server event sent to or about one device (TRACE-3).
    pub const fn names_device(self) -> bool {
        let to_device = match self.receiver() {
            Some(c) => c.on_device(),
            None => false,
        };
        self.emitter().on_device()
            || to_device
            || matches!(
                self,
                EventKind::PushRequest
                    | EventKind::PushAccepted
                    | EventKind::PushCoalesced
                    | EventKind::PushDropped
                    | EventKind::PushExpired
                    | EventKind::MarkSet
                    | EventKind::Disconnect
            )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a label or a spec ID was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A device label must be 1 to 64 octets of letters, digits, `.`, `_`, `-` and `:`.
    #[error("a device label must be 1 to 64 characters of A-Z a-z 0-9 . _ - :")]
    Label,
    /// A spec ID is `PREFIX-N`: 2 to 8 capital letters, a hyphen, a number without leading zeros.
    #[error("a spec ID is PREFIX-N: 2 to 8 capital letters, `-`, a number without leading zeros")]
    SpecId,
}

/// `as_str` and `Display` for a text type checked when made.
macro_rules! checked_text {
    ($name:ident) => {
        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// The name of a device in a trace: short, and safe in any chart (TRACE-3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(String);

impl Label {
    /// A label, if `text` is 1 to 64 characters of `A-Z a-z 0-9 . _ - :`.
    pub fn new(text: &str) -> Result<Self, ValueError> {
        //= spec/trace.md#TRACE-3
        //# `device` is a label that names one device within a trace: 1 to 64
        //# characters of `A-Z`, `a-z`, `0-9`, `.`, `_`, `-` and `:`.
        let ok = !text.is_empty()
            && text.len() <= MAX_LABEL
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValueError::Label)
        }
    }
}

checked_text!(Label);

/// Characters of a device token a server's label for the device shows (TRACE-3).
pub const TOKEN_LABEL_CHARS: usize = 8;

impl Label {
    /// The label a server, which knows a device only by its device token, gives the device:
    /// `d-` and the first [`TOKEN_LABEL_CHARS`] characters of the token in lowercase (TRACE-3).
    /// A device that is given no label of its own uses the same, so that the events of both
    /// sides name one device alike. Characters a label cannot hold become `_`.
    pub fn of_device_token(token: &str) -> Self {
        //= spec/trace.md#TRACE-3
        //# A server, which knows a device only by its device token, MUST label it `d-` followed
        //# by the first 8 characters of the device token in lowercase
        let mut text = String::with_capacity(2 + TOKEN_LABEL_CHARS);
        text.push_str("d-");
        for c in token.chars().take(TOKEN_LABEL_CHARS) {
            let c = c.to_ascii_lowercase();
            text.push(if c.is_ascii_alphanumeric() { c } else { '_' });
        }
        Self(text)
    }
}

/// A requirement ID of the spec, such as `RING-5` (spec/README.md, "Requirements").
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpecId(String);

impl SpecId {
    /// A spec ID, if `text` is well formed.
    pub fn new(text: &str) -> Result<Self, ValueError> {
        let (prefix, number) = text.split_once('-').ok_or(ValueError::SpecId)?;
        let prefix_ok =
            (2..=8).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_uppercase());
        let number_ok = !number.is_empty()
            && number.len() <= 9
            && number.bytes().all(|b| b.is_ascii_digit())
            && !number.starts_with('0');
        if prefix_ok && number_ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValueError::SpecId)
        }
    }
}

checked_text!(SpecId);

/// A mailbox's version before and after an event: HIGHESTMODSEQ on the mail server, the view's on
/// the DA. Either may be unknown (a first sync has no before).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Versions {
    /// The version before.
    pub before: Option<u64>,
    /// The version after.
    pub after: Option<u64>,
}

/// Text cut to at most [`MAX_TEXT`] octets on a character boundary: a trace never fails because a
/// peer sent a long name, and never carries more than a reader accepts.
fn bounded(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// What a core hands out: an event without its time and component, which the driver stamps
/// ([`crate::Tracer`]). Built with [`Record::new`] and the setters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// What happened.
    pub kind: EventKind,
    /// The device the event is on, sent to or about; a driver of one device fills it in.
    pub device: Option<Label>,
    /// The requirement IDs behind the event (1 to [`MAX_SPEC_IDS`]).
    pub spec: Vec<SpecId>,
    /// `mailbox`.
    pub mailbox: Option<String>,
    /// `mailboxes`.
    pub mailboxes: Option<Vec<String>>,
    /// `token`.
    pub token: Option<String>,
    /// `id`: a notification id.
    pub id: Option<u64>,
    /// `retained`.
    pub retained: Option<bool>,
    /// `cursor`.
    pub cursor: Option<u64>,
    /// `versions`.
    pub versions: Option<Versions>,
    /// `detail`.
    pub detail: Option<String>,
}

impl Record {
    /// An event of `kind` citing the kind's default spec IDs, with no fields set.
    pub fn new(kind: EventKind) -> Self {
        Self {
            kind,
            device: None,
            spec: kind
                .default_spec()
                .iter()
                .map(|id| SpecId((*id).to_owned()))
                .collect(),
            mailbox: None,
            mailboxes: None,
            token: None,
            id: None,
            retained: None,
            cursor: None,
            versions: None,
            detail: None,
        }
    }

    /// Names the device.
    pub fn device(mut self, device: &Label) -> Self {
        self.device = Some(device.clone());
        self
    }

    /// Cites one more requirement (beyond [`MAX_SPEC_IDS`], it is left out).
    pub fn cite(mut self, id: SpecId) -> Self {
        if self.spec.len() < MAX_SPEC_IDS && !self.spec.contains(&id) {
            self.spec.push(id);
        }
        self
    }

    /// Cites the requirement `id` names; an ID that is not well formed is left out, so that a
    /// writer's typo costs a citation, never an event.
    pub fn cite_id(self, id: &str) -> Self {
        match SpecId::new(id) {
            Ok(id) => self.cite(id),
            Err(_) => self,
        }
    }

    /// Sets `mailbox` (cut to [`MAX_TEXT`] octets).
    pub fn mailbox(mut self, name: &str) -> Self {
        self.mailbox = Some(bounded(name));
        self
    }

    /// Sets `mailboxes` (the first [`MAX_MAILBOXES`], each cut to [`MAX_TEXT`] octets).
    pub fn mailboxes<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        self.mailboxes = Some(names.into_iter().take(MAX_MAILBOXES).map(bounded).collect());
        self
    }

    /// Sets `token` (cut to [`MAX_TEXT`] octets).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(bounded(token));
        self
    }

    /// Sets `id`.
    pub fn id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets `retained`.
    pub fn retained(mut self, retained: bool) -> Self {
        self.retained = Some(retained);
        self
    }

    /// Sets `cursor`.
    pub fn cursor(mut self, cursor: u64) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// Sets `versions`.
    pub fn versions(mut self, before: Option<u64>, after: Option<u64>) -> Self {
        self.versions = Some(Versions { before, after });
        self
    }

    /// Sets `detail` (cut to [`MAX_TEXT`] octets).
    pub fn detail(mut self, text: &str) -> Self {
        self.detail = Some(bounded(text));
        self
    }

    /// Whether the record carries `field`.
    pub fn has(&self, field: Field) -> bool {
        match field {
            Field::Mailbox => self.mailbox.is_some(),
            Field::Mailboxes => self.mailboxes.is_some(),
            Field::Token => self.token.is_some(),
            Field::Id => self.id.is_some(),
            Field::Retained => self.retained.is_some(),
            Field::Cursor => self.cursor.is_some(),
            Field::Versions => self.versions.is_some(),
            Field::Detail => self.detail.is_some(),
        }
    }
}

/// One line of a trace: a [`Record`] stamped with time and component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Microseconds since the Unix epoch on the emitter's clock (TRACE-7).
    pub time_us: u64,
    /// The component that emitted the event.
    pub component: Component,
    /// The event.
    pub record: Record,
}

/// Why an event breaks the rules of spec/trace.md (beyond the JSON shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl Event {
    /// Checks the rules that tie fields together (TRACE-3, TRACE-4, TRACE-5, TRACE-6): the
    /// emitter, the device, the spec IDs and the fields the event kind requires.
    pub fn check(&self) -> Result<(), Violation> {
        //= spec/trace.md#TRACE-4
        //# an event MUST be written only
        //# by the component its row names under "by".
        let kind = self.record.kind;
        if kind.emitter() != self.component {
            return Err(Violation {
                field: "component",
                problem: format!(
                    "event `{kind}` is emitted by `{}`, not `{}`",
                    kind.emitter(),
                    self.component
                ),
            });
        }
        if kind.names_device() && self.record.device.is_none() {
            return Err(Violation {
                field: "device",
                problem: format!("event `{kind}` must name its device"),
            });
        }
        //= spec/trace.md#TRACE-5
        //# `spec` MUST hold 1 to 16 requirement IDs
        if self.record.spec.is_empty() || self.record.spec.len() > MAX_SPEC_IDS {
            return Err(Violation {
                field: "spec",
                problem: format!("must cite 1 to {MAX_SPEC_IDS} requirement IDs"),
            });
        }
        //= spec/trace.md#TRACE-6
        //# An event MUST carry the fields its row of [TRACE-4](#TRACE-4)
        //# requires.
        if let Some(missing) = kind.required().iter().find(|f| !self.record.has(**f)) {
            return Err(Violation {
                field: missing.as_str(),
                problem: format!("event `{kind}` requires it"),
            });
        }
        Ok(())
    }
}
