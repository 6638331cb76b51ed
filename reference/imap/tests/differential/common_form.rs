//! The common form both codecs' values are projected to: a small tree of
//! labels, numbers, octet strings and lists, in which two values are
//! equivalent exactly when their trees are equal.
//!
//! Conventions, so that a difference shows where it is: a compound value is
//! a list whose first element names it (`(FETCH 12 ...)`); names, keywords,
//! flags, capabilities and mechanisms (case-insensitive in IMAP) are
//! upper-cased; strings are their octets, whatever their spelling on the
//! wire (atom, quoted or literal); `NIL` is absent.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub enum Node {
    /// A label or a case-insensitive word, upper-cased.
    Word(String),
    Num(u64),
    /// String content.
    Bytes(Vec<u8>),
    Nil,
    List(Vec<Node>),
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Word(w) => f.write_str(w),
            Node::Num(n) => write!(f, "{n}"),
            Node::Bytes(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Node::Nil => f.write_str("NIL"),
            Node::List(v) => {
                f.write_str("(")?;
                for (i, n) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{n:?}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// A label or keyword, upper-cased.
pub fn w(s: impl AsRef<str>) -> Node {
    Node::Word(s.as_ref().to_ascii_uppercase())
}

pub fn n(v: impl Into<u64>) -> Node {
    Node::Num(v.into())
}

pub fn b(v: impl AsRef<[u8]>) -> Node {
    Node::Bytes(v.as_ref().to_vec())
}

/// `NIL` for `None`.
pub fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Node) -> Node {
    v.map_or(Node::Nil, f)
}

macro_rules! l {
    ($($e:expr),* $(,)?) => { $crate::common_form::Node::List(vec![$($e),*]) };
}
pub(crate) use l;

/// `addresses` and `envelope` for a codec whose `Envelope` and `Address`
/// have the fields of RFC 3501 §9 `envelope` under the same names (both do),
/// given its `nstring` projection:
/// `(ENV date subject (ADDRESSES (ADDRESS name adl mailbox host)...)×6
/// in-reply-to message-id)`.
macro_rules! envelope_projection {
    () => {
        fn addresses(a: &[Address]) -> Node {
            tagged(
                "ADDRESSES",
                a.iter().map(|a| {
                    l![
                        w("ADDRESS"),
                        nstring(&a.name),
                        nstring(&a.adl),
                        nstring(&a.mailbox),
                        nstring(&a.host)
                    ]
                }),
            )
        }

        fn envelope(e: &Envelope) -> Node {
            l![
                w("ENV"),
                nstring(&e.date),
                nstring(&e.subject),
                addresses(&e.from),
                addresses(&e.sender),
                addresses(&e.reply_to),
                addresses(&e.to),
                addresses(&e.cc),
                addresses(&e.bcc),
                nstring(&e.in_reply_to),
                nstring(&e.message_id)
            ]
        }
    };
}
pub(crate) use envelope_projection;

/// The search keys both codecs name alike and that take nothing, a string
/// (`$bytes` gives its octets) or a date (`$date` projects it); `None` for
/// the others. `SearchKey` is the codec's own.
macro_rules! simple_search_key {
    ($k:expr, $bytes:expr, $date:expr) => {{
        let s = |name: &str, v| Some(l![w(name), b($bytes(v))]);
        let d = |name: &str, v| Some(l![w(name), $date(v)]);
        let unit = |name: &str| Some(tagged(name, []));
        match $k {
            SearchKey::All => unit("ALL"),
            SearchKey::Answered => unit("ANSWERED"),
            SearchKey::Deleted => unit("DELETED"),
            SearchKey::Draft => unit("DRAFT"),
            SearchKey::Flagged => unit("FLAGGED"),
            SearchKey::New => unit("NEW"),
            SearchKey::Old => unit("OLD"),
            SearchKey::Recent => unit("RECENT"),
            SearchKey::Seen => unit("SEEN"),
            SearchKey::Unanswered => unit("UNANSWERED"),
            SearchKey::Undeleted => unit("UNDELETED"),
            SearchKey::Undraft => unit("UNDRAFT"),
            SearchKey::Unflagged => unit("UNFLAGGED"),
            SearchKey::Unseen => unit("UNSEEN"),
            SearchKey::Bcc(v) => s("BCC", v),
            SearchKey::Body(v) => s("BODY", v),
            SearchKey::Cc(v) => s("CC", v),
            SearchKey::From(v) => s("FROM", v),
            SearchKey::Subject(v) => s("SUBJECT", v),
            SearchKey::Text(v) => s("TEXT", v),
            SearchKey::To(v) => s("TO", v),
            SearchKey::Before(v) => d("BEFORE", v),
            SearchKey::On(v) => d("ON", v),
            SearchKey::SentBefore(v) => d("SENTBEFORE", v),
            SearchKey::SentOn(v) => d("SENTON", v),
            SearchKey::SentSince(v) => d("SENTSINCE", v),
            SearchKey::Since(v) => d("SINCE", v),
            SearchKey::Larger(v) => Some(l![w("LARGER"), n(*v)]),
            SearchKey::Smaller(v) => Some(l![w("SMALLER"), n(*v)]),
            _ => None,
        }
    }};
}
pub(crate) use simple_search_key;

/// The response codes both codecs name alike and that take nothing or one
/// non-zero number; `None` for the others. `Code` is the codec's own.
macro_rules! simple_code {
    ($c:expr) => {{
        let unit = |name: &str| Some(tagged(name, []));
        let number = |name: &str, v: &std::num::NonZeroU32| Some(l![w(name), n(v.get())]);
        match $c {
            Code::Alert => unit("ALERT"),
            Code::Parse => unit("PARSE"),
            Code::ReadOnly => unit("READ-ONLY"),
            Code::ReadWrite => unit("READ-WRITE"),
            Code::TryCreate => unit("TRYCREATE"),
            Code::NoModSeq => unit("NOMODSEQ"),
            Code::Closed => unit("CLOSED"),
            Code::UidNotSticky => unit("UIDNOTSTICKY"),
            Code::UidNext(v) => number("UIDNEXT", v),
            Code::UidValidity(v) => number("UIDVALIDITY", v),
            Code::Unseen(v) => number("UNSEEN", v),
            _ => None,
        }
    }};
}
pub(crate) use simple_code;

/// A labelled list: `(LABEL items...)`.
pub fn tagged(label: &str, items: impl IntoIterator<Item = Node>) -> Node {
    let mut v = vec![w(label)];
    v.extend(items);
    Node::List(v)
}

impl Node {
    /// The label of a labelled list.
    pub fn label(&self) -> Option<&str> {
        match self {
            Node::List(v) => match v.first() {
                Some(Node::Word(w)) => Some(w),
                _ => None,
            },
            _ => None,
        }
    }

    /// Every labelled list in the tree with this label.
    pub fn find<'a>(&'a self, label: &str, out: &mut Vec<&'a Node>) {
        if self.label() == Some(label) {
            out.push(self);
        }
        if let Node::List(v) = self {
            for c in v {
                c.find(label, out);
            }
        }
    }

    /// Whether some labelled list with this label satisfies `p`.
    pub fn any(&self, label: &str, p: impl Fn(&[Node]) -> bool) -> bool {
        let mut found = Vec::new();
        self.find(label, &mut found);
        found.iter().any(|n| match n {
            Node::List(v) => p(&v[1..]),
            _ => false,
        })
    }
}

/// Where two trees first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Labels of the lists on the way down.
    pub path: Vec<String>,
    /// Indices of the children on the way down.
    pub at: Vec<usize>,
    pub ours: Node,
    pub theirs: Node,
}

pub fn diff(ours: &Node, theirs: &Node) -> Option<Diff> {
    if ours == theirs {
        return None;
    }
    if let (Node::List(a), Node::List(b)) = (ours, theirs)
        && a.len() == b.len()
        && ours.label() == theirs.label()
    {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if let Some(mut d) = diff(x, y) {
                if let Some(label) = ours.label() {
                    d.path.insert(0, label.to_owned());
                }
                d.at.insert(0, i);
                return Some(d);
            }
        }
    }
    Some(Diff {
        path: Vec::new(),
        at: Vec::new(),
        ours: ours.clone(),
        theirs: theirs.clone(),
    })
}

impl Node {
    /// Replaces the node at `at` (child indices) by `with`.
    pub fn patch(&mut self, at: &[usize], with: Node) {
        match at.split_first() {
            None => *self = with,
            Some((&i, rest)) => {
                if let Node::List(v) = self {
                    v[i].patch(rest, with);
                }
            }
        }
    }
}
