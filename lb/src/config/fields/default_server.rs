//! The `default_server` model (a backend's or the defaults' `default-server` line), in
//! client-native's order.
use super::common::*;
use super::Field;
use super::Kind::*;
use super::Syntax::*;
use super::Use::*;

pub static DEFAULT_SERVER: &[Field] = &[
    f("fall", Int, Param("fall"), Honoured),
    CHECK_SSL,
    INIT_ADDR,
    INTER,
    FASTINTER,
    DOWNINTER,
    f("port", Int, Param("port"), Honoured),
    f("rise", Int, Param("rise"), Honoured),
    SNI,
    CHECK_SNI,
    SLOWSTART,
    RESOLVERS,
    RESOLVE_PREFER,
    RESOLVE_NET,
];
