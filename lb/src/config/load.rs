//! Reading a configuration file in any of the three formats, chosen by extension and, when
//! the extension says nothing, by content.
use std::path::Path;

use super::haproxy::{self, Diagnostic};
use super::model::Config;

/// The syntaxes a configuration can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
    Haproxy,
}

/// A parsed and validated configuration, with the haproxy.cfg lines that were ignored.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub format: Format,
    pub ignored: Vec<Diagnostic>,
}

impl Format {
    /// `.toml`, `.json` and `.cfg` decide; otherwise the content does.
    pub fn detect(path: &Path, text: &str) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Format::Toml,
            Some("json") => Format::Json,
            Some("cfg") => Format::Haproxy,
            _ => Format::sniff(text),
        }
    }

    /// JSON starts with `{`; haproxy.cfg's first directive is a section keyword without `=`.
    fn sniff(text: &str) -> Format {
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        let keyword = first.split_whitespace().next().unwrap_or("");
        if first.starts_with('{') {
            Format::Json
        } else if !first.contains('=')
            && ["global", "defaults", "frontend", "backend", "userlist"].contains(&keyword)
        {
            Format::Haproxy
        } else {
            Format::Toml
        }
    }
}

/// Parses `text` in `format` and validates it.
pub fn parse(text: &str, format: Format) -> anyhow::Result<Loaded> {
    let (config, ignored) = match format {
        Format::Toml => (toml::from_str(text)?, Vec::new()),
        Format::Json => (serde_json::from_str(text)?, Vec::new()),
        Format::Haproxy => {
            let imported = haproxy::parse(text)?;
            (imported.config, imported.ignored)
        }
    };
    config.validate()?;
    Ok(Loaded {
        config,
        format,
        ignored,
    })
}

/// Reads, parses and validates the file at `path`.
pub fn from_file(path: &Path) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    parse(&text, Format::detect(path, &text))
}
