//! The device-channel driver: one task per connection around the sans-IO
//! [`ServerConnection`], with the device's ring behind its lock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mailpush_driver::{Stream, accept_loop, sleep_until};
use mailpush_push_proto::server::{ServerConnection, ServerEvent, ServerSettings};
use mailpush_push_proto::{Credential, ReasonCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, watch};

use crate::Clock;
use crate::hub::{DeviceEntry, Hub, SessionCommand, SessionHandle, constant_time_eq, hash_secret};
use crate::tls::TlsMaterial;

/// Octets read per socket read. Small, because every idle connection keeps its buffer.
const READ_CHUNK: usize = 1024;

fn settings(hub: &Hub) -> ServerSettings {
    ServerSettings {
        hello_timeout_ms: hub.settings.hello_timeout_ms,
        keepalive: hub.settings.keepalive,
        window: hub.settings.window,
    }
}

/// Accepts device connections until `shutdown` turns true.
pub async fn run_listener(
    listener: TcpListener,
    tls: Option<TlsMaterial>,
    hub: Arc<Hub>,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(
        listener,
        "device channel",
        shutdown,
        move |socket, peer, shutdown| {
            handle_socket(socket, peer, tls.clone(), Arc::clone(&hub), clock, shutdown)
        },
    )
    .await;
}

async fn handle_socket(
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsMaterial>,
    hub: Arc<Hub>,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) {
    let admitted = hub.admit_connection(peer.ip());
    let handshake_timeout = std::time::Duration::from_millis(hub.settings.hello_timeout_ms);
    let stream = match tls {
        Some(tls) => Stream::accept_tls(socket, &tls.acceptor, handshake_timeout).await,
        None => Ok(Stream::Plain(socket)),
    };
    if let Ok(mut stream) = stream {
        if admitted {
            serve_device(&mut stream, Arc::clone(&hub), clock, shutdown).await;
        } else {
            let mut refused = ServerConnection::refuse(settings(&hub), clock.now());
            if let Some(octets) = refused.poll_transmit() {
                let _ = stream.write_all(&octets).await;
            }
        }
        let _ = stream.shutdown().await;
    }
    if admitted {
        hub.release_connection(peer.ip());
    }
}

struct Session {
    token: String,
    entry: Arc<Mutex<DeviceEntry>>,
}

