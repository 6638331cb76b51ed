//! Parsing the spec's Markdown: the index table and the requirements of each document.

use crate::{Location, Problem};

/// How binding a requirement is: the strongest BCP 14 keyword in its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// MUST, MUST NOT, REQUIRED, SHALL, SHALL NOT.
    Must,
    /// SHOULD, SHOULD NOT, RECOMMENDED, NOT RECOMMENDED.
    Should,
    /// MAY, OPTIONAL.
    May,
}

impl Level {
    /// The keyword that names the level.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }

    /// The strongest level among the BCP 14 keywords of `text`, if it has any.
    pub fn of_text(text: &str) -> Option<Level> {
        text.split(|c: char| !c.is_ascii_alphanumeric())
            .filter_map(|word| match word {
                "MUST" | "REQUIRED" | "SHALL" => Some(Level::Must),
                "SHOULD" | "RECOMMENDED" => Some(Level::Should),
                "MAY" | "OPTIONAL" => Some(Level::May),
                _ => None,
            })
            .min()
    }
}

/// One requirement: a `### ID` heading and the text up to the next heading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The ID, for example `XAPS-3`.
    pub id: String,
    /// The file name of the defining document, for example `imap-push.md`.
    pub document: String,
    /// The line of the heading.
    pub line: usize,
    /// The requirement text as written (Markdown), trimmed.
    pub text: String,
    /// The strongest keyword in the text; `None` only for a requirement that breaks the rules.
    pub level: Option<Level>,
}

/// A parsed spec document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// File name within `spec/`.
    pub name: String,
    /// The text of the first level-1 heading.
    pub title: String,
    /// The requirements in document order.
    pub requirements: Vec<Requirement>,
}

impl Document {
    /// How many of the document's requirements have `level`.
    pub fn count(&self, level: Level) -> usize {
        self.requirements
            .iter()
            .filter(|r| r.level == Some(level))
            .count()
    }
}

/// One row of the index table in `spec/README.md`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The section letter, for example `b`.
    pub section: String,
    /// File name within `spec/`.
    pub document: String,
    /// The ID prefixes the document owns.
    pub prefixes: Vec<String>,
}

/// Reads the document table of `spec/README.md`: rows of the form
/// ``| b | [imap-push.md](imap-push.md) | `XAPS` | … |``.
pub fn parse_index(text: &str) -> Result<Vec<IndexEntry>, Problem> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.trim().split('|').map(str::trim).collect();
        // A table row splits into ["", cell, cell, ..., ""].
        if cells.len() < 5 || !cells[0].is_empty() {
            continue;
        }
        let Some(document) = link_target(cells[2]) else {
            continue;
        };
        let prefixes: Vec<String> = cells[3]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        if prefixes.is_empty() {
            return Err(Problem::Index(format!(
                "the row for {document} names no ID prefix"
            )));
        }
        entries.push(IndexEntry {
            section: cells[1].to_owned(),
            document,
            prefixes,
        });
    }
    if entries.is_empty() {
        return Err(Problem::Index("no document table found".to_owned()));
    }
    Ok(entries)
}

fn link_target(cell: &str) -> Option<String> {
    let start = cell.find("](")? + 2;
    let end = start + cell[start..].find(')')?;
    let target = &cell[start..end];
    target.ends_with(".md").then(|| target.to_owned())
}

/// Parses one document. `name` is its file name within `spec/`; `owner` maps a prefix to the
/// document the index gives it to. Problems are collected, not fatal, so one run reports all.
pub fn parse_document(
    name: &str,
    text: &str,
    owner: &dyn Fn(&str) -> Option<String>,
) -> (Document, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut title = String::new();
    let mut requirements: Vec<Requirement> = Vec::new();
    let mut open: Option<(String, usize, Vec<&str>)> = None;
    let mut in_fence = false;
    let at = |line: usize| Location {
        path: format!("spec/{name}"),
        line,
    };

    let mut close = |open: Option<(String, usize, Vec<&str>)>, problems: &mut Vec<Problem>| {
        if let Some((id, line, body)) = open {
            let text = body.join("\n").trim().to_owned();
            let level = Level::of_text(&text);
            if level.is_none() {
                problems.push(Problem::NoKeyword {
                    id: id.clone(),
                    at: at(line),
                });
            }
            requirements.push(Requirement {
                id,
                document: name.to_owned(),
                line,
                text,
                level,
            });
        }
    };

    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        let heading = (!in_fence).then(|| heading(line)).flatten();
        let Some((depth, heading_text)) = heading else {
            if let Some((_, _, body)) = open.as_mut() {
                body.push(line);
            }
            continue;
        };
        close(open.take(), &mut problems);
        if depth == 1 && title.is_empty() {
            title = heading_text.to_owned();
        }
        if !looks_like_id(heading_text) {
            continue;
        }
        match validate_id(depth, heading_text) {
            Err(why) => problems.push(Problem::MalformedId {
                heading: heading_text.to_owned(),
                why,
                at: at(number),
            }),
            Ok(prefix) => {
                let owner = owner(prefix);
                if owner.as_deref() != Some(name) {
                    problems.push(Problem::ForeignPrefix {
                        id: heading_text.to_owned(),
                        prefix: prefix.to_owned(),
                        owner: owner.unwrap_or_else(|| "no document".to_owned()),
                        at: at(number),
                    });
                }
                open = Some((heading_text.to_owned(), number, Vec::new()));
            }
        }
    }
    close(open.take(), &mut problems);
    (
        Document {
            name: name.to_owned(),
            title,
            requirements,
        },
        problems,
    )
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let depth = line.bytes().take_while(|&b| b == b'#').count();
    if depth == 0 || depth > 6 {
        return None;
    }
    let rest = &line[depth..];
    if !rest.starts_with(' ') {
        return None;
    }
    Some((depth, rest.trim()))
}

