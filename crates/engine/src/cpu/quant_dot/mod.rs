//! Dot products of quantized weight rows with quantized activations.
