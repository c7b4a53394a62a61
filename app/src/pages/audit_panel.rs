//! The admin console's audit log: what admins did (blocks, removals, archives…) and the
//! accounts their owners deleted, newest first, from `GET /admin/audit`.

use crate::chat_state::Feedback;
use crate::models::AuditEntry;
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::account_client as account;

/// The server renders the console without the log: loading it needs the browser.
#[cfg(not(feature = "hydrate"))]
mod account {
    use crate::chat_state::Feedback;
    use crate::models::AuditEntry;
    use leptos::prelude::*;

    pub fn load_audit(_: RwSignal<Option<Vec<AuditEntry>>>, _: Feedback) {}
}

#[component]
pub fn AuditPanel() -> impl IntoView {
    let entries = RwSignal::new(None::<Vec<AuditEntry>>);
    let ui = Feedback::new();
    Effect::new(move |_| account::load_audit(entries, ui));
    view! {
        <section class="panel" data-testid="audit-log">
            <h2>"Audit log"</h2>
            {move || ui.error.get().map(|error| view! { <p class="form-error">{error}</p> })}
            {move || entries.get().map(|list| view! {
                <div class="table-wrap">
                    <table>
                        <thead><tr><th>"Time (UTC)"</th><th>"By"</th><th>"Action"</th><th>"Whom"</th><th>"Details"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|e| {
                                let action = e.action.clone();
                                view! {
                                <tr data-action=action>
                                    <td>{e.timestamp.get(..19).unwrap_or(&e.timestamp).replace('T', " ")}</td>
                                    <td>{e.actor}</td>
                                    <td>{e.action}</td>
                                    <td>{e.target.unwrap_or_default()}</td>
                                    <td class="text">{e.reason.unwrap_or_default()}</td>
                                </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            })}
        </section>
    }
}
