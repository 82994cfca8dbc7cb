//! `faurge-helper` as a library: the pieces of the helper process that tests and
//! the `faurge-helper` binary share.

pub mod serve;
