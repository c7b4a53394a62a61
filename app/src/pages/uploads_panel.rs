//! The admin console's uploads: each account's stored files and bytes (most bytes first); a
//! click on an account lists its files, newest first (name linking to the file, size, type,
//! when, and the message it was posted with or "not posted"), each with a Remove button that
//! deletes it (`DELETE /uploads/{id}`). Loaded in the browser from `GET /admin/uploads`.

use super::attachment_list::human_size;
use crate::chat_state::Feedback;
use crate::models::{AdminUpload, UploadUsage};
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::upload_client as uploads;

/// The server renders the console without the uploads: the calls do nothing there.
#[cfg(not(feature = "hydrate"))]
mod uploads {
    use crate::chat_state::Feedback;
    use crate::models::{AdminUpload, UploadUsage};
    use leptos::prelude::*;

    pub fn load_usage(_: RwSignal<Option<Vec<UploadUsage>>>, _: Feedback) {}
    pub fn load_files(
        _: i64,
        _: RwSignal<Option<Vec<UploadUsage>>>,
        _: RwSignal<Option<Vec<AdminUpload>>>,
        _: Feedback,
    ) {
    }
    pub fn remove_file(
        _: AdminUpload,
        _: i64,
        _: RwSignal<Option<Vec<UploadUsage>>>,
        _: RwSignal<Option<Vec<AdminUpload>>>,
        _: Feedback,
    ) {
    }
}

#[component]
pub fn UploadsPanel() -> impl IntoView {
    let users = RwSignal::new(None::<Vec<UploadUsage>>);
    let files = RwSignal::new(None::<Vec<AdminUpload>>);
    // The account whose files are listed.
    let chosen = RwSignal::new(None::<i64>);
    let ui = Feedback::new();
    Effect::new(move |_| uploads::load_usage(users, ui));
    let choose = Callback::new(move |user_id: i64| {
        if chosen.get_untracked() == Some(user_id) {
            chosen.set(None);
            files.set(None);
        } else {
            chosen.set(Some(user_id));
            uploads::load_files(user_id, users, files, ui);
        }
    });
    let chosen_name = move || {
        let id = chosen.get()?;
        users.with(|list| list.as_ref()?.iter().find(|u| u.user_id == id).map(|u| u.username.clone()))
    };
    view! {
        <section class="panel" id="uploads" data-testid="uploads-panel">
            <h2>"Uploads"</h2>
            <Show when=move || ui.error.with(Option::is_some)>
                <p class="form-error" role="alert">{move || ui.error.get().unwrap_or_default()}</p>
            </Show>
            {move || match users.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(list) if list.is_empty() => view! { <p class="empty" data-testid="uploads-empty">"No uploads."</p> }.into_any(),
                Some(list) => view! {
                    <div class="table-wrap">
                        <table id="upload-usage">
                            <thead><tr><th>"User"</th><th>"Files"</th><th>"Size"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|usage| {
                                    let id = usage.user_id;
                                    let open = move || chosen.get() == Some(id);
                                    view! {
                                        <tr data-testid="upload-user" data-username=usage.username.clone() class:chosen=open>
                                            <td>
                                                <button
                                                    type="button"
                                                    class="link-button"
                                                    aria-expanded=move || open().to_string()
                                                    aria-controls="upload-files"
                                                    on:click=move |_| choose.run(id)
                                                >
                                                    {usage.username.clone()}
                                                </button>
                                            </td>
                                            <td>{usage.count}</td>
                                            <td>{human_size(u64::try_from(usage.bytes).unwrap_or(0))}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            }}
            {move || chosen.get().map(|user_id| view! {
                <h3 class="upload-files-heading">{move || format!("Files of {}", chosen_name().unwrap_or_default())}</h3>
                <UploadFiles user_id users files ui/>
            })}
        </section>
    }
}

/// One account's files, each with a Remove button.
#[component]
fn UploadFiles(
    user_id: i64,
    users: RwSignal<Option<Vec<UploadUsage>>>,
    files: RwSignal<Option<Vec<AdminUpload>>>,
    ui: Feedback,
) -> impl IntoView {
    let rows = move || files.get().unwrap_or_default();
    view! {
        <Show
            when=move || files.with(Option::is_some)
            fallback=move || view! { <p>{move || if ui.busy.get() { "Loading…" } else { "" }}</p> }
        >
            <Show when=move || files.with(|f| f.as_ref().is_some_and(Vec::is_empty))>
                <p class="empty">"No files."</p>
            </Show>
            <div class="table-wrap">
                <table id="upload-files">
                    <thead>
                        <tr><th>"File"</th><th>"Size"</th><th>"Type"</th><th>"Uploaded (UTC)"</th><th>"Message"</th><th></th></tr>
                    </thead>
                    <tbody>
                        <For each=rows key=|upload| upload.attachment.id.clone() let:upload>
                            <UploadRow upload user_id users files ui/>
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
    }
}

#[component]
fn UploadRow(
    upload: AdminUpload,
    user_id: i64,
    users: RwSignal<Option<Vec<UploadUsage>>>,
    files: RwSignal<Option<Vec<AdminUpload>>>,
    ui: Feedback,
) -> impl IntoView {
    let file = upload.attachment.clone();
    let when = upload.created_at.get(..19).unwrap_or(&upload.created_at).replace('T', " ");
    let posted = match upload.message_id {
        Some(id) => format!("#{id}"),
        None => "not posted".to_owned(),
    };
    let label = format!("Remove {}", file.name);
    view! {
        <tr data-testid="upload-file" data-id=file.id.clone()>
            <td class="text"><a href=file.url.clone() target="_blank" rel="noopener">{file.name.clone()}</a></td>
            <td>{human_size(u64::try_from(file.size).unwrap_or(0))}</td>
            <td>{file.content_type.clone()}</td>
            <td>{when}</td>
            <td>{posted}</td>
            <td>
                <button
                    type="button"
                    class="danger small"
                    data-testid="upload-file-remove"
                    aria-label=label
                    disabled=move || ui.busy.get()
                    on:click=move |_| uploads::remove_file(upload.clone(), user_id, users, files, ui)
                >
                    "Remove"
                </button>
            </td>
        </tr>
    }
}
