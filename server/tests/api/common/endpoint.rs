//! A running server as a test reaches it, in process (`TestApp`) or as a child process
//! (`process::Node`): its address and an HTTP client, with the REST and WebSocket calls every
//! test makes (register, log in, connect to `/ws`).

use super::Client;
use serde_json::{json, Value};
use std::net::SocketAddr;

pub struct Endpoint {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
}

impl Endpoint {
    pub fn new(addr: SocketAddr) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { addr, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_as(path, None, body).await
    }

    /// `POST` with a bearer token when given.
    pub async fn post_as(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self.http.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// `DELETE` with a bearer token when given.
    pub async fn delete_as(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.delete(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// Any method with a JSON body (none: `Value::Null`), a bearer token when given.
    pub async fn send_as(&self, method: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self.http.request(method, self.url(path));
        if !body.is_null() {
            request = request.json(body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    }

    pub async fn get_json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    }

    pub async fn register(&self, username: &str) -> Value {
        let (status, body) = self
            .post_json(
                "/register",
                &json!({"username": username, "email": format!("{username}@example.com"), "password": "password123"}),
            )
            .await;
        assert_eq!(status, 201, "register {username}: {body}");
        body["user"].clone()
    }

    pub async fn login(&self, username: &str) -> String {
        let (status, body) = self.post_json("/login", &json!({"username": username, "password": "password123"})).await;
        assert_eq!(status, 200, "login {username}: {body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Registers and logs in; returns the token.
    pub async fn user(&self, username: &str) -> String {
        self.register(username).await;
        self.login(username).await
    }

    /// A private room of `owner` (a token) named `name`, with `members` (usernames) added; its id.
    pub async fn private_room(&self, owner: &str, name: &str, members: &[&str]) -> i64 {
        let (status, room) = self.post_as("/rooms", Some(owner), &json!({"name": name, "kind": "private"})).await;
        assert_eq!(status, 201, "{room}");
        let room = room["id"].as_i64().unwrap();
        for member in members {
            let (status, body) =
                self.post_as(&format!("/rooms/{room}/members"), Some(owner), &json!({"username": member})).await;
            assert_eq!(status, 200, "{body}");
        }
        room
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws?{}", self.addr, query)
    }

    /// Connects with `?token=` and returns the client and its history frame.
    pub async fn connect(&self, token: &str) -> (Client, Value) {
        self.connect_query(&format!("token={token}")).await
    }

    /// The status a refused WebSocket handshake with `query` answers (101 if it is accepted).
    pub async fn connect_query_status(&self, query: &str) -> u16 {
        match tokio_tungstenite::connect_async(self.ws_url(query)).await {
            Ok(_) => 101,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(other) => panic!("handshake failed: {other}"),
        }
    }

    pub async fn connect_query(&self, query: &str) -> (Client, Value) {
        let (socket, _) = tokio_tungstenite::connect_async(self.ws_url(query)).await.expect("ws connect");
        let mut client = Client { socket };
        let history = client.next_json().await;
        assert_eq!(history["type"], "history", "{history}");
        (client, history)
    }
}
