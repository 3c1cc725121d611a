//! Shared pieces of the example programs: reading inputs from files,
//! directories and standard input, the embedded sample mesh, and workload
//! selection for the CLI, and the proxy data plane.
//!
//! The library crates are I/O-free; this package is where files are read.

pub mod config_xds;
pub mod conformance;
pub mod controller;
pub mod demo;
pub mod input;
pub mod proxy;
pub mod sample;
