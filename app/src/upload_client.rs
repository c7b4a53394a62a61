//! The browser side of file sharing (WASM only). Uploads: each file picked with the attach
//! button, dropped on the conversation or pasted into the message box goes to `POST /uploads`
//! (multipart, field `file`; same-origin, so the session cookie authenticates it and the
//! browser's `Sec-Fetch-Site: same-origin` passes the cross-site check) through an
//! `XMLHttpRequest`, whose upload progress moves the tray's bar and whose `abort()` cancels it;
//! the answer (the stored [`Attachment`], or the server's `error`) ends the tray entry. A file
//! taken out of the tray once uploaded is deleted (`DELETE /uploads/{id}`). And the admin
//! console's uploads panel: usage per account and its files (`GET /admin/uploads[?user=ID]`),
//! any of them removed with `DELETE /uploads/{id}`.

use crate::chat_state::Feedback;
use crate::models::{AdminUpload, UploadUsage, UploadsOverview};
use crate::rest_client::{get, no_content};
use crate::upload_state::{upload_outcome, EntryState, Tray};
use gloo_net::http::Request;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{DragEvent, File, FileList, FormData, ProgressEvent, XmlHttpRequest};

const UPLOAD_URL: &str = "/uploads";
/// A drag that has sent no `dragover` for this long has left (browsers send one at least every
/// 350 ± 200 ms while it lasts).
const DRAG_GONE_MS: f64 = 700.0;

thread_local! {
    /// The uploads under way, by tray key: a cancelled one is taken out before it is aborted, so
    /// its end is not reported.
    static RUNNING: RefCell<HashMap<u64, XmlHttpRequest>> = RefCell::new(HashMap::new());
    /// When the last `dragover` carrying files came (ms since the epoch).
    static LAST_DRAG_OVER: Cell<f64> = const { Cell::new(0.0) };
}

/// Files picked with the attach button's file input; the input is emptied, so that the same
/// file may be picked again.
pub fn attach_picked(tray: Tray, ev: &leptos::ev::Event) {
    let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return };
    if let Some(files) = input.files() {
        attach(tray, &files);
    }
    input.set_value("");
}

/// Files or images pasted into the message box: attached instead of pasted as text. A paste
/// without files is left to the text box.
pub fn attach_pasted(tray: Tray, ev: &leptos::ev::ClipboardEvent) {
    let Some(files) = ev.clipboard_data().and_then(|data| data.files()) else { return };
    if files.length() > 0 {
        ev.prevent_default();
        attach(tray, &files);
    }
}

/// Files dropped on the conversation (the `.chat-main` column: messages, header or composer)
/// are attached, while `dragging` says a drag carrying files is over it. A file dropped
/// elsewhere on the page is ignored rather than opened by the browser in place of the chat. The
/// listeners go with the view.
pub fn listen_for_drops(tray: Tray, dragging: RwSignal<bool>) {
    let over = window_event_listener(leptos::ev::dragover, move |ev: DragEvent| {
        let Some(data) = ev.data_transfer() else { return };
        if !carries_files(&data) {
            return;
        }
        ev.prevent_default();
        let inside = over_conversation(&ev);
        data.set_drop_effect(if inside { "copy" } else { "none" });
        if !inside {
            if dragging.get_untracked() {
                dragging.set(false);
            }
            return;
        }
        LAST_DRAG_OVER.with(|at| at.set(js_sys::Date::now()));
        if !dragging.get_untracked() {
            dragging.set(true);
            watch_drag_end(dragging);
        }
    });
    let dropped = window_event_listener(leptos::ev::drop, move |ev: DragEvent| {
        let Some(data) = ev.data_transfer() else { return };
        if !carries_files(&data) {
            return;
        }
        ev.prevent_default();
        if dragging.get_untracked() {
            dragging.set(false);
        }
        if over_conversation(&ev) {
            if let Some(files) = data.files() {
                attach(tray, &files);
            }
        }
    });
    on_cleanup(move || {
        over.remove();
        dropped.remove();
    });
}

/// Whether a drag carries files (not text or a link from the page).
fn carries_files(data: &web_sys::DataTransfer) -> bool {
    data.types().includes(&JsValue::from_str("Files"), 0)
}

fn over_conversation(ev: &DragEvent) -> bool {
    ev.target()
        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
        .and_then(|element| element.closest(".chat-main").ok().flatten())
        .is_some()
}

/// Clears `dragging` once the drag has left without a drop (Escape, or out of the window).
fn watch_drag_end(dragging: RwSignal<bool>) {
    set_timeout(
        move || {
            if dragging.try_get_untracked() != Some(true) {
                return;
            }
            let since = js_sys::Date::now() - LAST_DRAG_OVER.with(Cell::get);
            if since > DRAG_GONE_MS {
                let _ = dragging.try_set(false);
            } else {
                watch_drag_end(dragging);
            }
        },
        std::time::Duration::from_millis(200),
    );
}

/// Starts uploading files, as many as the message has places left for; the tray says when some
/// were left out.
fn attach(tray: Tray, files: &FileList) {
    tray.notice.set(None);
    for index in 0..files.length() {
        let Some(file) = files.get(index) else { continue };
        if tray.places_left() == 0 {
            tray.notice.set(Some(format!(
                "A message carries at most {} files: {} left out.",
                crate::protocol::MAX_ATTACHMENTS_PER_MESSAGE,
                files.length() - index
            )));
            break;
        }
        start(tray, file);
    }
}

