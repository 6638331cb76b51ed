//! A thread in front of a [`GroupCommit`], for callers that must not block on a commit (an async
//! task): writes are queued with a callback that hears their outcome, and the thread commits
//! whatever is queued together.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::{GroupCommit, Staged, WriteError};

type Op<E> = Box<dyn FnOnce(&Connection) -> Result<(), E> + Send>;
type Done<E> = Box<dyn FnOnce(Result<(), WriteError<E>>) + Send>;

enum Work<E> {
    Write(Op<E>),
    /// Lets writes of the key run again ([`GroupCommit::reset`]), in queue order.
    Reset,
}

struct Job<E> {
    key: Option<String>,
    work: Work<E>,
    done: Done<E>,
}

/// The writer thread and its queue. Dropping it (or [`Queue::shutdown`]) lets the thread
/// commit everything queued so far and waits for it.
pub struct Queue<E> {
    sender: Option<mpsc::Sender<Job<E>>>,
    thread: Option<JoinHandle<()>>,
}

impl<E: Send + 'static> Queue<E> {
    /// Starts a thread named `name` that runs the queued writes on `writer`, at most
    /// `max_batch` in one commit.
    pub fn start(writer: GroupCommit, name: &str, max_batch: usize) -> std::io::Result<Self> {
        let (sender, queue) = mpsc::channel::<Job<E>>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Ends when every sender is dropped and the queue is empty.
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < max_batch.max(1) {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    run_batch(&writer, batch);
                }
            })?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job<E>) {
        let refused = match &self.sender {
            Some(sender) => sender.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        if let Some(job) = refused {
            (job.done)(Err(WriteError::Stopped));
        }
    }

    /// Queues `op` as one write of `key`; `done` hears its outcome once it is durable or
    /// failed. Writes are run in the order they are queued.
    pub fn write(
        &self,
        key: Option<String>,
        op: impl FnOnce(&Connection) -> Result<(), E> + Send + 'static,
        done: impl FnOnce(Result<(), WriteError<E>>) + Send + 'static,
    ) {
        self.send(Job {
            key,
            work: Work::Write(Box::new(op)),
            done: Box::new(done),
        });
    }

    /// Queues the reset of `key`; `done` hears once every write queued before it is settled.
    pub fn reset(
        &self,
        key: String,
        done: impl FnOnce(Result<(), WriteError<E>>) + Send + 'static,
    ) {
        self.send(Job {
            key: Some(key),
            work: Work::Reset,
            done: Box::new(done),
        });
    }

    /// Commits everything queued and stops the thread.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl<E> Drop for Queue<E> {
    fn drop(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

enum Pending<E> {
    Staged(Staged<()>),
    Reset,
    Known(Result<(), WriteError<E>>),
}

fn run_batch<E>(writer: &GroupCommit, batch: Vec<Job<E>>) {
    let mut pending = Vec::with_capacity(batch.len());
    for job in batch {
        let state = match job.work {
            Work::Write(op) => match writer.stage(job.key.as_deref(), op) {
                Ok(staged) => Pending::Staged(staged),
                Err(error) => Pending::Known(Err(error)),
            },
            Work::Reset => {
                if let Some(key) = &job.key {
                    writer.reset(key);
                }
                Pending::Reset
            }
        };
        pending.push((job.done, state));
    }
    let committed = writer.commit();
    for (done, state) in pending {
        done(match state {
            Pending::Staged(staged) => staged.result(),
            // A reset is settled with the writes queued before it.
            Pending::Reset => committed.clone().map_err(WriteError::Commit),
            Pending::Known(result) => result,
        });
    }
}
