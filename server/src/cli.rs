//! Command line: `server` serves; `server admin promote NAME`, `server admin demote NAME` and
//! `server admin set-password NAME` (new password on stdin) and `server admin unblock NAME`
//! manage accounts offline; `server admin classifier retrain [--yes]` fits the classifier on this
//! server's review decisions and switches to it once an admin confirms, and
//! `server admin classifier reset` goes back to the shipped one; `server admin backup PATH` copies
//! the SQLite database while it serves, `server admin restore PATH` puts a copy back while no
//! server runs; `server healthcheck` asks the local server's `/readyz` (a container's
//! `HEALTHCHECK`).

use crate::auth::PasswordHasher;
use crate::config::Config;
use crate::store::{Store, StoreOptions};
use app::domain::Password;

pub enum Command {
    Serve,
    Promote(String),
    Demote(String),
    SetPassword(String),
    Unblock(String),
    /// Fit the classifier on the review decisions; `yes`: switch without asking.
    ClassifierRetrain {
        yes: bool,
    },
    ClassifierReset,
    /// A consistent online copy of the SQLite database into a new file.
    Backup(String),
    /// Replaces the SQLite database with a backup, while no server holds it.
    Restore(String),
    /// Exit 0 when the server on this machine is ready (`GET /readyz` answers 200).
    Healthcheck,
    Help,
}

pub const USAGE: &str = "usage:
  server                              serve ChatterBox (LEPTOS_SITE_ADDR, default 127.0.0.1:3000)
  server admin promote USERNAME       make USERNAME an admin
  server admin demote USERNAME        remove USERNAME's admin role
  server admin set-password USERNAME  set USERNAME's password (read from stdin); revokes its tokens
  server admin unblock USERNAME       unblock USERNAME and reset its warnings (it logs in again)
  server admin classifier retrain     fit the classifier on the admins' review decisions, compare it
                                      with the shipped one on decisions kept aside, and switch to it
                                      if you confirm (--yes: without asking); nodes use it from
                                      their next start
  server admin classifier reset       go back to the shipped classifier (from the next start)
  server admin backup PATH            copy the SQLite database into the new file PATH while it
                                      serves (VACUUM INTO), checked with integrity_check
  server admin restore PATH           replace the SQLite database with the backup PATH (refused
                                      while a server runs on it; the old file is kept beside it)
  server healthcheck                  exit 0 if the server at LEPTOS_SITE_ADDR is ready (/readyz)";

pub fn parse(args: &[String]) -> Command {
    match args {
        [] => Command::Serve,
        [h] if h == "healthcheck" => Command::Healthcheck,
        [a, c, verb] if a == "admin" && c == "classifier" => match verb.as_str() {
            "retrain" => Command::ClassifierRetrain { yes: false },
            "reset" => Command::ClassifierReset,
            _ => Command::Help,
        },
        [a, c, verb, yes] if a == "admin" && c == "classifier" && verb == "retrain" && yes == "--yes" => {
            Command::ClassifierRetrain { yes: true }
        }
        [a, verb, name] if a == "admin" => match verb.as_str() {
            "promote" => Command::Promote(name.clone()),
            "demote" => Command::Demote(name.clone()),
            "set-password" => Command::SetPassword(name.clone()),
            "unblock" => Command::Unblock(name.clone()),
            "backup" => Command::Backup(name.clone()),
            "restore" => Command::Restore(name.clone()),
            _ => Command::Help,
        },
        _ => Command::Help,
    }
}