/// A heading is taken as an attempted ID when its first word is letters, a dash and a digit:
/// such headings must then be exactly right, so a typo cannot hide a requirement.
fn looks_like_id(text: &str) -> bool {
    let word = text.split_whitespace().next().unwrap_or("");
    let Some((letters, rest)) = word.split_once('-') else {
        return false;
    };
    !letters.is_empty()
        && letters.chars().all(|c| c.is_ascii_alphabetic())
        && rest.starts_with(|c: char| c.is_ascii_digit())
}

fn validate_id(depth: usize, text: &str) -> Result<&str, &'static str> {
    let (prefix, number) = text.split_once('-').ok_or("an ID is PREFIX-N")?;
    if !(2..=8).contains(&prefix.len()) || !prefix.chars().all(|c| c.is_ascii_uppercase()) {
        return Err("the prefix must be 2 to 8 capital letters");
    }
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
        return Err("the heading must be exactly the ID, PREFIX-N, with nothing after it");
    }
    if number.starts_with('0') {
        return Err("the number must not have leading zeros and must not be 0");
    }
    if depth != 3 {
        return Err("requirement headings are level 3 (###)");
    }
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(prefix: &str) -> Option<String> {
        match prefix {
            "ABC" => Some("a.md".to_owned()),
            "XYZ" => Some("b.md".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn index_rows_give_documents_and_prefixes() {
        let text = "| § | Document | Prefixes |\n|---|---|---|\n\
                    | a | [a.md](a.md) | `ABC` | x |\n| b | [b.md](b.md) | `XYZ`, `QQ` | y |\n";
        let index = parse_index(text).unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index[1].prefixes, ["XYZ", "QQ"]);
        assert_eq!(index[0].document, "a.md");
    }

    #[test]
    fn requirements_run_to_the_next_heading_and_take_the_strongest_level() {
        let text = "# Title\n\n### ABC-1\n\nYou MAY do it and MUST NOT fail.\n\n## Next\n\ntext\n\
                    ### ABC-2\nIt is RECOMMENDED.\n";
        let (doc, problems) = parse_document("a.md", text, &owner);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(doc.title, "Title");
        assert_eq!(doc.requirements.len(), 2);
        assert_eq!(doc.requirements[0].text, "You MAY do it and MUST NOT fail.");
        assert_eq!(doc.requirements[0].level, Some(Level::Must));
        assert_eq!(doc.requirements[1].level, Some(Level::Should));
        assert_eq!(doc.requirements[1].line, 10);
    }

    #[test]
    fn malformed_headings_are_reported() {
        for bad in [
            "### ABC-01",
            "### Abc-1",
            "#### ABC-1",
            "### ABC-1 Title",
            "### A-1",
        ] {
            let (_, problems) = parse_document("a.md", &format!("{bad}\nMUST\n"), &owner);
            assert!(
                matches!(problems.as_slice(), [Problem::MalformedId { .. }]),
                "{bad}: {problems:?}"
            );
        }
    }

    #[test]
    fn headings_inside_code_fences_are_not_requirements() {
        let text = "```markdown\n### ABC-7\n```\n";
        let (doc, problems) = parse_document("a.md", text, &owner);
        assert!(doc.requirements.is_empty() && problems.is_empty());
    }

    #[test]
    fn a_prefix_must_belong_to_its_document() {
        let (_, problems) = parse_document("a.md", "### XYZ-1\nMUST\n", &owner);
        assert!(
            matches!(problems.as_slice(), [Problem::ForeignPrefix { owner, .. }] if owner == "b.md")
        );
        let (_, problems) = parse_document("a.md", "### NOPE-1\nMUST\n", &owner);
        assert!(matches!(
            problems.as_slice(),
            [Problem::ForeignPrefix { .. }]
        ));
    }

    #[test]
    fn a_requirement_without_keyword_is_reported() {
        let (_, problems) =
            parse_document("a.md", "### ABC-1\nlowercase must is no keyword\n", &owner);
        assert!(matches!(problems.as_slice(), [Problem::NoKeyword { id, .. }] if id == "ABC-1"));
    }
}
