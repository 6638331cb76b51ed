//! Note bodies: plain text to the simple HTML Notes writes, and any HTML to plain text.
//!
//! The writer's HTML is one `<div>` per line (`<div><br></div>` for an empty line) inside
//! `<html><head></head><body>…</body></html>` (NOTE-14). The reader follows what a browser
//! would show, simplified for text: tags are dropped, entities decoded, block elements and
//! `<br>` end lines, runs of white space are one space and vanish at the ends of a line, and
//! `<head>`, `<script>`, `<style>`, `<title>` and comments show nothing (NOTE-15). It reads
//! any octets in one pass without recursion, so hostile HTML costs linear time.
//!
//! Spaces a browser would collapse or drop (runs, and spaces at the ends of a line) and tabs
//! are written as character references, so every text read back is the text written.

mod entities;

/// Whether `c` may stand in a note's text: every character but the controls (C0 other than
/// tab and line feed, DEL, C1), which HTML cannot carry as text.
pub fn allowed_in_text(c: char) -> bool {
    !c.is_control() || c == '\n' || c == '\t'
}

/// The body HTML Notes writes for `text` (lines separated by `\n`; the caller has normalised
/// line breaks and refused controls).
//= spec/notes.md#NOTE-14
//# A writer MUST write the body as `<html><head></head><body>`, then one `<div>…</div>` per
//# line of the note's text, with `<div><br></div>` for an empty line, then `</body></html>`
pub fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4 + 48);
    out.push_str("<html><head></head><body>");
    for line in text.split('\n') {
        out.push_str("<div>");
        if line.is_empty() {
            out.push_str("<br>");
        } else {
            escape_line(line, &mut out);
        }
        out.push_str("</div>");
    }
    out.push_str("</body></html>");
    out
}

/// One line as HTML text: `&`, `<`, `>` escaped; a space stays a space only where a browser
/// keeps it (single, between two other characters), else `&nbsp;`; a tab is `&#9;`.
//= spec/notes.md#NOTE-14
//# `&`, `<` and `>` written `&amp;`, `&lt;` and `&gt;`, a space that is first or last on its line
//# or next to another space written `&nbsp;`, and a tab written `&#9;`
fn escape_line(line: &str, out: &mut String) {
    let chars: Vec<char> = line.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' => out.push_str("&#9;"),
            ' ' => {
                let lone =
                    i > 0 && i + 1 < chars.len() && chars[i - 1] != ' ' && chars[i + 1] != ' ';
                out.push_str(if lone { " " } else { "&nbsp;" });
            }
            _ => out.push(c),
        }
    }
}

/// Elements that end the line before them and after them.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Elements whose content is not shown (until their end tag, or `<body>` for `<head>`).
const HIDDEN: &[&str] = &["head", "template"];

/// Elements whose content is raw text, ended only by their own end tag; only a `textarea`'s
/// is shown.
const RAW_TEXT: &[&str] = &["script", "style", "textarea", "title"];

