//! The HTTP/1.1 accept loop (hyper), in place of `axum::serve`: each connection is served with
//! upgrades, so that `/ws` can take over the raw TCP socket (`chat::ws`), with a header-read
//! timeout against slow clients, `TCP_NODELAY`, and the peer address as axum's `ConnectInfo`.
//! On shutdown every connection is asked to finish its request and close; while they do (the
//! drain), the listener stays open and every new connection is answered 503 with `Retry-After`
//! ([`refuse_until`]), so a client or a proxy is told to come back (or to try another node)
//! instead of finding the port closed.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// The open HTTP connections, told to finish when it is dropped or [`finish`](Self::finish)ed.
pub struct Connections {
    stop: watch::Sender<()>,
    open: watch::Receiver<()>,
}

impl Connections {
    /// Asks every HTTP connection to finish the request it is serving and close, and waits
    /// (at most `grace`) until they have. Upgraded WebSockets are no longer HTTP connections.
    pub async fn finish(self, grace: Duration) {
        let Connections { stop, open } = self;
        drop(open);
        let _ = stop.send(());
        if tokio::time::timeout(grace, stop.closed()).await.is_err() {
            tracing::warn!("HTTP connections still open after the grace period");
        }
    }
}

/// How many connections may wait to be accepted. tokio's `bind` asks for 128 (the standard
/// library's value, through mio): a storm of thousands of
/// connections (a server restart, a load balancer failing over) overflows it, and every SYN the
/// kernel drops costs its client a retransmission a second or more later. The kernel caps it at
/// `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `addr` with [`LISTEN_BACKLOG`] (and `SO_REUSEADDR`, as tokio's `bind` sets).
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts and serves connections until `stop` resolves; then gives back the connections (to
/// finish) and the listener (to refuse new ones while they do).
pub async fn accept_until(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> (Connections, TcpListener) {
    let (stop_tx, open) = watch::channel(());
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => break,
        };
        match accepted {
            Ok((socket, peer)) => serve_connection(socket, peer, router.clone(), header_timeout, open.clone()),
            Err(error) => on_accept_error(error).await,
        }
    }
    (Connections { stop: stop_tx, open }, listener)
}

/// Seconds a client refused during a shutdown is asked to wait before it tries again.
pub const SHUTDOWN_RETRY_AFTER_SECS: u32 = 5;

/// Until `drained` resolves, answers every request of every new connection (a `/ws` handshake
/// included) with 503, `Retry-After` and a JSON error, then closes it; then closes the listener.
pub async fn refuse_until(
    listener: TcpListener,
    header_timeout: Duration,
    drained: impl std::future::Future<Output = ()>,
) {
    let mut drained = std::pin::pin!(drained);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut drained => return,
        };
        match accepted {
            Ok((socket, _)) => refuse_connection(socket, header_timeout),
            Err(error) => on_accept_error(error).await,
        }
    }
}

/// Serves one connection's requests (at most one: no keep-alive) with 503.
fn refuse_connection(socket: TcpStream, header_timeout: Duration) {
    let service = hyper::service::service_fn(|_request: hyper::Request<Incoming>| async {
        Ok::<_, std::convert::Infallible>(shutting_down())
    });
    tokio::spawn(async move {
        let served = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(false)
            .serve_connection(TokioIo::new(socket), service)
            .await;
        if let Err(error) = served {
            tracing::trace!(%error, "refused connection ended");
        }
    });
}

/// 503 with `Retry-After`, as JSON: the server is shutting down.
fn shutting_down() -> http::Response<axum::body::Body> {
    http::Response::builder()
        .status(http::StatusCode::SERVICE_UNAVAILABLE)
        .header(http::header::RETRY_AFTER, SHUTDOWN_RETRY_AFTER_SECS)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-store")
        .header(http::header::CONNECTION, "close")
        .body(axum::body::Body::from(r#"{"error":"the server is shutting down: try again shortly"}"#))
        .expect("a valid response")
}

/// Errors on one connection are that connection's; others (out of file descriptors) pass.
async fn on_accept_error(error: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accept failed; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

fn serve_connection(
    socket: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    mut open: watch::Receiver<()>,
) {
    // No Nagle: chat frames are small and must leave at once (coalescing is done per write).
    let _ = socket.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    tokio::spawn(async move {
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(socket), service)
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::trace!(%error, "connection ended");
                }
                return;
            }
            _ = open.changed() => connection.as_mut().graceful_shutdown(),
        }
        let _ = connection.await;
    });
}
