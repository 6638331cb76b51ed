#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! model/README.md and spec/properties.md describe the model's properties and broken variants in
//! tables; these tests keep the tables in step with the model, so neither document can drift.
//! (The figures table is kept in step with the pinned state counts by `tests/model_check.rs`.)

mod common;

use std::collections::{BTreeMap, BTreeSet};

use mailpush_model::{Budgets, Config, Deviation, MailpushModel, TopicPolicy};
use stateright::{Expectation, Model};

/// The requirement IDs (`LOCAL-7`, `SM-4`, ...) a piece of text mentions, in order.
fn ids(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| {
            word.split_once('-').is_some_and(|(prefix, number)| {
                !prefix.is_empty()
                    && prefix.chars().all(|c| c.is_ascii_uppercase())
                    && !number.is_empty()
                    && number.chars().all(|c| c.is_ascii_digit())
            })
        })
        .map(str::to_string)
        .collect()
}

/// Every requirement the spec defines (a `### ID` heading), with the text of its section.
fn spec_requirements() -> BTreeMap<String, String> {
    let mut requirements = BTreeMap::new();
    for document in [
        "architecture.md",
        "imap-push.md",
        "provider-api.md",
        "device-channel.md",
        "device-local.md",
        "sync.md",
        "notes.md",
        "properties.md",
    ] {
        let text = common::document(&format!("spec/{document}"));
        let mut current: Option<(String, String)> = None;
        for line in text.lines() {
            if line.starts_with('#') {
                if let Some((id, body)) = current.take() {
                    requirements.insert(id, body);
                }
                if let Some(heading) = line.strip_prefix("### ")
                    && ids(heading) == [heading.trim()]
                {
                    current = Some((heading.trim().to_string(), String::new()));
                }
            } else if let Some((_, body)) = current.as_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        if let Some((id, body)) = current {
            requirements.insert(id, body);
        }
    }
    requirements
}

/// The requirements a section links to, other properties left out.
fn linked_duties(section: &str) -> BTreeSet<String> {
    section
        .split("](")
        .skip(1)
        .filter_map(|link| link.split(')').next()?.split('#').nth(1))
        .filter(|id| {
            !["SAFE-", "LIVE-", "REACH-"]
                .iter()
                .any(|p| id.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

/// Every property the model checks in some configuration, with its kind.
fn model_properties() -> BTreeMap<&'static str, Expectation> {
    let with = |budgets: Budgets| Config {
        budgets,
        ..Config::CI
    };
    let configs = [
        Config::CI,
        Config {
            topic: TopicPolicy::PerAccount,
            ..Config::CI
        },
        with(Budgets {
            ttl_expiries: 1,
            ..Config::CI.budgets
        }),
        with(Budgets {
            deletions: 1,
            ..Config::CI.budgets
        }),
    ];
    configs
        .into_iter()
        .flat_map(|config| MailpushModel::new(config).properties())
        .map(|p| (p.name, p.expectation))
        .collect()
}

#[test]
fn the_readme_lists_every_property_with_the_duties_the_spec_gives_it() {
    let readme = common::document("model/README.md");
    let rows = common::table_after(&readme, "## Properties");
    let requirements = spec_requirements();
    let properties = model_properties();

    let listed: BTreeSet<&str> = rows.iter().map(|row| row[0].trim_matches('`')).collect();
    let checked: BTreeSet<&str> = properties.keys().copied().collect();
    assert_eq!(listed, checked, "the README's properties are the model's");

    let spec_properties: BTreeSet<&str> = requirements
        .keys()
        .map(String::as_str)
        .filter(|id| {
            ["SAFE-", "LIVE-", "REACH-"]
                .iter()
                .any(|p| id.starts_with(p))
        })
        .collect();
    let named: BTreeSet<&str> = checked
        .iter()
        .map(|name| name.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        named, spec_properties,
        "a property per spec duty, named by its ID"
    );

    for row in &rows {
        let name = row[0].trim_matches('`');
        let kind = row[1].as_str();
        let expected = match properties[name] {
            Expectation::Always => ["always", "step", "always + step"].contains(&kind),
            Expectation::Eventually => kind == "eventually",
            Expectation::Sometimes => kind == "sometimes",
        };
        assert!(expected, "{name}: kind {kind}");

        let duties: BTreeSet<String> = ids(&row[2]).into_iter().collect();
        assert!(!duties.is_empty(), "{name} names the duty it checks");
        for id in &duties {
            assert!(requirements.contains_key(id), "{name}: {id} is in the spec");
        }
        let id = name.split(' ').next().unwrap();
        for linked in linked_duties(&requirements[id]) {
            assert!(
                duties.contains(&linked),
                "{name}: the README names {linked}, which the spec's {id} links to"
            );
        }
    }
}

//= spec/properties.md#SM-12
//# The model MUST offer each of these deviations as a configuration
//# flag
#[test]
fn the_spec_and_the_readme_list_every_deviation_as_the_model_does() {
    let spec = common::document("spec/properties.md");
    let readme = common::document("model/README.md");
    let tests = common::document("model/tests/variants.rs");
    let spec_rows = common::table_after(&spec, "### SM-12");
    let readme_rows = common::table_after(&readme, "## Broken variants");
    assert_eq!(spec_rows.len(), Deviation::ALL.len());
    assert_eq!(readme_rows.len(), Deviation::ALL.len());
    for ((deviation, spec_row), readme_row) in
        Deviation::ALL.iter().zip(&spec_rows).zip(&readme_rows)
    {
        let info = deviation.info();
        let flag = format!("`{}`", info.name);
        assert_eq!(spec_row[0], flag);
        assert_eq!(readme_row[0], flag);
        assert_eq!(spec_row[1], info.description, "{}", info.name);
        for id in info.requirement.split(", ") {
            assert!(
                spec_row[2].contains(&format!("[{id}]")),
                "{}: {id}",
                info.name
            );
        }
        assert!(
            spec_row[3].contains(&format!("[{}]", info.caught_by)),
            "{}",
            info.name
        );
        assert_eq!(readme_row[2], info.caught_by, "{}", info.name);
        // The README names the tests that check this very deviation.
        let named: Vec<&str> = readme_row[3].split('`').skip(1).step_by(2).collect();
        assert!(!named.is_empty(), "{}", info.name);
        for test in named {
            assert!(
                tests.contains(&format!("{test}: {deviation:?} in")),
                "{}: tests/variants.rs has {test} for it",
                info.name
            );
        }
    }
}
