#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::*;

/// A database file in WAL mode with table `t`, whose deferred foreign key lets a test make a
/// batch fail at `COMMIT`.
fn database() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let conn = open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE t (v INTEGER, parent INTEGER
             REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
    )
    .unwrap();
    (dir, path)
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn writer(path: &Path) -> GroupCommit {
    GroupCommit::new(open(path).unwrap())
}

fn insert(v: i64) -> impl FnOnce(&Connection) -> Result<(), rusqlite::Error> {
    move |c| c.execute("INSERT INTO t (v) VALUES (?1)", [v]).map(drop)
}

/// Inserts `v`, then fails: the insert must not survive.
fn insert_then_fail(v: i64) -> impl FnOnce(&Connection) -> Result<(), rusqlite::Error> {
    move |c| {
        c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
        c.execute("INSERT INTO no_such_table VALUES (1)", [])
            .map(drop)
    }
}

/// The values of `t` as a separate connection sees them: only what was committed.
fn committed(path: &Path) -> Vec<i64> {
    let conn = Connection::open(path).unwrap();
    let mut s = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
    s.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Writes staged one after another share one batch: nothing of them is visible before its
/// commit, all of them after the first settles, and the others are settled by that one commit.
#[test]
fn staged_writes_share_one_commit() {
    let (_dir, path) = database();
    let w = writer(&path);
    let a = w.stage(None, insert(1)).unwrap();
    let b = w.stage(None, insert(2)).unwrap();
    let c = w.stage(None, insert(3)).unwrap();
    assert_eq!(committed(&path), Vec::<i64>::new());
    assert!(!b.is_settled());
    w.settle::<(), rusqlite::Error>(a).unwrap();
    assert!(b.is_settled() && c.is_settled());
    assert_eq!(committed(&path), vec![1, 2, 3]);
    w.settle::<(), rusqlite::Error>(b).unwrap();
    w.settle::<(), rusqlite::Error>(c).unwrap();
    // The next write opens a new batch.
    w.write(None, insert(4)).unwrap();
    assert_eq!(committed(&path), vec![1, 2, 3, 4]);
}

/// A write that fails rolls back its own statements only; the writes before and after it in
/// the same batch are committed.
#[test]
fn a_failing_write_rolls_back_only_its_savepoint() {
    let (_dir, path) = database();
    let w = writer(&path);
    let a = w.stage(None, insert(1)).unwrap();
    let failed = w.stage(None, insert_then_fail(2));
    assert!(matches!(failed, Err(WriteError::Failed(_))));
    let c = w.stage(None, insert(3)).unwrap();
    w.settle::<(), rusqlite::Error>(a).unwrap();
    w.settle::<(), rusqlite::Error>(c).unwrap();
    assert_eq!(committed(&path), vec![1, 3]);
    // A failure alone in its batch leaves no transaction open behind it.
    assert!(w.write(None, insert_then_fail(4)).is_err());
    w.write(None, insert(5)).unwrap();
    assert_eq!(committed(&path), vec![1, 3, 5]);
}

/// After a write of a key fails, later writes of that key are abandoned without running, other
/// keys go on, and a reset lets the key write again.
#[test]
fn a_failed_key_abandons_its_later_writes_until_reset() {
    let (_dir, path) = database();
    let w = writer(&path);
    assert!(matches!(
        w.write(Some("k"), insert_then_fail(1)),
        Err(WriteError::Failed(_))
    ));
    assert!(matches!(
        w.write(Some("k"), insert(2)),
        Err(WriteError::Abandoned)
    ));
    w.write(Some("other"), insert(3)).unwrap();
    w.write(None, insert(4)).unwrap();
    w.reset("k");
    w.write(Some("k"), insert(5)).unwrap();
    assert_eq!(committed(&path), vec![3, 4, 5]);
}

/// A batch that fails at `COMMIT` fails every write in it, writes nothing, and abandons the
/// keys of its writes.
#[test]
fn a_batch_that_fails_to_commit_fails_every_write_and_abandons_their_keys() {
    let (_dir, path) = database();
    let w = writer(&path);
    let a = w.stage(Some("k"), insert(1)).unwrap();
    // Violates the deferred foreign key, which SQLite checks at COMMIT.
    let b = w
        .stage(None, |c: &Connection| {
            c.execute("INSERT INTO t (v, parent) VALUES (2, 99)", [])
                .map(drop)
        })
        .unwrap();
    assert!(matches!(
        w.settle::<(), rusqlite::Error>(a),
        Err(WriteError::Commit(_))
    ));
    assert!(matches!(
        w.settle::<(), rusqlite::Error>(b),
        Err(WriteError::Commit(_))
    ));
    assert_eq!(committed(&path), Vec::<i64>::new());
    assert!(matches!(
        w.write(Some("k"), insert(3)),
        Err(WriteError::Abandoned)
    ));
    w.write(Some("j"), insert(4)).unwrap();
    assert_eq!(committed(&path), vec![4]);
}

/// An unflushed write is committed and visible, and leaves the writer flushing every later
/// commit again (`synchronous=FULL` is 2), whether it committed alone or failed.
#[test]
fn unflushed_writes_commit_and_restore_the_synchronous_level() {
    let (_dir, path) = database();
    let w = writer(&path);
    let level = |w: &GroupCommit| -> i64 {
        w.read(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0)))
            .unwrap()
    };
    assert_eq!(level(&w), 2);
    w.write_unflushed(insert(1)).unwrap();
    assert_eq!(level(&w), 2);
    assert!(w.write_unflushed(insert_then_fail(2)).is_err());
    assert_eq!(level(&w), 2);
    // With a batch open, it joins the batch.
    let a = w.stage(None, insert(3)).unwrap();
    w.write_unflushed(insert(4)).unwrap();
    assert!(a.is_settled());
    assert_eq!(committed(&path), vec![1, 3, 4]);
}

