//! Browser notifications (WASM only): whether the page may show them, asking the user's
//! permission, showing one for a live message while the page is hidden (tagged with the
//! message id, so the message's deletion closes it) and opening its conversation when clicked.
//! What deserves one is decided by [`crate::chat_state::ChatState::notice_for`].

use crate::chat_state::Notice;
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Notification, NotificationOptions, NotificationPermission};

/// An open notification and its click handler (kept alive as long as it is open).
struct Shown {
    notification: Notification,
    _on_click: Closure<dyn FnMut()>,
}

thread_local! {
    /// The notifications shown, by message id.
    static SHOWN: RefCell<HashMap<i64, Shown>> = RefCell::new(HashMap::new());
}

/// Whether this browser has notifications at all.
fn supported() -> bool {
    js_sys::Reflect::has(&leptos::prelude::window(), &"Notification".into()).unwrap_or(false)
}

/// The permission: `default` (not asked yet), `granted`, `denied`, or `unsupported`.
pub fn permission() -> &'static str {
    if !supported() {
        return "unsupported";
    }
    match Notification::permission() {
        NotificationPermission::Default => "default",
        NotificationPermission::Granted => "granted",
        _ => "denied",
    }
}

/// Asks the user's permission; `answered` gets the new permission (as [`permission`] names it).
pub fn request_permission(answered: impl Fn(&'static str) + 'static) {
    if !supported() {
        return answered("unsupported");
    }
    let Ok(promise) = Notification::request_permission() else {
        return answered(permission());
    };
    let on_answer = Closure::once(move |_: wasm_bindgen::JsValue| answered(permission()));
    let _ = promise.then(&on_answer);
    on_answer.forget();
}

/// Whether a live message may be notified now: permission granted and the page hidden.
pub fn can_notify() -> bool {
    let hidden = leptos::prelude::document().hidden();
    hidden && permission() == "granted"
}

/// Shows a notification; clicking it focuses the window, closes it and runs `open`.
pub fn show(notice: &Notice, open: impl Fn() + 'static) {
    let options = NotificationOptions::new();
    options.set_body(&notice.body);
    options.set_tag(&notice.tag);
    let Ok(notification) = Notification::new_with_options(&notice.title, &options) else { return };
    let Ok(id) = notice.tag.parse::<i64>() else { return };
    let on_click = Closure::<dyn FnMut()>::new(move || {
        let _ = leptos::prelude::window().focus();
        // Closed after this handler returns: its closure must not be dropped while it runs.
        leptos::task::spawn_local(async move { close(id) });
        open();
    });
    notification.set_onclick(Some(on_click.as_ref().unchecked_ref()));
    SHOWN.with(|shown| shown.borrow_mut().insert(id, Shown { notification, _on_click: on_click }));
}

/// Closes the notification of message `id`, if one is open (the message was deleted, or it was
/// clicked).
pub fn close(id: i64) {
    if let Some(shown) = SHOWN.with(|shown| shown.borrow_mut().remove(&id)) {
        shown.notification.set_onclick(None);
        shown.notification.close();
    }
}
