//! Repair of PEM text pasted through the vSphere UI, which turns newlines into
//! spaces. Each `-----BEGIN X-----` … `-----END X-----` block is rebuilt with
//! its base64 body stripped of all whitespace and wrapped at 64 columns.

/// A PEM block found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label between `BEGIN ` and the dashes (`CERTIFICATE`, `PRIVATE KEY`).
    pub label: String,
    /// The canonical PEM text of the block, newline-terminated.
    pub text: String,
}

/// Splits `input` into normalised PEM blocks. Text outside blocks is ignored;
/// a BEGIN without its matching END is an error naming the label.
pub fn blocks(input: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut rest = input;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let label_end = after
            .find("-----")
            .ok_or("a -----BEGIN line is not closed by five dashes")?;
        let label = after[..label_end].trim().to_string();
        let body_and_rest = &after[label_end + 5..];
        let footer = format!("-----END {label}-----");
        let body_end = body_and_rest
            .find(&footer)
            .ok_or_else(|| format!("-----BEGIN {label}----- has no matching {footer}"))?;
        let body: String = body_and_rest[..body_end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let mut text = format!("-----BEGIN {label}-----\n");
        for line in body.as_bytes().chunks(64) {
            text.push_str(std::str::from_utf8(line).expect("ASCII chunks of a char-filtered body"));
            text.push('\n');
        }
        text.push_str(&footer);
        text.push('\n');
        out.push(Block { label, text });
        rest = &body_and_rest[body_end + footer.len()..];
    }
    Ok(out)
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
}
