//! The `default_server` model (a backend's or the defaults' `default-server` line), in
//! client-native's order.
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

pub static DEFAULT_SERVER: &[Field] = &[
    f("fall", Int, Param("fall"), Honoured),
    f(
        "check-ssl",
        Toggle,
        Word("check-ssl", "no-check-ssl"),
        Refused {
            neutral: &["disabled"],
            why: super::common::TCP_CHECKS,
        },
    ),
    f("init-addr", Str, Param("init-addr"), Stored),
    f("inter", Time, Param("inter"), Honoured),
    f("fastinter", Time, Param("fastinter"), Stored),
    f("downinter", Time, Param("downinter"), Stored),
    f("port", Int, Param("port"), Honoured),
    f("rise", Int, Param("rise"), Honoured),
    f("sni", Str, Param("sni"), Stored),
    f("check-sni", Str, Param("check-sni"), Stored),
    f("slowstart", Time, Param("slowstart"), Stored),
    f(
        "resolvers",
        Str,
        Param("resolvers"),
        Refused {
            neutral: &[],
            why: "names are not resolved: server addresses are IP literals",
        },
    ),
    f("resolve-prefer", Str, Param("resolve-prefer"), Stored),
    f("resolve-net", Str, Param("resolve-net"), Stored),
];
