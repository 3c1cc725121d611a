//! mesh-model
#![forbid(unsafe_code)]
pub mod diag;
pub mod duration;
pub mod parse;
pub mod resource;
pub mod wire;