/// The queue thread runs writes in order with one outcome each, abandons the later writes of
/// a failed key until its reset, and commits everything queued when it is shut down.
#[test]
fn the_queue_reports_each_write_and_shutdown_flushes() {
    let (_dir, path) = database();
    let queue = Queue::start(writer(&path), "test-writer", 4).unwrap();
    let (tx, rx) = mpsc::channel();
    let report = |name: &'static str| {
        let tx = tx.clone();
        move |result: Result<(), WriteError<rusqlite::Error>>| {
            let what = match result {
                Ok(()) => "ok",
                Err(WriteError::Failed(_)) => "failed",
                Err(WriteError::Abandoned) => "abandoned",
                Err(_) => "other",
            };
            tx.send((name, what)).unwrap();
        }
    };
    queue.write(Some("k".into()), insert(1), report("k1"));
    queue.write(Some("k".into()), insert_then_fail(2), report("k2"));
    queue.write(Some("k".into()), insert(3), report("k3"));
    queue.write(None, insert(4), report("n4"));
    queue.reset("k".into(), report("reset"));
    queue.write(Some("k".into()), insert(5), report("k5"));
    for v in 6..20 {
        queue.write(None, insert(v), |r| assert!(r.is_ok()));
    }
    queue.shutdown();
    drop(tx);
    let heard: Vec<_> = rx.iter().collect();
    assert_eq!(
        heard,
        vec![
            ("k1", "ok"),
            ("k2", "failed"),
            ("k3", "abandoned"),
            ("n4", "ok"),
            ("reset", "ok"),
            ("k5", "ok"),
        ]
    );
    let mut expected = vec![1, 4, 5];
    expected.extend(6..20);
    assert_eq!(committed(&path), expected);
}

/// Readers see committed writes only, and a failed read leaves its connection usable.
#[test]
fn readers_see_committed_state() {
    let (_dir, path) = database();
    let w = writer(&path);
    let readers = Readers::new(path.clone(), open);
    let count = |r: &Readers| -> i64 {
        r.read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0)))
            .unwrap()
    };
    let staged = w.stage(None, insert(1)).unwrap();
    assert_eq!(count(&readers), 0);
    w.settle::<(), rusqlite::Error>(staged).unwrap();
    assert_eq!(count(&readers), 1);
    let failed: Result<(), rusqlite::Error> =
        readers.read(|c| c.execute("SELECT * FROM no_such_table", []).map(drop));
    assert!(failed.is_err());
    assert_eq!(count(&readers), 1);
}

/// A reader that waits for the announced writes before it begins sees a write it was told of
/// while the write's commit was still to come; without the wait it would read the state before
/// it (the test above), since the commit comes after the reader was told.
#[test]
fn a_reader_told_of_an_announced_write_sees_it() {
    let (_dir, path) = database();
    let w = Arc::new(writer(&path));
    let readers = Readers::new(path.clone(), open);
    let staged = w.stage(None, insert(7)).unwrap();
    w.announce(&staged);
    let (told, heard) = mpsc::channel();
    let reader = std::thread::spawn({
        let w = Arc::clone(&w);
        move || {
            heard.recv().unwrap();
            w.wait_announced();
            readers
                .read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |row| row.get::<_, i64>(0)))
                .unwrap()
        }
    });
    told.send(()).unwrap();
    w.settle::<(), rusqlite::Error>(staged).unwrap();
    assert_eq!(reader.join().unwrap(), 1);
    // A settled announcement holds nobody back.
    w.wait_announced();
}

/// A write announced and then failed with its batch releases the readers waiting for it, and
/// they see nothing of it.
#[test]
fn a_failed_announced_write_releases_its_readers() {
    let (_dir, path) = database();
    let w = Arc::new(writer(&path));
    // The deferred foreign key fails the batch at COMMIT.
    let staged = w
        .stage(None, |c: &Connection| {
            c.execute("INSERT INTO t (v, parent) VALUES (1, 99)", [])
                .map(drop)
        })
        .unwrap();
    w.announce(&staged);
    let reader = std::thread::spawn({
        let w = Arc::clone(&w);
        move || w.wait_announced()
    });
    assert!(w.settle::<(), rusqlite::Error>(staged).is_err());
    reader.join().unwrap();
    assert_eq!(committed(&path), Vec::<i64>::new());
}
