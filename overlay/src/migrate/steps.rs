//! The migration steps, in order: [`STEPS`]`[i]` converts format `i + 1` into `i + 2`, so
//! this version's format is `STEPS.len() + 1`. A released step never changes: appliances
//! in the field are in every format it ever produced. A new format adds a step at the end.
use anyhow::Result;

/// What a step made of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Converted {
    /// The file's new contents.
    Into(Vec<u8>),
    /// Already in the new format (a migration interrupted after this file, run again).
    AsIs,
    /// Not a file the step can read (damaged, hand-edited): left as it is, for the reason
    /// given; the step's format does not depend on it being converted.
    Unreadable(String),
}

/// One step from a format to the next, one file at a time: the framework reads, snapshots
/// and replaces the files, so a step is a pure function of a file's bytes.
pub trait Step: Sync {
    /// The files it may change, relative to the data partition (`lb/lb-config.json`).
    fn touches(&self) -> &'static [&'static str];
    /// `file`'s (one of [`Step::touches`]) new contents, from its `bytes`. It must accept
    /// its own output ([`Converted::AsIs`]): a migration interrupted by a power cut runs
    /// again over the files it had already converted.
    fn convert(&self, file: &str, bytes: &[u8]) -> Result<Converted>;
}

/// Every step, from format 1.
pub const STEPS: &[&dyn Step] = &[&LbConfigFormat];

/// Format 1 → 2: lb's committed configuration names its format (`"format": 2`, the first
/// field, as `lb::persist::encode` writes it), so that a newer lb can tell an older file
/// and a pair's appliances can tell a format difference from diverged configurations.
pub struct LbConfigFormat;

impl Step for LbConfigFormat {
    fn touches(&self) -> &'static [&'static str] {
        &["lb/lb-config.json", "lb/lb-config.json.last-good"]
    }

    fn convert(&self, _file: &str, bytes: &[u8]) -> Result<Converted> {
        let fields = match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(serde_json::Value::Object(fields)) => fields,
            Ok(_) => return Ok(Converted::Unreadable("not a JSON object".into())),
            Err(e) => return Ok(Converted::Unreadable(format!("not JSON ({e})"))),
        };
        match fields.get("format") {
            None => {}
            Some(f) if f == 2 => return Ok(Converted::AsIs),
            Some(f) => return Ok(Converted::Unreadable(format!("\"format\": {f} already"))),
        }
        // The bytes as they are, the field added after the opening brace: what format 2's
        // lb writes for what format 1's lb wrote, and any other text stays as it was.
        let text = std::str::from_utf8(bytes)?;
        let brace = text.find('{').expect("a JSON object has a brace");
        let (head, rest) = text.split_at(brace + 1);
        let separator = if fields.is_empty() { "" } else { "," };
        Ok(Converted::Into(
            format!("{head}\n  \"format\": 2{separator}{rest}").into_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(text: &str) -> Converted {
        LbConfigFormat
            .convert("lb/lb-config.json", text.as_bytes())
            .unwrap()
    }

    #[test]
    fn the_field_goes_first_and_a_converted_file_is_left_as_it_is() {
        let Converted::Into(new) = convert("{\n  \"version\": 3\n}") else {
            panic!()
        };
        let new = String::from_utf8(new).unwrap();
        assert_eq!(new, "{\n  \"format\": 2,\n  \"version\": 3\n}");
        assert_eq!(convert(&new), Converted::AsIs);
        let Converted::Into(empty) = convert(" {}") else {
            panic!()
        };
        let empty: serde_json::Value = serde_json::from_slice(&empty).unwrap();
        assert_eq!(empty, serde_json::json!({"format": 2}));
    }

    #[test]
    fn what_is_no_configuration_is_left_alone() {
        for (text, why) in [
            ("{\"version\": 3", "not JSON"),
            ("[]", "not a JSON object"),
            ("{\"format\": 3}", "\"format\": 3 already"),
        ] {
            match convert(text) {
                Converted::Unreadable(reason) => assert!(reason.contains(why), "{reason}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
