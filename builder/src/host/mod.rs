pub mod cmd;
pub mod ident;
pub mod paths;
pub mod progress;
pub mod tools;
