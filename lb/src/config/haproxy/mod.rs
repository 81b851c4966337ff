//! The haproxy.cfg subset, both ways: [`parse`] imports a file the Data Plane API (or a
//! human) wrote, [`render`] writes the canonical form the Data Plane API would produce, so
//! that `parse(render(parse(x)))` equals `parse(x)`.
mod duration;
mod lexer;
mod parse;
mod render;

pub use duration::{format_ms, parse_ms};
pub use parse::parse;
pub use render::render;

use std::fmt;

use super::model::Config;

/// A line the importer rejected or ignored, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line number in the input.
    pub line: usize,
    pub text: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: '{}'", self.line, self.message, self.text)
    }
}

/// A successful import: the model plus every line that was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub config: Config,
    pub ignored: Vec<Diagnostic>,
}

/// An import that found lines it cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub rejected: Vec<Diagnostic>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.rejected.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}
