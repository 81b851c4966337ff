//! Splits haproxy.cfg lines into words: `#` starts a comment, double quotes group words and
//! a backslash escapes the next character, as HAProxy's own tokenizer does.

/// The words of one line, comments removed.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                    in_word = true;
                }
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '#' if !quoted => break,
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

/// The `N` of a `# _version=N` comment line.
pub fn version_comment(line: &str) -> Option<u64> {
    let rest = line.trim().strip_prefix('#')?.trim();
    let value = rest.strip_prefix("_version")?.trim().strip_prefix('=')?;
    value.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quotes_comments_escapes() {
        assert_eq!(words("  bind 1.2.3.4:80 # c"), ["bind", "1.2.3.4:80"]);
        assert_eq!(
            words(r#"command a "b c" d\ e"#),
            ["command", "a", "b c", "d e"]
        );
        assert!(words("# only").is_empty());
    }

    #[test]
    fn version_line() {
        assert_eq!(version_comment("# _version=42"), Some(42));
        assert_eq!(version_comment("#_version = 7"), Some(7));
        assert_eq!(version_comment("# version=7"), None);
    }
}