/// Uploads one file into a new tray entry.
fn start(tray: Tray, file: File) {
    let name = file.name();
    let key = tray.add(name.clone(), file.size().max(0.0) as u64);
    if let Err(error) = send(tray, key, &file, &name) {
        RUNNING.with(|running| running.borrow_mut().remove(&key));
        tray.finish(key, Err(error));
    }
}

fn send(tray: Tray, key: u64, file: &File, name: &str) -> Result<(), String> {
    let failed = |_: JsValue| "the upload could not be started".to_owned();
    let form = FormData::new().map_err(failed)?;
    form.append_with_blob_and_filename("file", file, name).map_err(failed)?;
    let request = XmlHttpRequest::new().map_err(failed)?;
    request.open("POST", UPLOAD_URL).map_err(failed)?;
    let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |ev: ProgressEvent| {
        if ev.length_computable() && ev.total() > 0.0 {
            tray.set_progress(key, ev.loaded() / ev.total());
        }
    });
    // All sent (a small file may send no progress before): the server is storing it now.
    let on_sent = Closure::<dyn FnMut()>::new(move || tray.set_progress(key, 1.0));
    let upload = request.upload().map_err(failed)?;
    upload.set_onprogress(Some(on_progress.into_js_value().unchecked_ref()));
    upload.set_onload(Some(on_sent.into_js_value().unchecked_ref()));
    // The request comes from the event (a closure holding it would keep it alive for ever).
    let on_end = Closure::<dyn FnMut(ProgressEvent)>::new(move |ev: ProgressEvent| {
        // A cancelled upload was taken out of the running ones (and of the tray) already.
        if RUNNING.with(|running| running.borrow_mut().remove(&key)).is_none() {
            return;
        }
        let Some(request) = ev.target().and_then(|t| t.dyn_into::<XmlHttpRequest>().ok()) else { return };
        let status = request.status().unwrap_or(0);
        let body = request.response_text().ok().flatten().unwrap_or_default();
        tray.finish(key, upload_outcome(status, &body));
    });
    request.set_onloadend(Some(on_end.into_js_value().unchecked_ref()));
    RUNNING.with(|running| running.borrow_mut().insert(key, request.clone()));
    request.send_with_opt_form_data(Some(&form)).map_err(failed)
}

/// Takes a file out of the tray: its upload is cancelled, or the uploaded file deleted (an
/// unposted upload is the uploader's to delete; one this fails to delete expires on the server).
pub fn remove(tray: Tray, key: u64) {
    let Some(entry) = tray.take(key) else { return };
    match entry.state {
        EntryState::Uploading => {
            if let Some(request) = RUNNING.with(|running| running.borrow_mut().remove(&key)) {
                let _ = request.abort();
            }
        }
        EntryState::Uploaded(attachment) => spawn_local(async move {
            let _ = delete(&attachment.id).await;
        }),
        EntryState::Failed(_) => {}
    }
}

/// Cancels every upload under way (the composer is going away).
pub fn abort_all() {
    let running: Vec<XmlHttpRequest> = RUNNING.with(|running| running.borrow_mut().drain().map(|(_, r)| r).collect());
    for request in running {
        let _ = request.abort();
    }
}

/// `DELETE /uploads/{id}`: the uploader's unposted file, or any file (admins).
pub async fn delete(id: &str) -> Result<(), String> {
    let url = format!("/uploads/{}", js_sys::encode_uri_component(id));
    no_content(Request::delete(&url).send().await).await
}

/// `GET /admin/uploads`, with one account's files when `user` is given.
pub async fn overview(user: Option<i64>) -> Result<UploadsOverview, String> {
    match user {
        Some(user) => get(&format!("/admin/uploads?user={user}")).await,
        None => get("/admin/uploads").await,
    }
}

/// Fills `users` with each account's uploads (admins).
pub fn load_usage(users: RwSignal<Option<Vec<UploadUsage>>>, ui: Feedback) {
    ui.error.set(None);
    spawn_local(async move {
        match overview(None).await {
            Ok(found) => users.set(Some(found.users)),
            Err(error) => ui.error.set(Some(error)),
        }
    });
}

/// Fills `files` with one account's files, newest first (admins); `users` follows the counts.
pub fn load_files(
    user_id: i64,
    users: RwSignal<Option<Vec<UploadUsage>>>,
    files: RwSignal<Option<Vec<AdminUpload>>>,
    ui: Feedback,
) {
    ui.error.set(None);
    ui.busy.set(true);
    files.set(None);
    spawn_local(async move {
        match overview(Some(user_id)).await {
            Ok(found) => {
                users.set(Some(found.users));
                files.set(Some(found.files));
            }
            Err(error) => ui.error.set(Some(error)),
        }
        ui.busy.set(false);
    });
}

/// Removes a stored file (admins): it leaves the list and its account's counts.
pub fn remove_file(
    upload: AdminUpload,
    user_id: i64,
    users: RwSignal<Option<Vec<UploadUsage>>>,
    files: RwSignal<Option<Vec<AdminUpload>>>,
    ui: Feedback,
) {
    ui.error.set(None);
    ui.busy.set(true);
    spawn_local(async move {
        let id = upload.attachment.id.clone();
        match delete(&id).await {
            Ok(()) => {
                files.update(|list| {
                    if let Some(list) = list {
                        list.retain(|file| file.attachment.id != id);
                    }
                });
                users.update(|list| {
                    if let Some(list) = list {
                        if let Some(usage) = list.iter_mut().find(|u| u.user_id == user_id) {
                            usage.count = (usage.count - 1).max(0);
                            usage.bytes = (usage.bytes - upload.attachment.size).max(0);
                        }
                    }
                });
            }
            Err(error) => ui.error.set(Some(error)),
        }
        ui.busy.set(false);
    });
}
