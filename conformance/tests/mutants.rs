//! The suite's power: faults seeded on the wire of the reference servers (a proxy rewrites what
//! they send), each of which at least one case must fail. The transparent proxy comes first, so
//! a kill is the fault's doing, not the proxy's. A mutant's run stops at its first failing case
//! (`--fail-fast`), unless `MAILPUSH_MUTATION_EVERY_KILLER` is set: then it plays every case, to
//! list every case that kills it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::proxy::{self, Rewrite, Unit, Way, frames, lines};
use mailpush_conformance::runner::{Outcome, Verdict, http::PushService, report};
use mailpush_conformance::transcript::{Role, Transcript};

/// A seeded fault: its name, and the rewrite of each proxied channel (`None`: unchanged).
struct Mutant {
    name: &'static str,
    rewrites: [Option<Rewrite>; 2],
}

/// One proxy rewrite that follows the mutant selected in `current`.
fn dispatch(mutants: &Arc<Vec<Mutant>>, channel: usize, current: &Arc<AtomicUsize>) -> Rewrite {
    let mutants = Arc::clone(mutants);
    let current = Arc::clone(current);
    Arc::new(move |octets| {
        match mutants
            .get(current.load(Ordering::SeqCst))
            .and_then(|m| m.rewrites[channel].as_ref())
        {
            Some(rewrite) => rewrite(octets),
            None => octets,
        }
    })
}

/// Cases played at a time: most of a case's time is its own deadlines.
const JOBS: usize = 4;

fn is_tagged(line: &str) -> bool {
    !line.starts_with("* ") && !line.starts_with("+ ")
}

/// Runs the corpus once with no fault, then once per mutant; every mutant must be killed (a
/// FAIL or TIMEOUT), and the transparent run must pass. `run` plays the corpus as it is told.
async fn score(
    cases: &[Transcript],
    mutants: &[Mutant],
    current: &AtomicUsize,
    mut run: impl AsyncFnMut(common::Play) -> Vec<Outcome>,
) {
    let clean = run(common::Play {
        jobs: JOBS,
        fail_fast: false,
    })
    .await;
    let report_clean = report::human(cases, &clean);
    assert!(
        clean.iter().all(|o| o.verdict == Verdict::Pass),
        "the transparent proxy alone fails cases:\n{report_clean}"
    );
    let mutated = common::Play {
        jobs: JOBS,
        fail_fast: std::env::var_os("MAILPUSH_MUTATION_EVERY_KILLER").is_none(),
    };
    let mut survivors = Vec::new();
    for (i, mutant) in mutants.iter().enumerate().skip(1) {
        current.store(i, Ordering::SeqCst);
        let outcomes = run(mutated).await;
        let killers: Vec<&str> = outcomes
            .iter()
            .filter(|o| matches!(o.verdict, Verdict::Fail | Verdict::Timeout))
            .map(|o| o.id.as_str())
            .collect();
        println!("mutant {}: killed by {killers:?}", mutant.name);
        if killers.is_empty() {
            survivors.push(mutant.name);
        }
    }
    current.store(0, Ordering::SeqCst);
    let total = mutants.len() - 1;
    println!("mutation score: {}/{total}", total - survivors.len());
    assert!(survivors.is_empty(), "mutants no case kills: {survivors:?}");
}

