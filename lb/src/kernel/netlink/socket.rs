//! The netlink socket: requests with their acknowledgements, dumps, and event groups.
use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::{align, Message, HEADER_LEN, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP};

/// How long a request waits for the kernel's answer: it answers at once, so this only
/// turns a lost answer into an error instead of a hang.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Receive buffer: the kernel sends dump parts of up to 32 KiB.
const RECV_LEN: usize = 64 * 1024;

/// One message received: its type, flags and the bytes after the netlink header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: u16,
    pub flags: u16,
    pub payload: Vec<u8>,
}

/// A netlink socket of one protocol, bound to a kernel-chosen port id.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Socket {
    /// Opens a socket of `protocol` (`NETLINK_GENERIC`, `NETLINK_NETFILTER`).
    pub fn open(protocol: i32) -> io::Result<Socket> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a zeroed sockaddr_nl is valid (port id 0: the kernel picks one).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `addr` is a sockaddr_nl of the length given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = Socket {
            fd,
            seq: seed(),
            buf: vec![0; RECV_LEN],
        };
        socket.set_timeout(Some(ANSWER_TIMEOUT))?;
        Ok(socket)
    }

    /// Joins multicast group `group` (events); the socket then receives them with
    /// [`Socket::receive`].
    pub fn subscribe(&self, group: u32) -> io::Result<()> {
        self.set_option(libc::SOL_NETLINK, libc::NETLINK_ADD_MEMBERSHIP, group)
    }

    /// Sets the receive buffer (events arrive in bursts). Beyond `net.core.rmem_max`
    /// (212 KiB on Debian) only with `SO_RCVBUFFORCE`, which needs CAP_NET_ADMIN, which
    /// the kernel data path has anyway; without it, `SO_RCVBUF` gives what the limit
    /// allows.
    pub fn set_receive_buffer(&self, bytes: u32) -> io::Result<()> {
        self.set_option(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes)
            .or_else(|_| self.set_option(libc::SOL_SOCKET, libc::SO_RCVBUF, bytes))
    }

    /// How long [`Socket::receive`] waits; `None` waits for ever.
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let tv = timeout.map_or(
            libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            |t| libc::timeval {
                tv_sec: t.as_secs() as libc::time_t,
                tv_usec: t.subsec_micros() as libc::suseconds_t,
            },
        );
        // SAFETY: `tv` is a timeval of the length given.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn set_option(&self, level: i32, name: i32, value: u32) -> io::Result<()> {
        // SAFETY: `value` is an int of the length given.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&value as *const u32).cast(),
                std::mem::size_of::<u32>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends `messages` in one datagram (nfnetlink batches must arrive so) and waits until
    /// each message with `NLM_F_ACK` is acknowledged and each dump is complete. Returns the
    /// data messages received; the first error the kernel reported fails the whole call,
    /// naming the message (its position in `messages`) it refused.
    pub fn transact(&mut self, messages: &[Message]) -> io::Result<Vec<Reply>> {
        let first = self.seq;
        let mut datagram = Vec::new();
        let mut pending = BTreeSet::new();
        for m in messages {
            let seq = self.seq;
            self.seq = self.seq.wrapping_add(1);
            let bytes = m.finish(seq);
            let flags = u16::from_ne_bytes([bytes[6], bytes[7]]);
            if flags & (NLM_F_ACK | NLM_F_DUMP) != 0 {
                pending.insert(seq);
            }
            datagram.extend_from_slice(&bytes);
        }
        self.send(&datagram)?;
        let mut replies = Vec::new();
        let mut refused: Option<io::Error> = None;
        while !pending.is_empty() {
            let n = self.recv()?;
            for (seq, reply) in split(&self.buf[..n]) {
                if !pending.contains(&seq) {
                    continue;
                }
                match reply.kind {
                    NLMSG_ERROR => {
                        pending.remove(&seq);
                        let code = reply
                            .payload
                            .get(..4)
                            .map_or(0, |b| i32::from_ne_bytes(b.try_into().expect("4 bytes")));
                        if code != 0 && refused.is_none() {
                            let index = seq.wrapping_sub(first) as usize;
                            let kind = messages.get(index).map_or(0, |m| m.kind());
                            let os = io::Error::from_raw_os_error(-code);
                            refused = Some(io::Error::new(
                                os.kind(),
                                format!("message {index} (type {kind:#x}) refused: {os}"),
                            ));
                        }
                    }
                    NLMSG_DONE => {
                        pending.remove(&seq);
                    }
                    _ => replies.push(reply),
                }
            }
        }
        match refused {
            Some(e) => Err(e),
            None => Ok(replies),
        }
    }

    /// The messages of the next datagram (events of the groups subscribed to). An
    /// `ENOBUFS` error means the kernel dropped events because the reader fell behind.
    pub fn receive(&mut self) -> io::Result<Vec<Reply>> {
        let n = self.recv()?;
        Ok(split(&self.buf[..n]).map(|(_, r)| r).collect())
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: a zeroed sockaddr_nl addresses the kernel (port id 0).
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `bytes` and `to` are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                (&to as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv(&mut self) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is valid for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// The messages of one datagram with their sequence numbers.
fn split(mut bytes: &[u8]) -> impl Iterator<Item = (u32, Reply)> + '_ {
    std::iter::from_fn(move || {
        if bytes.len() < HEADER_LEN {
            return None;
        }
        let len = u32::from_ne_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
        if len < HEADER_LEN || len > bytes.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
        let flags = u16::from_ne_bytes([bytes[6], bytes[7]]);
        let seq = u32::from_ne_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let payload = bytes[HEADER_LEN..len].to_vec();
        bytes = bytes.get(align(len)..).unwrap_or(&[]);
        Some((
            seq,
            Reply {
                kind,
                flags,
                payload,
            },
        ))
    })
}

/// A starting sequence number that differs between sockets and processes, so that a late
/// answer to an earlier socket's request is never taken for this one's.
fn seed() -> u32 {
    fastrand::u32(1..u32::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::{Attrs, NETLINK_GENERIC, NLM_F_REQUEST};

    /// The generic netlink controller answers to anyone: a real round trip through the
    /// kernel, with no privilege or module needed.
    #[test]
    fn resolves_the_controller_family_through_the_kernel() {
        let mut socket = Socket::open(NETLINK_GENERIC).expect("netlink socket");
        // CTRL_CMD_GETFAMILY (3), version 1; CTRL_ATTR_FAMILY_NAME (2).
        let mut m = Message::new(0x10, NLM_F_REQUEST | NLM_F_ACK, &[3, 1, 0, 0]);
        m.str(2, "nlctrl");
        let replies = socket.transact(&[m]).expect("answer");
        assert_eq!(replies.len(), 1);
        // CTRL_ATTR_FAMILY_ID (1) of the controller is 0x10.
        let id = Attrs::new(&replies[0].payload[4..])
            .get(1)
            .and_then(|a| a.u16());
        assert_eq!(id, Some(0x10));
    }

    #[test]
    fn an_unknown_family_is_an_error_naming_the_message() {
        let mut socket = Socket::open(NETLINK_GENERIC).expect("netlink socket");
        let mut m = Message::new(0x10, NLM_F_REQUEST | NLM_F_ACK, &[3, 1, 0, 0]);
        m.str(2, "no-such-family");
        let e = socket.transact(&[m]).unwrap_err();
        assert_eq!(e.raw_os_error(), None);
        assert!(
            e.to_string().contains("message 0 (type 0x10) refused"),
            "{e}"
        );
    }
}
