//! The `backend` model, in config-parser's backend line order.
use super::common::*;
use super::Field;
use super::Kind::*;
use super::Syntax::*;
use super::Use::*;

pub static BACKEND: &[Field] = &[
    own("name"),
    MODE,
    HASH_TYPE,
    BALANCE,
    HTTP_CHECK,
    BIND_PROCESS,
    HTTP_CONNECTION_MODE,
    HTTP_BUFFER_REQUEST,
    HTTP_PRETEND_KEEPALIVE,
    HTTP_USE_HTX,
    FORWARDFOR,
    ADV_CHECK,
    ABORTONCLOSE,
    REDISPATCH,
    EXTERNAL_CHECK,
    LOG_TAG,
    ALLBACKUPS,
    HTTPCHK,
    EXTERNAL_CHECK_PATH,
    EXTERNAL_CHECK_COMMAND,
    HTTP_REQUEST_TIMEOUT,
    QUEUE_TIMEOUT,
    HTTP_KEEP_ALIVE_TIMEOUT,
    CHECK_TIMEOUT,
    TUNNEL_TIMEOUT,
    SERVER_TIMEOUT,
    CONNECT_TIMEOUT,
    DEFAULT_SERVER,
    STATS_OPTIONS,
    HTTP_REUSE,
    COOKIE,
    STICK_TABLE,
    own("servers"),
    RETRIES,
];

/// `hash-type <method> <function> <modifier>`: consistent hashing only matters to the
/// hash-based algorithms; `lb`'s `source` balancing hashes its own way.
const HASH_TYPE: Field = Field {
    name: "hash_type",
    kind: Object(&[
        Field {
            name: "method",
            kind: Enum(&["map-based", "consistent"]),
            syntax: Own,
            usage: Stored,
        },
        Field {
            name: "function",
            kind: Enum(&["sdbm", "djb2", "wt6", "crc32"]),
            syntax: Own,
            usage: Stored,
        },
        Field {
            name: "modifier",
            kind: Enum(&["avalanche"]),
            syntax: Own,
            usage: Stored,
        },
    ]),
    syntax: Own,
    usage: Stored,
};

const STICK_TABLE: Field = Field {
    name: "stick_table",
    kind: Opaque,
    syntax: Own,
    usage: Refused {
        neutral: &[],
        why: "stick tables are not implemented; lb keeps no per-client state",
    },
};