/// The text a reader shows for `html` (NOTE-15): see the module documentation. The result
/// has no control character other than `\n` and `\t`, and no line break at its end.
//= spec/notes.md#NOTE-15
//# A reader MUST show a note's HTML as text by dropping tags, decoding character references,
//# ending a line at `<br>` and before and after each block element
pub fn html_to_text(html: &str) -> String {
    let mut text = TextBuilder::default();
    let mut hidden = 0usize;
    let mut pre = 0usize;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            text.run(rest, hidden > 0, pre > 0);
            break;
        };
        text.run(&rest[..lt], hidden > 0, pre > 0);
        rest = &rest[lt..];
        let Some(markup) = Markup::parse(rest) else {
            // A `<` that starts no markup is text.
            text.run("<", hidden > 0, pre > 0);
            rest = &rest[1..];
            continue;
        };
        rest = &rest[markup.len..];
        let MarkupKind::Tag { name, end } = markup.kind else {
            continue;
        };
        let name = name.to_ascii_lowercase();
        if RAW_TEXT.contains(&name.as_str()) {
            if !end {
                // Up to `</name`, in any case, the content is text or nothing, never markup.
                let close = find_ascii_ci(rest, &format!("</{name}")).unwrap_or(rest.len());
                if name == "textarea" {
                    text.run(&rest[..close], hidden > 0, pre > 0);
                }
                rest = &rest[close..];
            }
            continue;
        }
        if name == "body" && !end {
            // `<body>` closes an unclosed `<head>`, as in a browser.
            hidden = 0;
        }
        if HIDDEN.contains(&name.as_str()) {
            hidden = if end {
                hidden.saturating_sub(1)
            } else {
                hidden.saturating_add(1)
            };
            continue;
        }
        if name == "br" {
            if hidden == 0 {
                text.line_break();
            }
        } else if BLOCKS.contains(&name.as_str()) {
            if name == "pre" {
                pre = if end {
                    pre.saturating_sub(1)
                } else {
                    pre.saturating_add(1)
                };
            }
            if hidden == 0 {
                text.block_edge();
            }
        }
    }
    text.finish()
}

/// The position of `needle` (ASCII) in `haystack`, compared without regard to ASCII case.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Text being read out of HTML: collapsible white space is held back until something
/// visible follows on the same line.
#[derive(Default)]
struct TextBuilder {
    out: String,
    /// Whether the current line has shown anything.
    line_started: bool,
    /// Whether collapsible white space came after the last visible character.
    pending_space: bool,
}

impl TextBuilder {
    /// A run of character data (entities not yet decoded).
    fn run(&mut self, data: &str, hidden: bool, pre: bool) {
        if hidden {
            return;
        }
        let mut rest = data;
        while let Some(c) = rest.chars().next() {
            if c == '&'
                && let Some((decoded, len)) = entities::decode(rest)
            {
                self.visible(decoded);
                rest = &rest[len..];
                continue;
            }
            rest = &rest[c.len_utf8()..];
            match c {
                '\n' if pre => self.line_break(),
                '\r' if pre => {}
                ' ' | '\t' | '\n' | '\r' | '\u{c}' if !pre => self.pending_space = true,
                _ => self.visible(c),
            }
        }
    }

    fn visible(&mut self, c: char) {
        if c == '\n' {
            return self.line_break();
        }
        if self.pending_space && self.line_started {
            self.out.push(' ');
        }
        self.pending_space = false;
        self.line_started = true;
        self.out
            .push(if allowed_in_text(c) { c } else { '\u{fffd}' });
    }

    fn line_break(&mut self) {
        self.out.push('\n');
        self.line_started = false;
        self.pending_space = false;
    }

    /// The start or end of a block: a line break unless the line is empty.
    fn block_edge(&mut self) {
        if self.line_started {
            self.line_break();
        }
        self.pending_space = false;
    }

    fn finish(mut self) -> String {
        if self.out.ends_with('\n') {
            self.out.pop();
        }
        self.out
    }
}

/// A piece of markup starting at `<`.
struct Markup<'a> {
    kind: MarkupKind<'a>,
    /// Octets it takes, `<` to `>` included.
    len: usize,
}

enum MarkupKind<'a> {
    /// A start or end tag.
    Tag { name: &'a str, end: bool },
    /// A comment, a doctype, a processing instruction or CDATA: shows nothing.
    Other,
}