/// Runs an admin command; returns the process exit code.
pub async fn run_admin(command: Command, config: &Config) -> Result<i32, Box<dyn std::error::Error>> {
    match &command {
        Command::Backup(path) => return backup(config, std::path::Path::new(path)).await,
        Command::Restore(path) => return restore(config, std::path::Path::new(path)).await,
        _ => {}
    }
    let store =
        Store::open(&config.database_url, &StoreOptions { read_pool_size: 1, ..config.store_options() }).await?;
    let (name, found) = match command {
        Command::ClassifierRetrain { yes } => {
            return retrain(&store, config.safety.classifier_threshold, yes, || {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).ok();
                line.trim().eq_ignore_ascii_case("y") || line.trim().eq_ignore_ascii_case("yes")
            })
            .await;
        }
        Command::ClassifierReset => {
            if crate::moderation::reset_classifier(&store).await? {
                println!("done: the shipped classifier is used from each node's next start");
            } else {
                println!("the shipped classifier is in use already");
            }
            return Ok(0);
        }
        Command::Promote(name) => {
            let found = store.set_admin(&name, true).await?;
            (name, found)
        }
        Command::Demote(name) => {
            let found = store.set_admin(&name, false).await?;
            (name, found)
        }
        Command::Unblock(name) => {
            let found = store.unblock_by_username(&name).await?;
            (name, found)
        }
        Command::SetPassword(name) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let password = Password::parse(line.trim_end_matches(['\r', '\n']))?;
            let hasher = PasswordHasher::new(config.bcrypt_cost, 1).await?;
            let hash = hasher.hash(password.expose()).await?;
            let found = store.set_password_hash(&name, &hash).await?;
            (name, found)
        }
        Command::Serve | Command::Help | Command::Healthcheck | Command::Backup(_) | Command::Restore(_) => {
            return Ok(2)
        }
    };
    if found {
        println!("done: {name}");
        Ok(0)
    } else {
        eprintln!("no user named {name}");
        Ok(1)
    }
}

/// What to do instead on PostgreSQL, where the database server takes the backups.
const POSTGRES_BACKUPS: &str = "this server runs on PostgreSQL: back it up with PostgreSQL's own tools \
(`pg_dump -Fc`, or base backups with WAL archiving for point-in-time recovery) and restore with \
`pg_restore`; see docs/deployment.md, \"Backups\"";

/// `server admin backup PATH`.
async fn backup(config: &Config, target: &std::path::Path) -> Result<i32, Box<dyn std::error::Error>> {
    if !config.database_url.starts_with("sqlite:") {
        eprintln!("{POSTGRES_BACKUPS}");
        return Ok(2);
    }
    let copied = crate::store::sqlite::backup::backup(&config.database_url, target).await?;
    println!(
        "done: {} ({} messages, newest id {}; integrity_check ok)",
        target.display(),
        copied.messages,
        copied.newest_message_id
    );
    Ok(0)
}

/// `server admin restore PATH`.
async fn restore(config: &Config, source: &std::path::Path) -> Result<i32, Box<dyn std::error::Error>> {
    if !config.database_url.starts_with("sqlite:") {
        eprintln!("{POSTGRES_BACKUPS}");
        return Ok(2);
    }
    let copied = crate::store::sqlite::backup::restore(&config.database_url, source).await?;
    println!(
        "done: restored {} ({} messages, newest id {}); the database it replaced is kept as *.before-restore",
        source.display(),
        copied.messages,
        copied.newest_message_id
    );
    Ok(0)
}

/// `server healthcheck`: asks `GET /readyz` of the server listening on `addr` (an unspecified
/// address means this machine); exit 0 for 200, 1 otherwise.
pub async fn healthcheck(mut addr: std::net::SocketAddr) -> i32 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    let asked = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
        let mut answer = Vec::new();
        stream.take(64 * 1024).read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), asked).await {
        Ok(Ok(answer)) if answer.starts_with(b"HTTP/1.1 200") => 0,
        Ok(Ok(answer)) => {
            let body = String::from_utf8_lossy(&answer);
            eprintln!("not ready: {}", body.lines().next().unwrap_or_default());
            1
        }
        Ok(Err(error)) => {
            eprintln!("not ready: {error}");
            1
        }
        Err(_) => {
            eprintln!("not ready: no answer within 5 s");
            1
        }
    }
}

