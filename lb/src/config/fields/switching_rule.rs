//! The `backend_switching_rule` model: `use_backend <name> [if|unless <cond_test>]`, written
//! whole by the frontend's own code (`index` is the rule's position, not a stored field).
use super::common::own;
use super::Field;

pub static SWITCHING_RULE: &[Field] = &[own("index"), own("name"), own("cond"), own("cond_test")];
