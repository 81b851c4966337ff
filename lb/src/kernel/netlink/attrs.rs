//! Reading attributes: an iterator over one level, typed accessors for the payloads.
use super::align;

/// The attribute type without its flag bits (`NLA_TYPE_MASK`).
const TYPE_MASK: u16 = 0x3fff;

/// One attribute: its type and payload.
#[derive(Debug, Clone, Copy)]
pub struct Attr<'a> {
    pub kind: u16,
    pub value: &'a [u8],
}

/// The attributes of one level; stops at the first malformed one (the kernel never sends
/// one; a short payload is not worth a panic).
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub fn new(bytes: &'a [u8]) -> Attrs<'a> {
        Attrs { rest: bytes }
    }

    /// The first attribute of type `kind`.
    pub fn get(mut self, kind: u16) -> Option<Attr<'a>> {
        Iterator::find(&mut self, |a: &Attr<'a>| a.kind == kind)
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        if self.rest.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([self.rest[0], self.rest[1]]));
        let kind = u16::from_ne_bytes([self.rest[2], self.rest[3]]) & TYPE_MASK;
        if len < 4 || len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let value = &self.rest[4..len];
        self.rest = self.rest.get(align(len)..).unwrap_or(&[]);
        Some(Attr { kind, value })
    }
}

impl<'a> Attr<'a> {
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.value)
    }

    pub fn u8(&self) -> Option<u8> {
        self.value.first().copied()
    }

    pub fn u16(&self) -> Option<u16> {
        Some(u16::from_ne_bytes(self.value.get(..2)?.try_into().ok()?))
    }

    pub fn u32(&self) -> Option<u32> {
        Some(u32::from_ne_bytes(self.value.get(..4)?.try_into().ok()?))
    }

    pub fn u64(&self) -> Option<u64> {
        Some(u64::from_ne_bytes(self.value.get(..8)?.try_into().ok()?))
    }

    pub fn u16_be(&self) -> Option<u16> {
        Some(u16::from_be_bytes(self.value.get(..2)?.try_into().ok()?))
    }

    pub fn u32_be(&self) -> Option<u32> {
        Some(u32::from_be_bytes(self.value.get(..4)?.try_into().ok()?))
    }

    pub fn u64_be(&self) -> Option<u64> {
        Some(u64::from_be_bytes(self.value.get(..8)?.try_into().ok()?))
    }

    /// A string, without its terminating NUL.
    pub fn str(&self) -> Option<&'a str> {
        let bytes = self.value.split(|b| *b == 0).next()?;
        std::str::from_utf8(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_a_truncated_attribute() {
        // A valid u32 attribute, then one claiming 12 bytes with 6 left.
        let bytes = [8, 0, 1, 0, 1, 0, 0, 0, 12, 0, 2, 0, 0, 0];
        let kinds: Vec<u16> = Attrs::new(&bytes).map(|a| a.kind).collect();
        assert_eq!(kinds, [1]);
    }
}
