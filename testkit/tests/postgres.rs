//! The shared PostgreSQL server starts once and hands out distinct, usable databases.

use testkit::postgres;

#[test]
fn the_server_answers_and_is_shared() {
    let server = postgres();
    assert_eq!(server.psql("postgres", "SELECT 1"), "1");
    assert!(std::ptr::eq(server, postgres()), "one server per test process");
    assert_eq!(server.admin_url(), format!("postgres://postgres@127.0.0.1:{}/postgres", server.port()));
}

#[test]
fn fresh_databases_are_distinct_and_usable() {
    let server = postgres();
    let first = server.fresh_database();
    let second = server.fresh_database();
    assert_ne!(first, second);
    let prefix = format!("postgres://postgres@127.0.0.1:{}/t_{}_", server.port(), std::process::id());
    assert!(first.starts_with(&prefix), "{first}");

    let (first, second) = (database_name(&first), database_name(&second));
    server.psql(first, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('hello')");
    assert_eq!(server.psql(first, "SELECT body FROM notes"), "hello");
    assert_eq!(server.psql(second, "SELECT count(*) FROM pg_tables WHERE tablename = 'notes'"), "0");
}

#[test]
fn parallel_callers_get_their_own_databases() {
    let urls: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| postgres().fresh_database())).collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    let mut unique = urls.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), urls.len());
}

#[test]
#[should_panic(expected = "does_not_exist")]
fn psql_panics_with_the_error() {
    postgres().psql("postgres", "SELECT * FROM does_not_exist");
}

fn database_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}
