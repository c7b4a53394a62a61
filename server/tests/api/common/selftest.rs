//! Tests of the harness itself: a check that cannot fail proves nothing, so the negative checks
//! the other tests rely on are shown to fail where they must. A bare WebSocket server on
//! 127.0.0.1:0 (tokio-tungstenite) plays the peer that goes quiet, closes, or resets; a listener
//! of this process plays another process holding the port a server was told to use.

use super::Client;
use futures::{FutureExt, SinkExt};
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// What the peer does once the client is connected.
#[derive(Clone, Copy)]
enum Peer {
    /// Holds the connection open and says nothing.
    Quiet,
    /// Sends a close frame.
    Closes,
    /// Resets the TCP connection (RST, no close frame).
    Resets,
    /// Sends a text frame.
    Talks,
}

/// A client of a one-connection server that behaves as `peer` after 100 ms.
async fn client_of(peer: Peer) -> (Client, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        match peer {
            Peer::Quiet => tokio::time::sleep(Duration::from_secs(5)).await,
            Peer::Closes => socket.close(None).await.unwrap(),
            Peer::Resets => {
                socket.get_ref().set_zero_linger().unwrap();
                drop(socket);
            }
            Peer::Talks => socket.send(Message::text(r#"{"type":"message"}"#)).await.unwrap(),
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await.unwrap();
    (Client { socket }, server)
}

/// Whether `assert_silent` over 500 ms panics with the peer behaving as `peer`.
async fn silence_check_fails(peer: Peer) -> bool {
    let (mut client, server) = client_of(peer).await;
    let failed = AssertUnwindSafe(client.assert_silent(Duration::from_millis(500))).catch_unwind().await.is_err();
    server.abort();
    failed
}

#[tokio::test]
async fn assert_silent_passes_only_on_an_open_quiet_socket() {
    assert!(!silence_check_fails(Peer::Quiet).await, "an open, quiet socket is silent");
    assert!(silence_check_fails(Peer::Talks).await, "a frame breaks the silence");
    assert!(silence_check_fails(Peer::Closes).await, "a close frame is not silence");
    assert!(silence_check_fails(Peer::Resets).await, "a reset connection is not silence");
}

#[tokio::test]
async fn a_node_whose_port_is_taken_is_not_taken_for_the_server_on_it() {
    // Another process's server on the port the node was given: it accepts connections, so a
    // readiness check that only connects would take it for the node.
    let holder = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = holder.local_addr().unwrap().port();
    let accepting = tokio::spawn(async move {
        loop {
            let _ = holder.accept().await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let database = [("DATABASE_URL", format!("sqlite://{}", dir.path().join("port.db").display()))];
    assert!(super::process::Node::start_on(port, &database).await.is_none(), "the port was taken");
    accepting.abort();
    // The retrying start finds a free port and a server of its own.
    let node = super::process::Node::start(&database).await;
    assert!(super::process::listens(node.pid(), node.addr.port()));
    assert_eq!(node.get_json("/me", None).await.0, 401);
}

/// A client of a one-connection server that sends `message` frames with the ids of `script`,
/// each after its delay.
async fn client_receiving(script: Vec<(u64, i64)>) -> (Client, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
        for (delay, id) in script {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let frame = serde_json::json!({"type": "message", "id": id}).to_string();
            socket.send(Message::text(frame)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await.unwrap();
    (Client { socket }, server)
}

#[tokio::test]
async fn assert_saw_exactly_catches_a_stray_that_the_next_probe_would_deliver() {
    use super::cluster::{assert_saw_exactly, PROBE_PERIOD};
    let exact = vec![(0, 1), (10, 2), (10, 3)];
    let (mut client, server) = client_receiving(exact).await;
    assert_saw_exactly(&mut client, &[1, 2, 3], "exact").await;
    server.abort();
    // The same, and a duplicate of the last one a probe period later.
    let stray = vec![(0, 1), (10, 2), (10, 3), (PROBE_PERIOD.as_millis() as u64, 3)];
    let (mut client, server) = client_receiving(stray).await;
    let caught = AssertUnwindSafe(assert_saw_exactly(&mut client, &[1, 2, 3], "stray")).catch_unwind().await.is_err();
    server.abort();
    assert!(caught, "a duplicate one probe period later went unseen");
}
