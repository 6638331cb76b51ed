//! What the integration tests share: fixtures, times, an application over the in-memory DA.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use mailpush_message::{CivilDate, DateTime};
use mailpush_notes::memory::{MemoryAccess, MemoryServer};
use mailpush_notes::{Author, NotesApp, NotesConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A fixture's octets.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.eml` fixture, by name.
pub fn all_fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// 24 November 2026 at `h:m:s` UTC.
pub fn at(h: u8, m: u8, s: u8) -> DateTime {
    DateTime::new(CivilDate::new(2026, 11, 24).unwrap(), (h, m, s), 0).unwrap()
}

pub fn author() -> Author {
    Author::new(Some("Alice"), "alice@example.org").unwrap()
}

pub type App = NotesApp<MemoryAccess, StdRng>;

/// A notes application on a fresh server: the app, a handle on its DA (faults, log), and
/// the server (other devices).
pub fn app() -> (App, MemoryAccess, MemoryServer) {
    let server = MemoryServer::new();
    let access = MemoryAccess::new(&server);
    let app = NotesApp::new(
        access.clone(),
        NotesConfig::new(author()),
        StdRng::seed_from_u64(7),
    );
    (app, access, server)
}

/// A second device on the same server.
pub fn other_device(server: &MemoryServer, seed: u64) -> App {
    NotesApp::new(
        MemoryAccess::new(server),
        NotesConfig::new(Author::new(None, "bob@example.org").unwrap()),
        StdRng::seed_from_u64(seed),
    )
}

/// A second device on the same server, with a handle on its DA.
pub fn other_device_with_access(server: &MemoryServer, seed: u64) -> (App, MemoryAccess) {
    let access = MemoryAccess::new(server);
    let app = NotesApp::new(
        access.clone(),
        NotesConfig::new(Author::new(None, "bob@example.org").unwrap()),
        StdRng::seed_from_u64(seed),
    );
    (app, access)
}
