//! Lookup tables shared by quantizers and dequantizers (from ggml-common.h).