/// Serves one device connection to its end.
pub async fn serve_device<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    hub: Arc<Hub>,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) {
    let connection_id = hub.connection_id();
    let mut connection = ServerConnection::new(settings(&hub), clock.now());
    let (commands, mut inbox) = mpsc::unbounded_channel();
    let mut session: Option<Session> = None;
    let mut buffer = [0u8; READ_CHUNK];
    loop {
        while let Some(event) = connection.poll_event() {
            match event {
                ServerEvent::Hello {
                    version,
                    token,
                    secret,
                    cursor,
                } => {
                    match authenticate(&hub, &token, &secret, cursor, connection_id, &commands)
                        .await
                    {
                        Ok((entry, effective_cursor)) => {
                            connection.accept(version, effective_cursor, clock.now());
                            let established = Session {
                                token: token.to_string(),
                                entry,
                            };
                            pump(&hub, &established, connection_id, &mut connection, clock).await;
                            session = Some(established);
                        }
                        Err(code) => connection.reject(code, code.name()),
                    }
                }
                ServerEvent::Ack(id) => {
                    if let Some(session) = &session {
                        let mut entry = session.entry.lock().await;
                        match entry.ring.ack(id) {
                            Ok(effects) => {
                                // Neither the device's lock nor this session waits for the
                                // commit: what the ack frees in the window may be sent at once,
                                // since only durable notifications are sent, and a lost ack
                                // only means a redelivery the device's cursor absorbs. What
                                // reports the ack waits for it: the store applies a device's
                                // changes in order, and the next `welcome` and the next `201`
                                // each wait for a change queued after this one. If the commit
                                // fails, the ring is reloaded from the store and the session
                                // closed (`Hub::reload_ring`).
                                //= spec/device-channel.md#CHAN-32
                                //# The server MAY send
                                //# further notifications on the session before the deletion is durable.
                                let submitted = hub.submit(&session.token, &mut entry, effects);
                                let pending = hub.settle_now(&mut entry, submitted, None);
                                drop(entry);
                                if let Err(submitted) = pending {
                                    tokio::spawn({
                                        let hub = Arc::clone(&hub);
                                        let token = session.token.clone();
                                        let entry = Arc::clone(&session.entry);
                                        async move {
                                            let _ =
                                                hub.settle(&token, &entry, submitted, None).await;
                                        }
                                    });
                                }
                            }
                            Err(error) => {
                                drop(entry);
                                connection.fail(ReasonCode::BadAck, &error.to_string());
                            }
                        }
                        pump(&hub, session, connection_id, &mut connection, clock).await;
                    }
                }
                ServerEvent::Closed { .. } => {}
                _ => {}
            }
        }
        if let Some(octets) = connection.poll_transmit()
            && (stream.write_all(&octets).await.is_err() || stream.flush().await.is_err())
        {
            connection.handle_eof();
        }
        if connection.is_closed() {
            break;
        }
        let deadline = connection.poll_timeout().map(|at| clock.instant_at(at));
        let hint = connection.read_hint().min(READ_CHUNK);
        tokio::select! {
            read = stream.read(&mut buffer[..hint]) => match read {
                Ok(0) | Err(_) => connection.handle_eof(),
                Ok(n) => connection.handle_input(&buffer[..n], clock.now()),
            },
            Some(command) = inbox.recv() => match command {
                SessionCommand::Wake => {
                    if let Some(session) = &session {
                        pump(&hub, session, connection_id, &mut connection, clock).await;
                    }
                }
                SessionCommand::Close(code) => connection.close(code, code.name()),
            },
            () = sleep_until(deadline) => connection.handle_timeout(clock.now()),
            _ = shutdown.changed() => connection.close(ReasonCode::GoingAway, "server shutting down"),
        }
    }
    if let Some(session) = session {
        let mut entry = session.entry.lock().await;
        if entry
            .session
            .as_ref()
            .is_some_and(|s| s.connection == connection_id)
        {
            entry.session = None;
            entry.ring.close_session();
            crate::trace::disconnect(&hub.settings.trace, &session.token);
            hub.metrics.sessions.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

async fn authenticate(
    hub: &Arc<Hub>,
    token: &Credential,
    secret: &Credential,
    cursor: u64,
    connection_id: u64,
    commands: &mpsc::UnboundedSender<SessionCommand>,
) -> Result<(Arc<Mutex<DeviceEntry>>, u64), ReasonCode> {
    //= spec/device-channel.md#CHAN-10
    //# An unknown token, an
    //# unregistered device and a wrong secret MUST all be answered with the same `ERROR` code
    //# `auth-failed` and a close
    let entry = hub
        .device(token.as_str())
        .await
        .map_err(|_| ReasonCode::InternalError)?
        .ok_or(ReasonCode::AuthFailed)?;
    let mut device = entry.lock().await;
    let secret_matches = constant_time_eq(
        hash_secret(secret.as_str()).as_bytes(),
        device.record.secret_hash.as_bytes(),
    );
    if device.record.unregistered_at.is_some() || !secret_matches {
        return Err(ReasonCode::AuthFailed);
    }
    let effects = device
        .ring
        .open_session(cursor, hub.settings.window)
        .map_err(|_| ReasonCode::BadCursor)?;
    let meta = device.ring.meta();
    //= spec/device-channel.md#CHAN-32
    //# The deletion an `ack` causes ([CHAN-14](#CHAN-14)) MUST be
    //# durable before the server does anything that reports it or builds on it: before it sends
    //# `welcome` on a later session of the device
    // Queued after every earlier change of the device, so waiting for it waits for them too.
    if hub.persist(token.as_str(), meta, effects).await.is_err() {
        let _ = hub.reload_ring(token.as_str(), &mut device).await;
        return Err(ReasonCode::InternalError);
    }
    // The store applies changes in order, so everything accepted before this one is durable.
    device.durable_upto = device.durable_upto.max(meta.last_id);
    //= spec/device-channel.md#CHAN-19
    //# When a session is established for a device that already has a session,
    //# the server MUST send `CLOSE` code `replaced` on the older session and close it.
    let previous = device.session.replace(SessionHandle {
        connection: connection_id,
        commands: commands.clone(),
    });
    match previous {
        Some(previous) => {
            let _ = previous
                .commands
                .send(SessionCommand::Close(ReasonCode::Replaced));
        }
        None => {
            hub.metrics.sessions.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok((Arc::clone(&entry), meta.cursor))
}

/// Sends what the ring allows on this session.
async fn pump(
    hub: &Hub,
    session: &Session,
    connection_id: u64,
    connection: &mut ServerConnection,
    clock: Clock,
) {
    let mut entry = session.entry.lock().await;
    //= spec/device-channel.md#CHAN-21
    //# A session MUST only ever be sent notifications accepted for the device it
    //# authenticated as.
    if entry
        .session
        .as_ref()
        .is_none_or(|s| s.connection != connection_id)
    {
        return;
    }
    loop {
        // A notification whose acceptance is not durable yet is sent once it is: the push that
        // accepted it raises `durable_upto` and wakes the session.
        let durable_upto = entry.durable_upto;
        let mark_before = entry.ring.meta().mark;
        let (outgoing, effects) = entry.ring.poll_send_upto(clock.now(), durable_upto);
        crate::trace::removals(
            &hub.settings.trace,
            &session.token,
            &effects,
            (mark_before, entry.ring.meta().mark),
        );
        if !effects.is_empty() {
            let meta = entry.ring.meta();
            if hub.persist(&session.token, meta, effects).await.is_err() {
                let _ = hub.reload_ring(&session.token, &mut entry).await;
                connection.fail(ReasonCode::InternalError, "store failed");
                return;
            }
            entry.durable_upto = entry.durable_upto.max(meta.last_id);
        }
        match outgoing {
            Some(outgoing) => {
                hub.metrics.delivered.fetch_add(1, Ordering::Relaxed);
                crate::trace::deliver(&hub.settings.trace, &session.token, &outgoing);
                connection.send_notify(outgoing);
            }
            None => return,
        }
    }
}
