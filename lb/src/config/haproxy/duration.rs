//! HAProxy time values (`10s`, `5m`, `250`…): parsed to ms, written back in the largest
//! exact unit so that the seed's `timeout connect 9s` survives an export unchanged.

const UNITS: [(&str, u64); 6] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
    ("us", 0),
];

/// Parses a time value; a bare number is milliseconds, as in HAProxy.
pub fn parse_ms(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits.parse().ok()?;
    if unit.is_empty() {
        return Some(value);
    }
    let (_, scale) = UNITS.iter().find(|(u, _)| *u == unit)?;
    if *scale == 0 {
        // Microseconds round up to a whole millisecond.
        return Some(value.div_ceil(1000));
    }
    value.checked_mul(*scale)
}

/// Writes ms in the largest unit that divides them exactly.
pub fn format_ms(ms: u64) -> String {
    if ms == 0 {
        return "0".into();
    }
    UNITS
        .iter()
        .filter(|(_, scale)| *scale >= 1000)
        .find(|(_, scale)| ms.is_multiple_of(*scale))
        .map(|(unit, scale)| format!("{}{unit}", ms / scale))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_ms("9s"), Some(9_000));
        assert_eq!(parse_ms("5m"), Some(300_000));
        assert_eq!(parse_ms("1h"), Some(3_600_000));
        assert_eq!(parse_ms("250"), Some(250));
        assert_eq!(parse_ms("250ms"), Some(250));
        assert_eq!(parse_ms("1500us"), Some(2));
        assert_eq!(parse_ms("10x"), None);
        assert_eq!(parse_ms("s"), None);
    }

    #[test]
    fn round_trip() {
        for ms in [
            0, 1, 250, 1_000, 9_000, 90_000, 300_000, 3_600_000, 86_400_000, 1_500,
        ] {
            assert_eq!(parse_ms(&format_ms(ms)), Some(ms));
        }
        assert_eq!(format_ms(300_000), "5m");
        assert_eq!(format_ms(1_500), "1500");
    }
}
