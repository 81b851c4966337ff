//! A minimal indenting XML writer. The OVF is generated, never parsed back
//! here, so a writer that escapes correctly and emits attributes in the order
//! given (deterministic output) is all that is needed. Unlike quick-xml's
//! escaping it also encodes newlines and tabs in attribute values, which XML
//! parsers would otherwise normalise to spaces.

use std::fmt::Write;

pub(super) type Attrs<'a> = [(&'a str, &'a str)];

pub(super) struct Xml {
    out: String,
    open: Vec<String>,
}

impl Xml {
    pub fn new() -> Xml {
        Xml {
            out: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".into(),
            open: Vec::new(),
        }
    }

    /// `<name attrs>` on its own line; children follow until [`Xml::close`].
    pub fn open(&mut self, name: &str, attrs: &Attrs) {
        self.start(name, attrs);
        self.out.push_str(">\n");
        self.open.push(name.to_string());
    }

    pub fn close(&mut self) {
        let name = self.open.pop().expect("close matches an open");
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
    }

    /// `<name attrs>text</name>`.
    pub fn text(&mut self, name: &str, attrs: &Attrs, text: &str) {
        self.start(name, attrs);
        let _ = writeln!(self.out, ">{}</{name}>", escape(text, false));
    }

    /// `<name attrs/>`.
    pub fn empty(&mut self, name: &str, attrs: &Attrs) {
        self.start(name, attrs);
        self.out.push_str("/>\n");
    }

    pub fn finish(self) -> String {
        assert!(self.open.is_empty(), "unclosed elements {:?}", self.open);
        self.out
    }

    fn start(&mut self, name: &str, attrs: &Attrs) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            let _ = write!(self.out, " {key}=\"{}\"", escape(value, true));
        }
    }

    fn indent(&mut self) {
        self.out.extend(std::iter::repeat_n("  ", self.open.len()));
    }
}

/// Escapes text content, or an attribute value when `attribute` is set.
pub(super) fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}
