//! Hermetic dependency bundling in the style of Bitcoin Core's `depends/`.
//!
//! A run goes: [`recipe`] (read `depends/packages/*.toml`) -> [`plan`] (the
//! package set for a host, in dependency order, each with its build id) ->
//! [`fetch`] (cache, upstream, fallback, mirrors; every byte checked against
//! the pinned SHA-256) -> [`builder`] (configure/make in a scratch dir,
//! install into staging, pack with [`archive`]) -> [`install`] (unpack into
//! `depends/<host>/`, write the [`toolchain_files`] and the manifest).
//! [`pipeline`] ties the stages together under the [`lock`]; [`reproducible`]
//! compares two builds; [`sccache`] shares Rust compiles through the same
//! store as [`remote`].

pub mod archive;
pub mod build_order;
pub mod builder;
pub mod cmake_step;
pub mod fetch;
pub mod host;
pub mod install;
pub mod lock;
pub mod mirror;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod recipe;
pub mod remote;
pub mod reproducible;
pub mod sccache;
pub mod schedule;
pub mod toolchain_files;

pub use pipeline::{Config, Depends};
