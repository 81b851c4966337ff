//! The `balance` model. Only the L4 algorithms are honoured; the parameters of the HTTP
//! ones are refused with them (their `false` is accepted and, as in dataplaneapi, not kept:
//! `balance` writes only the chosen algorithm's parameters).
use super::common::NEEDS_HTTP;
use super::Kind::*;
use super::Syntax::*;
use super::Use::*;
use super::{Field, Kind};

const fn http(name: &'static str, kind: Kind) -> Field {
    let neutral: &'static [&'static str] = match kind {
        Bool => &["false"],
        _ => &[],
    };
    Field {
        name,
        kind,
        syntax: Own,
        usage: Refused {
            neutral,
            why: NEEDS_HTTP,
        },
    }
}

pub static BALANCE: &[Field] = &[
    Field {
        name: "algorithm",
        kind: Enum(&[
            "roundrobin",
            "static-rr",
            "leastconn",
            "first",
            "source",
            "uri",
            "url_param",
            "hdr",
            "random",
            "rdp-cookie",
        ]),
        syntax: Own,
        usage: Refused {
            neutral: &[
                "roundrobin",
                "static-rr",
                "leastconn",
                "first",
                "source",
                "random",
            ],
            why: "only the L4 algorithms (roundrobin, static-rr, leastconn, first, source, random) are implemented",
        },
    },
    http("hdr_name", Str),
    http("hdr_use_domain_only", Bool),
    Field {
        name: "random_draws",
        kind: Int,
        syntax: Own,
        usage: Stored,
    },
    http("rdp_cookie_name", Str),
    http("uri_depth", Int),
    http("uri_len", Int),
    http("uri_whole", Bool),
    http("url_param", Str),
    http("url_param_check_post", Int),
    http("url_param_max_wait", Int),
];
