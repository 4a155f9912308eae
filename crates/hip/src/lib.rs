//! Safe wrappers over the HIP runtime: devices, streams, events, buffers, pools,
//! modules, kernel launches and graphs.
//!
//! This crate is a placeholder in the workspace layout and exports nothing yet.
#![deny(missing_docs)]
