//! The `bind` model, in client-native's `SerializeBind` parameter order (`name` first,
//! written with the address by the frontend's own code).
use super::common::own;
use super::Kind::*;
use super::Syntax::*;
use super::Use::*;
use super::{Field, Kind, Syntax, Use};

const fn f(name: &'static str, kind: Kind, syntax: Syntax, usage: Use) -> Field {
    Field {
        name,
        kind,
        syntax,
        usage,
    }
}

pub static BIND: &[Field] = &[
    own("name"),
    own("address"),
    own("port"),
    f("process", Str, Param("process"), Stored),
    f("ssl_certificate", Str, Param("crt"), Stored),
    f("ssl_cafile", Str, Param("ca-file"), Stored),
    f("tcp_user_timeout", Time, Param("tcp-ut"), Stored),
    f(
        "ssl",
        Bool,
        Word("ssl", ""),
        Refused {
            neutral: &["false"],
            why: "TLS termination is not supported: lb forwards the TCP bytes unchanged",
        },
    ),
    f("v4v6", Bool, Word("v4v6", ""), Stored),
    f(
        "verify",
        Enum(&["none", "optional", "required"]),
        Param("verify"),
        Stored,
    ),
    f("alpn", Str, Param("alpn"), Stored),
    f(
        "transparent",
        Bool,
        Word("transparent", ""),
        Refused {
            neutral: &["false"],
            why: "transparent binds (foreign addresses) are not supported",
        },
    ),
    f(
        "accept_proxy",
        Bool,
        Word("accept-proxy", ""),
        Refused {
            neutral: &["false"],
            why: "the PROXY protocol is not accepted on incoming connections",
        },
    ),
    f("allow_0rtt", Bool, Word("allow-0rtt", ""), Stored),
];
