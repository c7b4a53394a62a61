//! Command line: `server` serves; `server admin promote NAME`, `server admin demote NAME` and
//! `server admin set-password NAME` (new password on stdin) and `server admin unblock NAME`
//! manage accounts offline.

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
    Help,
}

pub const USAGE: &str = "usage:
  server                              serve ChatterBox (LEPTOS_SITE_ADDR, default 127.0.0.1:3000)
  server admin promote USERNAME       make USERNAME an admin
  server admin demote USERNAME        remove USERNAME's admin role
  server admin set-password USERNAME  set USERNAME's password (read from stdin); revokes its tokens
  server admin unblock USERNAME       unblock USERNAME and reset its warnings (it logs in again)";

pub fn parse(args: &[String]) -> Command {
    match args {
        [] => Command::Serve,
        [a, verb, name] if a == "admin" => match verb.as_str() {
            "promote" => Command::Promote(name.clone()),
            "demote" => Command::Demote(name.clone()),
            "set-password" => Command::SetPassword(name.clone()),
            "unblock" => Command::Unblock(name.clone()),
            _ => Command::Help,
        },
        _ => Command::Help,
    }
}

/// Runs an admin command; returns the process exit code.
pub async fn run_admin(command: Command, config: &Config) -> Result<i32, Box<dyn std::error::Error>> {
    let store =
        Store::open(&config.database_url, &StoreOptions { read_pool_size: 1, ..config.store_options() }).await?;
    let (name, found) = match command {
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
        Command::Serve | Command::Help => return Ok(2),
    };
    if found {
        println!("done: {name}");
        Ok(0)
    } else {
        eprintln!("no user named {name}");
        Ok(1)
    }
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
            store.record_violation(bob.id, "word", "bad", None, 3).await.unwrap();
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
}