/// `server admin classifier retrain`: fits, prints both models' figures on the decisions kept
/// aside, and switches when `yes` or `confirm()` says so. Exit code 1 when there are too few
/// decisions to learn from.
async fn retrain(
    store: &Store,
    threshold: f64,
    yes: bool,
    confirm: impl FnOnce() -> bool,
) -> Result<i32, Box<dyn std::error::Error>> {
    let found = match crate::moderation::retrain(store, threshold).await {
        Ok(found) => found,
        Err(crate::moderation::RetrainError::TooFew { total, abusive, fine }) => {
            eprintln!("{}", crate::moderation::RetrainError::TooFew { total, abusive, fine });
            return Ok(1);
        }
        Err(error) => return Err(error.into()),
    };
    println!(
        "fitted on {} review decisions; measured on {} kept aside, at threshold {threshold}:",
        found.fitted_on, found.held_out
    );
    println!("| model | precision | recall | F1 |\n|---|---|---|---|");
    for (name, e) in [("shipped", found.shipped), ("retrained", found.retrained)] {
        println!("| {name} | {:.3} | {:.3} | {:.3} |", e.precision(), e.recall(), e.f1());
    }
    if !yes {
        println!("Switch to the retrained classifier? [y/N]");
    }
    if yes || confirm() {
        crate::moderation::switch_classifier(store, &found.model).await?;
        println!("done: the retrained classifier is used from each node's next start");
    } else {
        println!("nothing changed");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_verbs_parse() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches!(parse(&args(&["admin", "unblock", "bob"])), Command::Unblock(n) if n == "bob"));
        assert!(matches!(parse(&args(&["admin", "promote", "bob"])), Command::Promote(n) if n == "bob"));
        assert!(matches!(parse(&args(&["admin", "unblock"])), Command::Help));
        assert!(matches!(parse(&args(&["admin", "frobnicate", "bob"])), Command::Help));
        assert!(USAGE.contains("server admin unblock USERNAME"));
        assert!(matches!(parse(&args(&["admin", "classifier", "retrain"])), Command::ClassifierRetrain { yes: false }));
        assert!(matches!(
            parse(&args(&["admin", "classifier", "retrain", "--yes"])),
            Command::ClassifierRetrain { yes: true }
        ));
        assert!(matches!(parse(&args(&["admin", "classifier", "reset"])), Command::ClassifierReset));
        assert!(matches!(parse(&args(&["admin", "classifier", "retrain", "-y"])), Command::Help));
        assert!(matches!(parse(&args(&["admin", "backup", "/tmp/b.db"])), Command::Backup(p) if p == "/tmp/b.db"));
        assert!(matches!(parse(&args(&["admin", "restore", "/tmp/b.db"])), Command::Restore(p) if p == "/tmp/b.db"));
        assert!(matches!(parse(&args(&["healthcheck"])), Command::Healthcheck));
        assert!(matches!(parse(&args(&["admin", "backup"])), Command::Help));
    }

    #[tokio::test]
    async fn unblock_command_unblocks_and_resets_warnings() {
        let dir = tempfile::tempdir().unwrap();
        unblock_command(format!("sqlite://{}", dir.path().join("t.db").display())).await;
    }

    #[tokio::test]
    async fn unblock_command_works_on_postgres_too() {
        unblock_command(tokio::task::spawn_blocking(|| testkit::postgres().fresh_database()).await.unwrap()).await;
    }

    async fn unblock_command(database_url: String) {
        let config = Config { database_url, sqlite_synchronous: "NORMAL".into(), ..Config::default() };
        let store = Store::open(&config.database_url, &StoreOptions::new(1, "NORMAL")).await.unwrap();
        store.create_user("root", "root@x.io", "h").await.unwrap();
        let bob = store.create_user("Bob", "bob@x.io", "h").await.unwrap();
        for _ in 0..3 {
            store.record_violation(bob.id, "word", "bad", None, 3, None).await.unwrap();
        }
        let blocked = store.user_by_id(bob.id).await.unwrap().unwrap();
        assert!(blocked.public.is_blocked);
        assert_eq!(blocked.public.warning_count, 3);

        assert_eq!(run_admin(Command::Unblock("bob".into()), &config).await.unwrap(), 0);
        let after = store.user_by_id(bob.id).await.unwrap().unwrap();
        assert!(!after.public.is_blocked);
        assert_eq!(after.public.warning_count, 0);
        assert_eq!(after.token_version, blocked.token_version, "tokens revoked by the block stay revoked");
        assert_eq!(run_admin(Command::Unblock("nobody".into()), &config).await.unwrap(), 1);
    }

    /// Review decisions of a server whose admins remove "potato" used as an insult: message `i`
    /// of `range` is `texts[i % len]`, reported, then removed or struck (abusive) or approved.
    async fn decide(store: &Store, texts: &[(&str, bool)], range: std::ops::Range<usize>) {
        let id = |name: &'static str| async move { store.user_by_username(name).await.unwrap().unwrap().public.id };
        let (admin, alice, bob) = (id("root").await, id("alice").await, id("bob").await);
        for i in range {
            let (text, abusive) = texts[i % texts.len()];
            let message = crate::store::NewMessage {
                sender_id: alice,
                username: "alice".into(),
                room_id: app::protocol::GENERAL_ROOM_ID,
                room: "general".into(),
                content: format!("{text} {i}"),
                client_id: None,
                ..Default::default()
            };
            let stored = store.insert_batch(&[message]).await.unwrap();
            let crate::store::Stored::New(message) = &stored.stored[0] else { panic!("stored") };
            let crate::store::Reported::Recorded { item } =
                store.report_message(message.id, bob, "", 1.0, 3.0).await.unwrap()
            else {
                panic!("reported")
            };
            let state = match (abusive, (i / 2) % 2) {
                (false, _) => "approved",
                (true, 0) => "removed",
                (true, _) => "struck",
            };
            assert_eq!(store.resolve_review(item, admin, state, "").await.unwrap(), Some(true));
        }
    }

    #[tokio::test]
    async fn retrain_learns_from_decisions_and_switches_only_when_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("t.db").display());
        let config = Config { database_url, sqlite_synchronous: "NORMAL".into(), ..Config::default() };
        let store = Store::open(&config.database_url, &StoreOptions::new(1, "NORMAL")).await.unwrap();
        for name in ["root", "alice", "bob"] {
            store.create_user(name, &format!("{name}@x.io"), "h").await.unwrap();
        }
        let texts = [
            ("you are such a potato", true),
            ("thanks, see you tomorrow", false),
            ("shut up, potato brain", true),
            ("nice game today", false),
        ];
        decide(&store, &texts, 0..12).await;
        assert_eq!(retrain(&store, 0.7, false, || panic!("nothing to confirm")).await.unwrap(), 1, "too few");
        decide(&store, &texts, 12..40).await;

        // Declined: nothing changes.
        assert_eq!(retrain(&store, 0.7, false, || false).await.unwrap(), 0);
        assert_eq!(store.setting(crate::moderation::CLASSIFIER_MODEL_SETTING).await.unwrap(), None);
        let shipped = crate::moderation::load_classifier(&store).await;
        assert!(shipped.score_message("you are a potato") < 0.7);

        // Confirmed: the next start uses it.
        let found = crate::moderation::retrain(&store, 0.7).await.unwrap();
        assert_eq!((found.fitted_on, found.held_out), (32, 8));
        assert!(found.retrained.f1() > found.shipped.f1(), "{:?} vs {:?}", found.retrained, found.shipped);
        assert_eq!(run_admin(Command::ClassifierRetrain { yes: true }, &config).await.unwrap(), 0);
        let used = crate::moderation::load_classifier(&store).await;
        assert!(used.score_message("you are a potato") > 0.7);
        assert!(used.score_message("you are an idiot") > 0.7, "it still knows what the shipped model knew");

        assert_eq!(run_admin(Command::ClassifierReset, &config).await.unwrap(), 0);
        assert!(crate::moderation::load_classifier(&store).await.score_message("you are a potato") < 0.7);
    }
}
