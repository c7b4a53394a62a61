//! Free TCP ports on 127.0.0.1, never the same one twice within a test process.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

/// Ports already handed out: parallel tests asking at the same moment could otherwise get the same port
/// from the kernel, and one would then talk to the other's server.
static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port that was free a moment ago. Another process may still take it before the server binds it, so
/// callers retry with a new port when the server reports "address in use".
pub(crate) fn free_port() -> u16 {
    let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
        let port = listener.local_addr().expect("a bound listener has an address").port();
        if given.insert(port) {
            return port;
        }
    }
}
