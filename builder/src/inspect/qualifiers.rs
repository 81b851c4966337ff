//! The `ovf:qualifiers` of a property (DSP0243 9.5: `MinLen(n)`, `MaxLen(n)`,
//! `MinValue(n)`, `MaxValue(n)`, `ValueMap{"a","b",…}`) read back from the
//! descriptor text and applied to a value with its `ovf:type`, as the vSphere
//! Client does before it deploys. Parsed here from the XML rather than taken
//! from the appliance definition, so a descriptor is checked for what it
//! says, whoever wrote it.

use anyhow::{bail, Context, Result};

/// One qualifier.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Qualifier {
    MinLen(u64),
    MaxLen(u64),
    MinValue(i64),
    MaxValue(i64),
    ValueMap(Vec<String>),
}

/// Checks `value` against the property's `ovf:type` (`kind`) and its
/// qualifiers. `Err` says why the value would be refused, or that the
/// qualifiers themselves cannot be read.
pub fn check(kind: &str, qualifiers: Option<&str>, value: &str) -> Result<()> {
    match kind {
        "boolean"
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") =>
        {
            bail!("{value:?} is not a boolean")
        }
        "int" | "uint8" | "uint16" | "uint32" | "uint64" | "sint8" | "sint16" | "sint32"
        | "sint64" => {
            value
                .parse::<i64>()
                .with_context(|| format!("{value:?} is not an integer"))?;
        }
        _ => {}
    }
    for q in parse(qualifiers.unwrap_or_default())? {
        let len = value.chars().count() as u64;
        let number = || value.parse::<i64>().ok();
        match q {
            Qualifier::MinLen(min) if len < min => {
                bail!("{value:?} is {len} characters long, MinLen({min}) refuses it")
            }
            Qualifier::MaxLen(max) if len > max => {
                bail!("{value:?} is {len} characters long, MaxLen({max}) refuses it")
            }
            Qualifier::MinValue(min) if number().is_none_or(|n| n < min) => {
                bail!("{value:?} is below MinValue({min})")
            }
            Qualifier::MaxValue(max) if number().is_none_or(|n| n > max) => {
                bail!("{value:?} is above MaxValue({max})")
            }
            Qualifier::ValueMap(values) if !values.iter().any(|v| v == value) => {
                bail!("{value:?} is not in ValueMap{values:?}")
            }
            _ => {}
        }
    }
    Ok(())
}

/// Splits `MinLen(0),MaxLen(10),ValueMap{"a","b"}` at the commas between
/// qualifiers (not those inside a ValueMap).
fn parse(text: &str) -> Result<Vec<Qualifier>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (item, after) = match rest.find(['(', '{']) {
            Some(i) => {
                let close = if rest.as_bytes()[i] == b'(' { ')' } else { '}' };
                let end = closing(rest, i, close)
                    .with_context(|| format!("qualifier {rest:?} is not closed"))?;
                rest.split_at(end + 1)
            }
            None => bail!("qualifier {rest:?} has no argument"),
        };
        out.push(one(item.trim())?);
        rest = after.trim_start();
        rest = match rest.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if rest.is_empty() => rest,
            None => bail!("expected a comma before {rest:?}"),
        };
    }
    Ok(out)
}

/// The index of the `close` that ends the argument opened at `open`, outside quotes.
fn closing(text: &str, open: usize, close: char) -> Option<usize> {
    let mut quoted = false;
    text[open + 1..]
        .char_indices()
        .find(|&(_, c)| {
            if c == '"' {
                quoted = !quoted;
            }
            !quoted && c == close
        })
        .map(|(i, _)| open + 1 + i)
}

/// `"a,b", "c"` → `a,b` and `c` (a comma inside quotes is part of the value).
fn quoted_list(text: &str) -> Option<Vec<String>> {
    let mut values = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let body = rest.strip_prefix('"')?;
        let end = body.find('"')?;
        values.push(body[..end].to_string());
        rest = body[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return None;
            }
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(values)
}

fn one(item: &str) -> Result<Qualifier> {
    let number = |arg: &str| -> Result<i64> {
        arg.trim()
            .parse()
            .with_context(|| format!("{item:?}: {arg:?} is not a number"))
    };
    if let Some(values) = item
        .strip_prefix("ValueMap{")
        .and_then(|r| r.strip_suffix('}'))
    {
        return Ok(Qualifier::ValueMap(quoted_list(values).with_context(
            || format!("{item:?}: expected comma-separated quoted values"),
        )?));
    }
    let Some((name, arg)) = item.strip_suffix(')').and_then(|r| r.split_once('(')) else {
        bail!("{item:?} is not a qualifier");
    };
    let length = |arg: &str| -> Result<u64> {
        u64::try_from(number(arg)?).with_context(|| format!("{item:?}: a negative length"))
    };
    Ok(match name.trim() {
        "MinLen" => Qualifier::MinLen(length(arg)?),
        "MaxLen" => Qualifier::MaxLen(length(arg)?),
        "MinValue" => Qualifier::MinValue(number(arg)?),
        "MaxValue" => Qualifier::MaxValue(number(arg)?),
        other => bail!("{item:?}: unknown qualifier {other} (this checker knows MinLen, MaxLen, MinValue, MaxValue and ValueMap)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_and_include_the_blank_value() {
        let q = Some("MinLen(6),MaxLen(128)");
        assert!(check("string", q, "secret").is_ok());
        let e = check("string", q, "").unwrap_err().to_string();
        assert!(e.contains("MinLen(6) refuses"), "{e}");
        assert!(check("string", q, &"é".repeat(128)).is_ok());
        assert!(check("string", q, &"x".repeat(129)).is_err());
        assert!(check("string", Some("MinLen(0),MaxLen(65535)"), "").is_ok());
        assert!(check("string", None, "").is_ok());
    }

    #[test]
    fn numbers_and_booleans_follow_the_type() {
        let q = Some("MinValue(1),MaxValue(65535)");
        assert!(check("int", q, "5556").is_ok());
        assert!(check("int", q, "0").is_err());
        assert!(check("int", q, "65536").is_err());
        assert!(check("int", None, "").is_err(), "a blank int is no integer");
        assert!(check("boolean", None, "True").is_ok());
        assert!(check("boolean", None, "yes").is_err());
    }

    #[test]
    fn value_maps_keep_their_commas() {
        let q = Some("MaxLen(10), ValueMap{\"a,b\",\"c\"}");
        assert!(check("string", q, "a,b").is_ok());
        assert!(check("string", q, "c").is_ok());
        let e = check("string", q, "a").unwrap_err().to_string();
        assert!(e.contains("not in ValueMap"), "{e}");
    }

    #[test]
    fn unreadable_qualifiers_fail_instead_of_passing() {
        for bad in [
            "Pattern(x)",
            "MinLen(6",
            "MinLen(-1)",
            "MinLen(6) MaxLen(7)",
            "ValueMap{a,b}",
            "ValueMap{\"a\",}",
        ] {
            assert!(check("string", Some(bad), "value").is_err(), "{bad}");
        }
    }
}
