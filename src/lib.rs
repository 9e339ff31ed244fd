//! # edgecache
//!
//! An edge-caching Cloudflare Worker. The crate is split in two:
//!
//! - a **pure core** (every module below except `worker`): policy model and validation, route
//!   matching, Cache-Control and freshness math (RFC 9111), cookie and query filtering, cache keys,
//!   purge records and Cache-Status (RFC 9211). It never reads a clock and never does I/O; the time
//!   is always a parameter. It is tested on the host with `cargo test`.
//! - a **thin adapter** (`worker`, only on `wasm32`) that turns Workers Request/Response/Cache/KV
//!   calls into core inputs and carries out the plans the core returns.
#![warn(missing_docs)]
// A panic in the worker resets the wasm instance and fails every request in flight beside it
// (issue 12): outside tests, no unwrap/expect/indexing/panic; each exception is allowed where it
// stands, with its reason.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

#[cfg(target_arch = "wasm32")]
mod worker;

pub mod admin;
pub mod base64;
pub mod cache_control;
pub mod conditional;
pub mod cookies;
pub mod deception;
pub mod decision;
pub mod duration;
pub mod embedded;
pub mod executor;
pub mod explain;
pub mod forward;
pub mod freshness;
pub mod json;
pub mod key;
pub mod lifecycle;
pub mod memo;
pub mod meta;
pub mod metrics;
pub mod origin;
pub mod path;
pub mod policy;
pub mod purge;
pub mod range;
pub mod sort;
pub mod status;
pub mod storable;
pub mod tags;
pub mod unkeyed;
pub mod variance;
pub mod webhook_sig;

#[cfg(test)]
mod test_util;
