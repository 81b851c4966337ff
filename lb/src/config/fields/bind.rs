//! The `bind` model, in client-native's `SerializeBind` parameter order (`name` first,
//! written with the address by the frontend's own code).
use super::common::*;
use super::Field;
use super::Kind::*;
use super::Syntax::*;
use super::Use::*;

pub static BIND: &[Field] = &[
    own("name"),
    own("address"),
    own("port"),
    f("process", Str, Param("process"), Stored),
    SSL_CERTIFICATE,
    SSL_CAFILE,
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
    ALPN,
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
    ALLOW_0RTT,
];
