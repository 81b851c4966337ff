//! Repair of PEM text pasted through the vSphere UI, which turns newlines into
//! spaces. Each `-----BEGIN X-----` … `-----END X-----` block is rebuilt with
//! its base64 body stripped of all whitespace and wrapped at 64 columns.
//!
//! The body is checked to be base64 before it is wrapped: a pasted value can
//! carry any character (a typographic quote, a non-breaking hyphen), and the
//! admin must be told which one instead of getting an unparsable block.

/// A PEM block found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label between `BEGIN ` and the dashes (`CERTIFICATE`, `PRIVATE KEY`).
    pub label: String,
    /// The canonical PEM text of the block, newline-terminated.
    pub text: String,
}

/// Splits `input` into normalised PEM blocks. Text outside blocks is ignored;
/// a BEGIN without its matching END, or a body with a character that base64
/// does not use, is an error naming the label (and the character).
pub fn blocks(input: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut rest = input;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let label_end = after
            .find("-----")
            .ok_or("a -----BEGIN line is not closed by five dashes")?;
        let label = after[..label_end].trim().to_string();
        if !is_label(&label) {
            // Not echoed: with a damaged header, this "label" is the key itself.
            return Err("a -----BEGIN line has no valid label (such as CERTIFICATE or PRIVATE KEY) before its closing five dashes".into());
        }
        let body_and_rest = &after[label_end + 5..];
        let footer = format!("-----END {label}-----");
        let body_end = body_and_rest
            .find(&footer)
            .ok_or_else(|| format!("-----BEGIN {label}----- has no matching {footer}"))?;
        let body: String = body_and_rest[..body_end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Some(c) = body.chars().find(|c| !is_base64(*c)) {
            return Err(format!(
                "the {label} block contains {c:?} (U+{:04X}), which is not part of PEM's base64 text (was it changed while copying?)",
                u32::from(c)
            ));
        }
        let mut text = format!("-----BEGIN {label}-----\n");
        // Only ASCII is left, so every 64-byte chunk is whole characters.
        for line in body.as_bytes().chunks(64) {
            text.extend(line.iter().map(|b| char::from(*b)));
            text.push('\n');
        }
        text.push_str(&footer);
        text.push('\n');
        out.push(Block { label, text });
        rest = &body_and_rest[body_end + footer.len()..];
    }
    Ok(out)
}

/// A label as RFC 7468 writes them (`CERTIFICATE`, `RSA PRIVATE KEY`): short,
/// ASCII letters and digits with single inner spaces or hyphens.
fn is_label(label: &str) -> bool {
    label.len() <= 64
        && label
            .split([' ', '-'])
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The characters of a base64 body (RFC 7468 section 3: standard alphabet and padding).
fn is_base64(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "MIIBszCCAVmgAwIBAgIUQ1Vf0iGmVwW1c3k8Ywq0n8i9lG0wCgYIKoZIzj0EAwIwLzEtMCsGA1UEAwwkTEIgQXBwbGlhbmNl";

    #[test]
    fn spaces_instead_of_newlines_are_repaired() {
        let pasted = format!(
            "-----BEGIN CERTIFICATE----- {} {} -----END CERTIFICATE-----",
            &BODY[..40],
            &BODY[40..]
        );
        let b = blocks(&pasted).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].label, "CERTIFICATE");
        assert_eq!(
            b[0].text,
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n{}\n-----END CERTIFICATE-----\n",
                &BODY[..64],
                &BODY[64..]
            )
        );
    }

    #[test]
    fn well_formed_pem_is_unchanged_and_labels_with_spaces_survive() {
        let good =
            format!("-----BEGIN RSA PRIVATE KEY-----\n{BODY}\n-----END RSA PRIVATE KEY-----\n");
        let b = blocks(&good).unwrap();
        assert_eq!(b[0].label, "RSA PRIVATE KEY");
        assert_eq!(blocks(&b[0].text).unwrap(), b);
    }

    #[test]
    fn missing_end_is_an_error() {
        let e = blocks("-----BEGIN CERTIFICATE----- abc").unwrap_err();
        assert!(e.contains("no matching -----END CERTIFICATE-----"), "{e}");
    }

    #[test]
    fn a_non_ascii_character_is_named_not_split() {
        // `é` straddles the 64-byte line boundary, which once panicked the agent.
        let pasted = format!(
            "-----BEGIN CERTIFICATE-----\n{}é{}\n-----END CERTIFICATE-----\n",
            &BODY[..63],
            &BODY[63..]
        );
        let e = blocks(&pasted).unwrap_err();
        assert!(
            e.contains("'é' (U+00E9)") && e.contains("CERTIFICATE"),
            "{e}"
        );
    }

    #[test]
    fn a_damaged_header_is_not_echoed() {
        // The text up to the next five dashes is the whole body: a secret for keys.
        let pasted = format!("-----BEGIN PRIVATE KEY---é- {BODY} -----END PRIVATE KEY-----");
        let e = blocks(&pasted).unwrap_err();
        assert!(
            !e.contains(&BODY[..16]) && e.contains("no valid label"),
            "{e}"
        );
    }
}
