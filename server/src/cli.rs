//! Command line: `server` serves; `server admin promote NAME`, `server admin demote NAME` and
//! `server admin set-password NAME` (new password on stdin) manage accounts offline.

use crate::auth::PasswordHasher;
use crate::config::Config;
use crate::store::Store;
use app::domain::Password;

pub enum Command {
    Serve,
    Promote(String),
    Demote(String),
    SetPassword(String),
    Help,
}

pub const USAGE: &str = "usage:
  server                              serve ChatterBox (LEPTOS_SITE_ADDR, default 127.0.0.1:3000)
  server admin promote USERNAME       make USERNAME an admin
  server admin demote USERNAME        remove USERNAME's admin role
  server admin set-password USERNAME  set USERNAME's password (read from stdin); revokes its tokens";

pub fn parse(args: &[String]) -> Command {
    match args {
        [] => Command::Serve,
        [a, verb, name] if a == "admin" => match verb.as_str() {
            "promote" => Command::Promote(name.clone()),
            "demote" => Command::Demote(name.clone()),
            "set-password" => Command::SetPassword(name.clone()),
            _ => Command::Help,
        },
        _ => Command::Help,
    }
}

/// Runs an admin command; returns the process exit code.
pub async fn run_admin(command: Command, config: &Config) -> Result<i32, Box<dyn std::error::Error>> {
    let store = Store::open(&config.database_url, 1, &config.sqlite_synchronous).await?;
    let (name, found) = match command {
        Command::Promote(name) => {
            let found = store.set_admin(&name, true).await?;
            (name, found)
        }
        Command::Demote(name) => {
            let found = store.set_admin(&name, false).await?;
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
