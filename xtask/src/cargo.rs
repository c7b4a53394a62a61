//! The two cargo builds of `cargo leptos build`, with its arguments and environment: the lib
//! package for `wasm32-unknown-unknown` into `<target>/front`, then the server binary.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::project::{Mode, Project};

/// The cargo that runs this tool (`cargo xtask` sets `CARGO`), else the one on PATH.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(mut command: Command, what: &str, project: &Project) -> Result<()> {
    command.envs(project.build_env(std::env::var("RUSTFLAGS").ok().as_deref()));
    eprintln!("[xtask] {what}: {command:?}");
    let status = command.status().with_context(|| format!("could not start cargo for {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The arguments of the WASM build.
pub fn front_args(project: &Project) -> Vec<String> {
    let meta = &project.meta;
    let mut args = vec![
        "build".to_string(),
        format!("--package={}", meta.lib_package),
        "--lib".into(),
        format!("--target-dir={}", project.front_target_dir().display()),
        "--target=wasm32-unknown-unknown".into(),
    ];
    if !meta.lib_default_features {
        args.push("--no-default-features".into());
    }
    match (project.mode, project.lib_profile()) {
        (Mode::Debug, _) => {}
        (Mode::Release, None) => args.push("--release".into()),
        (Mode::Release, Some(named)) => args.push(format!("--profile={named}")),
    }
    args
}

/// The arguments of the server build.
pub fn server_args(project: &Project) -> Vec<String> {
    let meta = &project.meta;
    let mut args =
        vec!["build".to_string(), format!("--package={}", meta.bin_package), format!("--bin={}", meta.bin_package)];
    if !meta.bin_default_features {
        args.push("--no-default-features".into());
    }
    if project.mode == Mode::Release {
        args.push("--release".into());
    }
    args
}

pub fn build_front(project: &Project) -> Result<()> {
    let mut command = cargo();
    command.args(front_args(project));
    run(command, "the WASM build", project)
}

pub fn build_server(project: &Project) -> Result<()> {
    let mut command = cargo();
    command.args(server_args(project));
    run(command, "the server build", project)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::project::Metadata;

    fn project(mode: Mode) -> Project {
        let meta = Metadata::parse(
            "[[workspace.metadata.leptos]]\nname = \"chatterbox\"\nbin-package = \"server\"\n\
             lib-package = \"frontend\"\nlib-profile-release = \"wasm-release\"\n\
             bin-default-features = false\nlib-default-features = false\n",
        )
        .unwrap();
        Project::new(meta, mode, None, PathBuf::from("target"))
    }

    #[test]
    fn the_builds_are_the_ones_cargo_leptos_runs() {
        assert_eq!(
            front_args(&project(Mode::Release)),
            [
                "build",
                "--package=frontend",
                "--lib",
                "--target-dir=target/front",
                "--target=wasm32-unknown-unknown",
                "--no-default-features",
                "--profile=wasm-release"
            ]
        );
        assert_eq!(front_args(&project(Mode::Debug)).last().unwrap(), "--no-default-features");
        assert_eq!(
            server_args(&project(Mode::Release)),
            ["build", "--package=server", "--bin=server", "--no-default-features", "--release"]
        );
        assert_eq!(server_args(&project(Mode::Debug)).last().unwrap(), "--no-default-features");
    }
}
