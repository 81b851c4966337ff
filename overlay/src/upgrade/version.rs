//! Appliance versions are dotted numbers (`0.1.0`, `1.12`): compared number
//! by number, missing parts read as 0, so `0.10` is newer than `0.9`.

use std::cmp::Ordering;

/// Compares two versions; an error names the one that is not dotted numbers.
pub fn compare(a: &str, b: &str) -> Result<Ordering, String> {
    let (a, b) = (parts(a)?, parts(b)?);
    let len = a.len().max(b.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    Ok((0..len)
        .map(|i| at(&a, i).cmp(&at(&b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal))
}

fn parts(v: &str) -> Result<Vec<u64>, String> {
    v.split('.')
        .map(|p| {
            p.parse::<u64>()
                .ok()
                .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(|| format!("version {v:?} is not dotted numbers (like 0.2.0)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_not_text() {
        assert_eq!(compare("0.10.0", "0.9.1"), Ok(Ordering::Greater));
        assert_eq!(compare("0.1", "0.1.0"), Ok(Ordering::Equal));
        assert_eq!(compare("1.0.0", "1.0.1"), Ok(Ordering::Less));
        assert!(compare("0.1.0-rc1", "0.1.0")
            .unwrap_err()
            .contains("0.1.0-rc1"));
        assert!(compare("0..1", "0.1").is_err());
        assert!(compare("", "0.1").is_err());
        assert!(compare("+1", "1").is_err());
    }
}
