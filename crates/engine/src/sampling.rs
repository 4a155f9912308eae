//! Sampling: choosing the next token from logits.
