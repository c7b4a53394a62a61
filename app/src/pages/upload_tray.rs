//! The upload tray above the composer: one entry per file being attached to the next message
//! (its name, its size, a progress bar while it uploads, the reason if it failed) with a button
//! that cancels the upload, or deletes the uploaded file (`DELETE /uploads/{id}`), or drops a
//! failed entry. [`Tray`] is the state the composer shares with it: the entries in the order they
//! were added (`upload_state`), at most `MAX_ATTACHMENTS_PER_MESSAGE` of them uploading or uploaded. Uploads run
//! in the background (`upload_client`): typing goes on meanwhile, and the message may be sent
//! once none is still uploading.

use super::attachment_list::human_size;
use crate::upload_state::{EntryState, Tray};
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::upload_client as uploads;

/// The server renders an empty tray; uploads need the browser.
#[cfg(not(feature = "hydrate"))]
mod uploads {
    use super::Tray;

    pub fn remove(_: Tray, _: u64) {}
}

/// The tray: nothing while it is empty.
#[component]
pub fn UploadTray(tray: Tray) -> impl IntoView {
    let keys = move || tray.entries.with(|entries| entries.iter().map(|e| e.key).collect::<Vec<_>>());
    let shown = move || tray.entries.with(|e| !e.is_empty()) || tray.notice.with(Option::is_some);
    view! {
        <Show when=shown>
            <div class="upload-tray" data-testid="upload-tray">
                {move || tray.notice.get().map(|text| view! {
                    <p class="upload-notice" data-testid="upload-notice" role="status">{text}</p>
                })}
                <ul class="upload-entries" aria-label="Files to send">
                    <For each=keys key=|key| *key let:key>
                        <TrayItem tray key/>
                    </For>
                </ul>
            </div>
        </Show>
    }
}

/// One file of the tray, redrawn as its upload goes on.
#[component]
fn TrayItem(tray: Tray, key: u64) -> impl IntoView {
    let entry = Memo::new(move |_| tray.entry(key));
    let name = entry.with_untracked(|e| e.as_ref().map(|e| e.name.clone()).unwrap_or_default());
    // Memos: the progress bar is not drawn again for each step of the upload.
    let state = Memo::new(move |_| {
        entry.with(|e| match e.as_ref().map(|e| &e.state) {
            Some(EntryState::Uploaded(_)) => "uploaded",
            Some(EntryState::Failed(_)) => "failed",
            _ => "uploading",
        })
    });
    let progress = move || entry.with(|e| e.as_ref().map_or(0.0, |e| e.progress));
    let size = move || entry.with(|e| e.as_ref().map(|e| human_size(e.size)).unwrap_or_default());
    let status = move || {
        entry.with(|e| match e.as_ref().map(|e| (&e.state, e.progress)) {
            Some((EntryState::Uploading, sent)) if sent >= 1.0 => "Processing…".to_owned(),
            Some((EntryState::Uploading, sent)) => format!("{:.0} %", sent * 100.0),
            Some((EntryState::Uploaded(_), _)) => "Ready".to_owned(),
            _ => String::new(),
        })
    };
    let error = Memo::new(move |_| {
        entry.with(|e| match e.as_ref().map(|e| &e.state) {
            Some(EntryState::Failed(error)) => Some(error.clone()),
            _ => None,
        })
    });
    let remove_label = {
        let name = name.clone();
        move || match state.get() {
            "uploading" => format!("Cancel the upload of {name}"),
            "uploaded" => format!("Remove {name}"),
            _ => format!("Dismiss {name}"),
        }
    };
    let progress_label = format!("Upload of {name}");
    view! {
        <li class="upload-entry" data-testid="upload-entry" data-state=move || state.get() data-name=name.clone()>
            <span class="upload-name" title=name.clone()>{name.clone()}</span>
            <span class="upload-size">{size}</span>
            {move || (state.get() != "failed").then(|| view! {
                <progress
                    class="upload-progress"
                    data-testid="upload-progress"
                    max="1"
                    value=move || progress().to_string()
                    aria-label=progress_label.clone()
                ></progress>
                <span class="upload-status">{status}</span>
            })}
            {move || error.get().map(|text| view! {
                <span class="upload-error" data-testid="upload-error" role="alert">{text}</span>
            })}
            <button
                type="button"
                class="link-button upload-remove"
                data-testid="upload-remove"
                aria-label=remove_label
                on:click=move |_| uploads::remove(tray, key)
            >
                "✕"
            </button>
        </li>
    }
}
