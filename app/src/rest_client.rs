//! Same-origin REST calls from the browser (WASM only), which the session cookie authenticates:
//! a JSON answer, or the server's `error` text (else the status) for the page to show.

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The text to show for a refused or failed call: the server's `error`, else the status.
pub(crate) async fn error_of(response: Response) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        error: String,
    }
    match response.json::<Body>().await {
        Ok(body) => body.error,
        Err(_) => format!("the server answered {} {}", response.status(), response.status_text()),
    }
}

pub(crate) const OFFLINE: &str = "could not reach the server; try again";

pub(crate) async fn answer<T: DeserializeOwned>(request: Result<Response, gloo_net::Error>) -> Result<T, String> {
    let response = request.map_err(|_| OFFLINE.to_owned())?;
    if !response.ok() {
        return Err(error_of(response).await);
    }
    response.json::<T>().await.map_err(|_| "the server's answer could not be read".to_owned())
}

pub(crate) async fn no_content(request: Result<Response, gloo_net::Error>) -> Result<(), String> {
    let response = request.map_err(|_| OFFLINE.to_owned())?;
    if response.ok() {
        Ok(())
    } else {
        Err(error_of(response).await)
    }
}

pub(crate) async fn get<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    answer(Request::get(url).send().await).await
}

pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(url: &str, body: &B) -> Result<T, String> {
    let request = Request::post(url).json(body).map_err(|_| "the request could not be made".to_owned())?;
    answer(request.send().await).await
}
