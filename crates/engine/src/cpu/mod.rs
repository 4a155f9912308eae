//! The CPU backend.

pub mod quant_dot;
