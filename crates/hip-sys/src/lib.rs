//! Raw bindings to the HIP runtime API.
//!
//! This crate is a placeholder in the workspace layout: the bindgen output, the
//! run-time loader for `libamdhip64.so` and the CUDA-driver mapping for NVIDIA arrive
//! with the HIP platform layer. It exports nothing yet.
#![deny(missing_docs)]