fn imap_mutants() -> Vec<Mutant> {
    let imap = |name, f: Rewrite| Mutant {
        name,
        rewrites: [Some(f), None],
    };
    let push = |name, f: Rewrite| Mutant {
        name,
        rewrites: [None, Some(f)],
    };
    vec![
        imap("none", proxy::identity()),
        imap(
            "XAPPLEPUSHSERVICE reply fields unquoted",
            lines(|l| {
                if l.starts_with("* XAPPLEPUSHSERVICE") {
                    l.replace('"', "")
                } else {
                    l.to_owned()
                }
            }),
        ),
        imap(
            "XAPPLEPUSHSERVICE listed before authentication",
            lines(|l| {
                if l.contains("CAPABILITY ") && !l.contains("XAPPLEPUSHSERVICE") {
                    l.replacen("CAPABILITY ", "CAPABILITY XAPPLEPUSHSERVICE ", 1)
                } else {
                    l.to_owned()
                }
            }),
        ),
        imap(
            "BAD answered as NO",
            lines(|l| {
                if is_tagged(l) {
                    l.replacen(" BAD ", " NO ", 1)
                } else {
                    l.to_owned()
                }
            }),
        ),
        imap(
            "NO answered as OK",
            lines(|l| {
                if is_tagged(l) {
                    l.replacen(" NO ", " OK ", 1)
                } else {
                    l.to_owned()
                }
            }),
        ),
        imap(
            "EXISTS never sent",
            lines(|l| {
                if l.starts_with("* ") && l.trim_end().ends_with(" EXISTS") {
                    String::new()
                } else {
                    l.to_owned()
                }
            }),
        ),
        imap(
            "VANISHED never sent",
            lines(|l| {
                if l.starts_with("* VANISHED") {
                    String::new()
                } else {
                    l.to_owned()
                }
            }),
        ),
        imap(
            "HIGHESTMODSEQ frozen",
            lines(|l| match l.find("[HIGHESTMODSEQ ") {
                Some(at) => {
                    let end = l[at..].find(']').map_or(l.len(), |e| at + e);
                    format!("{}[HIGHESTMODSEQ 1{}", &l[..at], &l[end..])
                }
                None => l.to_owned(),
            }),
        ),
        push(
            "push resource with the token in upper case",
            lines(|m| match m.find("/v1/push/") {
                Some(at) => {
                    let end = m[at..].find(' ').map_or(m.len(), |e| at + e);
                    format!(
                        "{}{}{}",
                        &m[..at],
                        m[at..end].to_ascii_uppercase(),
                        &m[end..]
                    )
                }
                None => m.to_owned(),
            }),
        ),
        push(
            "push without TTL",
            lines(|m| {
                m.split_inclusive('\n')
                    .filter(|l| !l.to_ascii_lowercase().starts_with("ttl:"))
                    .collect()
            }),
        ),
        push(
            "push with a wrong MD5",
            lines(|m| match m.find("\"m\":[\"") {
                Some(at) => {
                    let digit = at + 6;
                    let flipped = if &m[digit..=digit] == "0" { "1" } else { "0" };
                    format!("{}{flipped}{}", &m[..digit], &m[digit + 1..])
                }
                None => m.to_owned(),
            }),
        ),
    ]
}

fn push_server_mutants() -> Vec<Mutant> {
    let api = |name, f: Rewrite| Mutant {
        name,
        rewrites: [Some(f), None],
    };
    let device = |name, f: Rewrite| Mutant {
        name,
        rewrites: [None, Some(f)],
    };
    // Frame offsets: 4 octets of length, then the type; notify: id at 5..13, flags at 13;
    // welcome: version at 5, cursor at 6..14.
    vec![
        api("none", proxy::identity()),
        device("retained never set", frames(3, |f| f[13] &= !1)),
        device("retained always set", frames(3, |f| f[13] |= 1)),
        device("welcome reports cursor 0", frames(2, |f| f[6..14].fill(0))),
        device("ERROR frames never sent", frames(7, Vec::clear)),
        device(
            "notification ids off by one",
            frames(3, |f| {
                let id = u64::from_be_bytes(f[5..13].try_into().unwrap());
                f[5..13].copy_from_slice(&(id + 1).to_be_bytes());
            }),
        ),
        api(
            "401 without WWW-Authenticate",
            lines(|m| {
                m.split_inclusive('\n')
                    .filter(|l| !l.to_ascii_lowercase().starts_with("www-authenticate:"))
                    .collect()
            }),
        ),
        api(
            "unknown device answered 410",
            lines(|m| m.replacen("HTTP/1.1 404", "HTTP/1.1 410", 1)),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mail_server_mutant_fails_a_case() {
    let cases = common::corpus(Role::ImapServer);
    let mutants = Arc::new(imap_mutants());
    let current = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind(common::loopback())
        .await
        .unwrap();
    let push = Arc::new(PushService::start(listener).unwrap());
    let push_proxy = proxy::start(
        push.addr,
        Unit::Http,
        Way::ToServer,
        dispatch(&mutants, 1, &current),
    )
    .await;
    let (server, _dir) = common::mail_server(push_proxy).await;
    let imap_proxy = proxy::start(
        server.imap_addr.unwrap(),
        Unit::Line,
        Way::FromServer,
        dispatch(&mutants, 0, &current),
    )
    .await;
    let target = common::imap_target(imap_proxy);
    score(&cases, &mutants, &current, async |how| {
        common::play(&cases, &target, Some(Arc::clone(&push)), how).await
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_push_server_mutant_fails_a_case() {
    let cases = common::corpus(Role::PushServer);
    let mutants = Arc::new(push_server_mutants());
    let current = Arc::new(AtomicUsize::new(0));
    let server = common::push_server().await;
    let api = proxy::start(
        server.http_addr,
        Unit::Http,
        Way::FromServer,
        dispatch(&mutants, 0, &current),
    )
    .await;
    let device = proxy::start(
        server.device_addr,
        Unit::Frame,
        Way::FromServer,
        dispatch(&mutants, 1, &current),
    )
    .await;
    let target = common::push_target(api, device);
    score(&cases, &mutants, &current, async |how| {
        common::play(&cases, &target, None, how).await
    })
    .await;
    server.shutdown().await;
}