impl<'a> Markup<'a> {
    /// The markup at the start of `s` (which starts with `<`), or `None` when the `<` starts
    /// none (it is then text, as in HTML). Markup cut off by the end of the input runs to the
    /// end.
    fn parse(s: &'a str) -> Option<Self> {
        let b = s.as_bytes();
        match b.get(1)? {
            b'!' => {
                let len = if s[2..].starts_with("--") {
                    s[4..].find("-->").map_or(s.len(), |i| 4 + i + 3)
                } else {
                    s.find('>').map_or(s.len(), |i| i + 1)
                };
                Some(Markup {
                    kind: MarkupKind::Other,
                    len,
                })
            }
            b'?' => Some(Markup {
                kind: MarkupKind::Other,
                len: s.find('>').map_or(s.len(), |i| i + 1),
            }),
            _ => {
                let end = b[1] == b'/';
                let start = if end { 2 } else { 1 };
                if !b.get(start)?.is_ascii_alphabetic() {
                    return None;
                }
                let name_len = b[start..]
                    .iter()
                    .take_while(|c| {
                        !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>')
                    })
                    .count();
                let name = &s[start..start + name_len];
                Some(Markup {
                    kind: MarkupKind::Tag { name, end },
                    len: tag_end(s, start + name_len),
                })
            }
        }
    }
}

/// Where a tag whose attributes start at `from` ends: after the first `>` outside quoted
/// attribute values, or at the end of the input.
fn tag_end(s: &str, from: usize) -> usize {
    let mut quote: Option<u8> = None;
    for (i, &c) in s.as_bytes().iter().enumerate().skip(from) {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'>') => return i + 1,
            _ => {}
        }
    }
    s.len()
}

/// The first line of `text` that has a character other than white space, trimmed (NOTE-13);
/// empty when there is none.
//= spec/notes.md#NOTE-13
//# A note's title MUST be its first line that has a character other than white space, without
//# the white space at its ends
pub fn title_of(text: &str) -> &str {
    text.split('\n')
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_html_is_the_notes_form_and_reads_back() {
        let text = "Shopping\n\nmilk & <bread>\n  two  spaces \ttab";
        let html = text_to_html(text);
        assert_eq!(
            html,
            "<html><head></head><body><div>Shopping</div><div><br></div>\
             <div>milk &amp; &lt;bread&gt;</div>\
             <div>&nbsp;&nbsp;two&nbsp;&nbsp;spaces &#9;tab</div></body></html>"
        );
        assert_eq!(html_to_text(&html), text);
        for text in [
            "",
            "\n",
            "a\n",
            "\na",
            "\n\n\n",
            " ",
            "x y",
            "From the start",
            ".",
        ] {
            assert_eq!(html_to_text(&text_to_html(text)), text, "{text:?}");
        }
    }

    #[test]
    fn html_of_other_writers_reads_as_a_browser_shows_it() {
        // What iOS 5 wrote (lists.freron.com/mailmate/2012-January/000126.html).
        assert_eq!(
            html_to_text("My first note...<div><br></div>"),
            "My first note...\n"
        );
        assert_eq!(html_to_text("<div>Note 1</div>"), "Note 1");
        assert_eq!(
            html_to_text(
                "<html><head><title>t</title><style>p{}</style></head>\n<body>\n  <p>One\n   two</p>\
                 <!-- <p>hidden</p> --><ul><li>a</li><li>b<br>c</li></ul>\
                 <pre>  x\n  y</pre><script>if (a<b) {}</script>\
                 <b>bold</b>&nbsp;&copy;&#x263A;&#9731;&unknown; 1 < 2 &amp&lt;</body></html>"
            ),
            "One two\na\nb\nc\n  x\n  y\nbold ©☺☃&unknown; 1 < 2 &amp<"
        );
        assert_eq!(html_to_text("<div title='a>b'>x</div>"), "x");
        assert_eq!(html_to_text("a<"), "a<");
        assert_eq!(html_to_text("a<div"), "a");
        assert_eq!(html_to_text("<script>never closed"), "");
        assert_eq!(
            html_to_text("&#0;&#x80;&#1;\u{1}"),
            "\u{fffd}€\u{fffd}\u{fffd}"
        );
    }

    #[test]
    fn titles_are_the_first_line_with_text() {
        assert_eq!(title_of("  \n\t\n  Groceries  \nmilk"), "Groceries");
        assert_eq!(title_of(" \n "), "");
        assert_eq!(title_of(""), "");
    }
}
