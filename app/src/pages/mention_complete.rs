//! `@` completion in the composer: while `@` and the start of a name are typed, a short list of
//! the conversation's members whose name starts so (its members read once per conversation,
//! `GET /rooms/{id}/members`); arrows move the choice, Tab or Enter picks, Escape closes.

use crate::chat_state::ChatState;
use crate::message_text::{matching_members, MentionQuery};
use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::message_client as messages;

/// The server renders an empty composer; the members are read by the browser.
#[cfg(not(feature = "hydrate"))]
mod messages {
    pub async fn member_names(_: i64) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
}

/// The completion's state: what is being completed, the names offered, the one chosen.
#[derive(Clone, Copy)]
pub struct MentionCompletion {
    pub query: RwSignal<Option<MentionQuery>>,
    pub names: RwSignal<Vec<String>>,
    pub chosen: RwSignal<usize>,
}

impl MentionCompletion {
    pub fn new() -> Self {
        Self { query: RwSignal::new(None), names: RwSignal::new(Vec::new()), chosen: RwSignal::new(0) }
    }

    /// Whether the list is showing.
    pub fn is_open(&self) -> bool {
        self.names.with_untracked(|names| !names.is_empty())
    }

    /// Follows what is typed: `query` is the `@name` at the caret, if any; the names offered
    /// come from the conversation's members (read once).
    pub fn follow(&self, state: ChatState, query: Option<MentionQuery>) {
        let Some(query) = query else { return self.close() };
        let prefix = query.prefix.clone();
        self.query.set(Some(query));
        let room_id = state.current.get_untracked();
        let me = state.me.with_value(|me| me.username.clone());
        let this = *self;
        leptos::task::spawn_local(async move {
            let members = messages::member_names(room_id).await.unwrap_or_default();
            // Still completing the same name in the same conversation?
            let current = this.query.with_untracked(|q| q.as_ref().is_some_and(|q| q.prefix == prefix));
            if current && state.current.get_untracked() == room_id {
                this.names.set(matching_members(&members, &prefix, &me));
                this.chosen.set(0);
            }
        });
    }

    /// Moves the choice by `step` (wrapping).
    pub fn move_choice(&self, step: isize) {
        let count = self.names.with_untracked(Vec::len) as isize;
        if count > 0 {
            self.chosen.update(|chosen| *chosen = (*chosen as isize + step).rem_euclid(count) as usize);
        }
    }

    /// The name chosen, and what it completes.
    pub fn choice(&self) -> Option<(MentionQuery, String)> {
        let name = self.names.with_untracked(|names| names.get(self.chosen.get_untracked()).cloned())?;
        Some((self.query.get_untracked()?, name))
    }

    pub fn close(&self) {
        self.query.set(None);
        if self.is_open() {
            self.names.set(Vec::new());
        }
    }
}

impl Default for MentionCompletion {
    fn default() -> Self {
        Self::new()
    }
}

/// The list of names offered; a click picks one.
#[component]
pub fn MentionList(completion: MentionCompletion, pick: Callback<String>) -> impl IntoView {
    view! {
        <Show when=move || completion.names.with(|names| !names.is_empty())>
            <ul class="mention-list" id="mention-list" role="listbox" aria-label="Members" data-testid="mention-list">
                {move || completion.names.get().into_iter().enumerate().map(|(at, name)| {
                    let (picked, username) = (name.clone(), name.clone());
                    view! {
                        <li
                            role="option"
                            class="mention-option"
                            class:chosen=move || completion.chosen.get() == at
                            aria-selected=move || (completion.chosen.get() == at).to_string()
                            data-testid="mention-option"
                            data-username=username
                            // Before the text box loses the focus.
                            on:mousedown=move |ev| {
                                ev.prevent_default();
                                pick.run(picked.clone());
                            }
                        >
                            "@"{name}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </Show>
    }
}
