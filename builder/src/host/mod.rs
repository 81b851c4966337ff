//! The build machine: running its tools ([`cmd`]), checking and installing
//! them ([`tools`]), locks on the shared cache ([`flock`]), where the workspace, output and cache are ([`paths`]),
//! the build's reproducible identity ([`ident`]) and step timing
//! ([`progress`]). Nothing here knows the image's content.

pub mod cmd;
pub mod flock;
pub mod ident;
pub mod paths;
pub mod progress;
pub mod tools;
