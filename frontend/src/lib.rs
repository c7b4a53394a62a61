//! The WASM entry point: hydrates the server-rendered page.

// Without `--cfg erase_components` (cargo-leptos sets it; a plain `cargo build --release` does not)
// the chat page's view types nest deeper than the default limit of 128 allows when the compiler
// lays out its hydration future.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // A marker for end-to-end tests and diagnostics: event handlers are attached from here on.
    let _ = js_sys::Reflect::set(&js_sys::global(), &"__chatterbox_hydrated".into(), &true.into());
}
