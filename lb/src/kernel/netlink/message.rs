//! Building one netlink message: header, family header, attributes (nested ones too).
use super::{align, HEADER_LEN};

/// `NLA_F_NESTED`: set on attributes that hold attributes (nftables insists on it).
const NLA_F_NESTED: u16 = 0x8000;

/// One request under construction. The length, sequence number and port id are filled in
/// by [`super::Socket`] when it is sent.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Vec<u8>,
    /// Offsets of the nests still open.
    open: Vec<usize>,
}

impl Message {
    /// A message of type `kind` with `flags`, its family header `family_header`.
    pub fn new(kind: u16, flags: u16, family_header: &[u8]) -> Message {
        let mut buf = vec![0u8; HEADER_LEN];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(family_header);
        buf.resize(align(buf.len()), 0);
        Message {
            buf,
            open: Vec::new(),
        }
    }

    /// The message type.
    pub fn kind(&self) -> u16 {
        u16::from_ne_bytes([self.buf[4], self.buf[5]])
    }

    /// The header flags (`NLM_F_*`).
    pub fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.buf[6], self.buf[7]])
    }

    /// The bytes after the netlink header (family header, then attributes): what a
    /// family's encoder is tested against, and the shape of a [`super::Reply`]'s payload,
    /// so that decoders can be tested on messages built here.
    pub fn payload(&self) -> &[u8] {
        &self.buf[HEADER_LEN..]
    }

    /// Adds an attribute holding `value`.
    pub fn attr(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        let len = 4 + value.len();
        self.buf
            .extend_from_slice(&u16::try_from(len).expect("attribute fits").to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    pub fn u8(&mut self, kind: u16, value: u8) -> &mut Self {
        self.attr(kind, &[value])
    }

    pub fn u16(&mut self, kind: u16, value: u16) -> &mut Self {
        self.attr(kind, &value.to_ne_bytes())
    }

    pub fn u32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// Network byte order, as nfnetlink's integers and IPVS's ports are.
    pub fn u16_be(&mut self, kind: u16, value: u16) -> &mut Self {
        self.attr(kind, &value.to_be_bytes())
    }

    pub fn u32_be(&mut self, kind: u16, value: u32) -> &mut Self {
        self.attr(kind, &value.to_be_bytes())
    }

    pub fn u64_be(&mut self, kind: u16, value: u64) -> &mut Self {
        self.attr(kind, &value.to_be_bytes())
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, kind: u16, value: &str) -> &mut Self {
        let mut bytes = Vec::with_capacity(value.len() + 1);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
        self.attr(kind, &bytes)
    }

    /// Opens a nested attribute; attributes up to the matching [`Message::end`] go in it.
    pub fn nest(&mut self, kind: u16) -> &mut Self {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    /// Closes the innermost open nest.
    pub fn end(&mut self) -> &mut Self {
        let start = self.open.pop().expect("a nest is open");
        let len = u16::try_from(self.buf.len() - start).expect("nest fits");
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// The bytes to send, with length, sequence number and port id filled in.
    pub(super) fn finish(&self, seq: u32) -> Vec<u8> {
        assert!(self.open.is_empty(), "every nest is closed");
        let mut buf = self.buf.clone();
        let len = u32::try_from(buf.len()).expect("message fits");
        buf[0..4].copy_from_slice(&len.to_ne_bytes());
        buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::super::Attrs;
    use super::*;

    #[test]
    fn lays_out_header_attributes_and_nests_as_the_kernel_expects() {
        let mut m = Message::new(0x10, 0x5, &[1, 2]);
        m.u16(1, 0x0203).nest(2).u32(3, 7).str(4, "wrr").end();
        let bytes = m.finish(9);
        // Header: length, type, flags, sequence, port id 0.
        assert_eq!(
            u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        assert_eq!(&bytes[4..8], &[0x10, 0, 0x5, 0]);
        assert_eq!(&bytes[8..12], &9u32.to_ne_bytes());
        // Family header padded to 4 bytes.
        assert_eq!(&bytes[16..20], &[1, 2, 0, 0]);
        // u16 attribute: length 6, padded to 8.
        assert_eq!(&bytes[20..28], &[6, 0, 1, 0, 3, 2, 0, 0]);
        // The nest: 4 + 8 (u32) + 8 ("wrr\0") = 20 bytes, NLA_F_NESTED set.
        assert_eq!(&bytes[28..32], &[20, 0, 2, 0x80]);
        let attrs: Vec<_> = Attrs::new(&bytes[20..]).collect();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[0].u16(), Some(0x0203));
        let inner: Vec<_> = attrs[1].nested().collect();
        assert_eq!(attrs[1].kind, 2, "the nested flag is masked off when read");
        assert_eq!(inner[0].u32(), Some(7));
        assert_eq!(inner[1].str(), Some("wrr"));
    }
}
