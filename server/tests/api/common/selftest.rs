//! Tests of the harness itself: a check that cannot fail proves nothing, so the negative checks
//! the other tests rely on are shown to fail where they must. A bare WebSocket server on
//! 127.0.0.1:0 (tokio-tungstenite) plays the peer that goes quiet, closes, or resets.

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
