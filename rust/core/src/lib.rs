//! artefact's core: the work behind wandb-compatible artifacts, with no Python in it.
//!
//! Each module is one concept: `digest` (MD5/XXH128/ETag), `paths` (logical-path rules),
//! `walk` (directory scan), `stage` (copy-and-hash), `manifest` (entries and both JSON
//! layouts), `cache` (content-addressed objects), `pool` (a fork-safe thread pool), `lockfile` (one writer at a time) and
//! `progress` (counters a caller can watch).

pub mod add_dir;
pub mod beneath;
pub mod blob_batch;
pub mod blob_sink;
pub mod cache;
pub mod digest;
pub mod download;
pub mod fdtable;
pub mod libcrypto;
pub mod lockfile;
pub mod manifest;
pub mod mapped;
pub mod objdir;
pub mod onepass;
pub mod pack;
pub mod paths;
pub mod png;
pub mod pool;
pub mod progress;
pub mod reput;
pub mod sigv4;
pub mod stage;
pub mod stage_parts;
pub mod statcache;
pub mod transfer;
pub mod store_put;
pub mod store_sync;
pub mod walk;

mod tmpname;
