//! Every status `GET /openapi.json` documents is one some integration test produced.
//!
//! The integration tests (`tests/api`) record, when `CHATTERBOX_RECORD_STATUSES=FILE` is set,
//! every answer of every route as `METHOD MATCHED-PATH STATUS` (`tests/api/common`). With
//! `CHATTERBOX_CHECK_STATUSES=FILE` this test compares the documented `(method, path, status)`
//! triples with that file and fails, listing them, for the documented ones no test produced and
//! that [`NOT_PRODUCED`] does not list with a reason. Without the variable it checks nothing
//! (a partial run, `cargo test -p server --test api -- some_test`, cannot say); `scripts/test.sh`
//! records the SQLite and the PostgreSQL runs into one fresh file and then runs this check.

use std::collections::BTreeSet;

/// Documented statuses that no test produces, each `(method, path, status, why)`: reviewed
/// here, in one place, never skipped silently. A test that produces one makes its line stale:
/// this check then fails too, until the line goes.
const NOT_PRODUCED: &[(&str, &str, u16, &str)] = &[];

type Triple = (String, String, u16);

fn documented() -> BTreeSet<Triple> {
    let doc = serde_json::to_value(server::http::openapi::openapi()).expect("the document serialises");
    let mut triples = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let Some(responses) = operation.get("responses").and_then(|r| r.as_object()) else { continue };
            for status in responses.keys() {
                let status = status.parse().unwrap_or_else(|_| panic!("{method} {path}: status {status}"));
                triples.insert((method.to_uppercase(), path.clone(), status));
            }
        }
    }
    triples
}

fn recorded(file: &str) -> BTreeSet<Triple> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e} (run the api tests first)"));
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let (method, path, status) = (parts.next()?, parts.next()?, parts.next()?.parse().ok()?);
            Some((method.to_owned(), path.to_owned(), status))
        })
        .collect()
}

#[test]
fn every_documented_status_is_produced_by_a_test() {
    let Some(file) = std::env::var("CHATTERBOX_CHECK_STATUSES").ok().filter(|f| !f.is_empty()) else {
        eprintln!("CHATTERBOX_CHECK_STATUSES is not set: nothing to check (scripts/test.sh sets it)");
        return;
    };
    let documented = documented();
    let recorded = recorded(&file);
    assert!(
        recorded.len() > 100,
        "{file} holds {} answers: were the api tests run with CHATTERBOX_RECORD_STATUSES?",
        recorded.len()
    );
    let excused: BTreeSet<Triple> = NOT_PRODUCED
        .iter()
        .map(|(method, path, status, _)| ((*method).to_owned(), (*path).to_owned(), *status))
        .collect();
    let missing: Vec<String> = documented
        .iter()
        .filter(|triple| !recorded.contains(*triple) && !excused.contains(*triple))
        .map(|(method, path, status)| format!("{method} {path} {status}"))
        .collect();
    let stale: Vec<String> = excused
        .iter()
        .filter(|triple| recorded.contains(*triple) || !documented.contains(*triple))
        .map(|(method, path, status)| format!("{method} {path} {status}"))
        .collect();
    // Produced but not documented: reported, not a failure (a 405 for a wrong method, a 404 of
    // the fallback...), so a reader sees what the description leaves out.
    let undocumented: Vec<String> = recorded
        .iter()
        .filter(|(method, path, _)| documented.iter().any(|(m, p, _)| m == method && p == path))
        .filter(|triple| !documented.contains(*triple))
        .map(|(method, path, status)| format!("{method} {path} {status}"))
        .collect();
    if !undocumented.is_empty() {
        eprintln!("produced by tests but not documented ({}):\n  {}", undocumented.len(), undocumented.join("\n  "));
    }
    assert!(
        missing.is_empty(),
        "documented in /openapi.json but never produced by a test ({}); add a test that produces it, or list it \
         in NOT_PRODUCED with the reason:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
    assert!(
        stale.is_empty(),
        "NOT_PRODUCED lists statuses that tests produce, or that are not documented:\n  {}",
        stale.join("\n  ")
    );
}
