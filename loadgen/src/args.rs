//! A small command-line parser: `loadgen COMMAND [--name value | --name=value]...`. Each command
//! reads the options it knows with defaults; `finish` then refuses any option nobody read, so a
//! typo fails loudly instead of silently running with a default.

use anyhow::{bail, Context, Result};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

pub struct Args {
    pub command: String,
    pub help: bool,
    values: BTreeMap<String, String>,
    read: RefCell<BTreeSet<String>>,
}

impl Args {
    pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut argv = argv.into_iter();
        let mut command = String::new();
        let mut help = false;
        let mut values = BTreeMap::new();
        while let Some(arg) = argv.next() {
            if arg == "--help" || arg == "-h" || arg == "help" {
                help = true;
            } else if let Some(name) = arg.strip_prefix("--") {
                let (name, value) = match name.split_once('=') {
                    Some((name, value)) => (name.to_string(), value.to_string()),
                    None => (name.to_string(), argv.next().with_context(|| format!("--{name} needs a value"))?),
                };
                values.insert(name, value);
            } else if command.is_empty() {
                command = arg;
            } else {
                bail!("unexpected argument {arg:?}");
            }
        }
        Ok(Self { command, help, values, read: RefCell::default() })
    }

    /// The value of `--name`, or `default`.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T> {
        Ok(self.opt(name)?.unwrap_or(default))
    }

    /// The value of `--name`, if given.
    pub fn opt<T: FromStr>(&self, name: &str) -> Result<Option<T>> {
        self.read.borrow_mut().insert(name.to_string());
        match self.values.get(name) {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| anyhow::anyhow!("invalid value for --{name}: {text:?}")),
        }
    }

    /// Fails on options no command read.
    pub fn finish(&self) -> Result<()> {
        let read = self.read.borrow();
        let unknown: Vec<&String> = self.values.keys().filter(|k| !read.contains(*k)).collect();
        if !unknown.is_empty() {
            bail!("unknown option(s) for {}: {unknown:?} (see --help)", self.command);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::parse(list.iter().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn options_and_defaults() {
        let a = args(&["fanout", "--listeners", "10", "--rate=2.5"]);
        assert_eq!(a.command, "fanout");
        assert_eq!(a.get("listeners", 1usize).unwrap(), 10);
        assert_eq!(a.get("rate", 1.0f64).unwrap(), 2.5);
        assert_eq!(a.get("senders", 4usize).unwrap(), 4);
        a.finish().unwrap();
        let b = args(&["idle", "--typo", "1"]);
        assert!(b.finish().is_err());
        assert!(args(&["idle", "--connections", "x"]).get("connections", 1usize).is_err());
    }
}
