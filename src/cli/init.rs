//! `cutover init`: scaffold a workspace.

use super::Failure;
use super::commands::{Cx, Result};
use anyhow::Context;
use std::path::Path;
use std::path::PathBuf;

/// Scaffold a workspace: cutover.yaml, the wave plan and catalog, a legacy/ folder.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to create (default: the workspace, -C).
    pub dir: Option<PathBuf>,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { dir } = self;
        init(dir.as_deref().unwrap_or(&cx.root))
    }
}

fn init(dir: &Path) -> Result<u8> {
    let cfg = dir.join(crate::workspace::CONFIG_FILE);
    if cfg.exists() {
        return Err(Failure::input(anyhow::anyhow!("{} exists already; nothing changed", cfg.display())));
    }
    write_plan(dir).map_err(Failure::operational)?;
    std::fs::create_dir_all(dir.join("legacy")).map_err(|e| Failure::operational(anyhow::anyhow!(e)))?;
    // The notice templates, for the team to edit without a rebuild.
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).map_err(|e| Failure::operational(anyhow::anyhow!(e)))?;
    for (name, text) in crate::notify::render::BUILTIN {
        let p = templates.join(name);
        if !p.exists() {
            std::fs::write(&p, text).map_err(|e| Failure::operational(anyhow::anyhow!("{}: {e}", p.display())))?;
        }
    }
    let source = crate::workspace::SourceConfig::Csv { path: "legacy/".into() };
    std::fs::write(&cfg, crate::workspace::template_config(&source))
        .map_err(|e| Failure::operational(anyhow::anyhow!(e)))?;
    println!(
        "workspace ready in {}: put accounts.csv, services.csv, usage.csv and legacy_invoice_lines.csv in legacy/, \
         edit the notice in templates/, then `cutover plan check` and `cutover run --wave ID`",
        dir.display()
    );
    Ok(0)
}

pub(super) fn write_plan(dir: &Path) -> anyhow::Result<()> {
    let waves = dir.join("waves");
    std::fs::create_dir_all(&waves).with_context(|| format!("creating {}", waves.display()))?;
    for (name, text) in crate::demo::PLAN_FILES {
        let p = waves.join(name);
        if !p.exists() {
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    Ok(())
}
