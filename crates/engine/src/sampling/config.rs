//! Sampler settings and their validation.

/// A sampler setting that cannot be used.
///
/// Each variant carries the rejected value and its message names the setting together
/// with the llama.cpp command-line flag it corresponds to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplerError {
    /// The temperature is NaN or infinite.
    #[error(
        "invalid temperature (--temp) {0}: must be a finite number (<= 0 selects greedy decoding)"
    )]
    Temperature(f32),
    /// `top_p` is NaN or outside `(0, 1]`.
    #[error("invalid top_p (--top-p) {0}: must be in (0, 1] (1 disables it)")]
    TopP(f32),
    /// `min_p` is NaN or greater than 1.
    #[error("invalid min_p (--min-p) {0}: must be a number <= 1 (<= 0 disables it)")]
    MinP(f32),
    /// `repeat_penalty` is NaN, infinite, zero or negative.
    #[error(
        "invalid repeat_penalty (--repeat-penalty) {0}: must be a finite number > 0 (1 disables it)"
    )]
    RepeatPenalty(f32),
    /// `presence_penalty` is NaN or infinite.
    #[error(
        "invalid presence_penalty (--presence-penalty) {0}: must be a finite number (0 disables it)"
    )]
    PresencePenalty(f32),
    /// `frequency_penalty` is NaN or infinite.
    #[error(
        "invalid frequency_penalty (--frequency-penalty) {0}: must be a finite number (0 disables it)"
    )]
    FrequencyPenalty(f32),
}

/// Settings of a [`Sampler`](super::Sampler), with llama.cpp's meanings and defaults.
///
/// The stages run in llama.cpp's default order: penalties, top-k, top-p, min-p,
/// temperature, then a random draw from the softmax of the survivors.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// Softmax temperature; `<= 0` selects greedy decoding (argmax of the penalised logits).
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; `<= 0` disables the stage.
    pub top_k: i32,
    /// Keep the smallest set of most likely tokens whose probabilities add up to at least
    /// `top_p`; `1` disables the stage.
    pub top_p: f32,
    /// Drop tokens whose probability is below `min_p` times that of the most likely one;
    /// `<= 0` disables the stage.
    pub min_p: f32,
    /// Repetition penalty for tokens in the window: a positive logit is divided by it, any
    /// other multiplied; `1` disables it.
    pub repeat_penalty: f32,
    /// How many of the most recently accepted tokens the penalties look at; `0` disables
    /// all three penalties.
    pub repeat_last_n: usize,
    /// Subtracted once from the logit of every token present in the window.
    pub presence_penalty: f32,
    /// Subtracted from the logit of a token once per occurrence in the window.
    pub frequency_penalty: f32,
    /// Seed of the random draw; `None` seeds from the operating system (or the clock).
    pub seed: Option<u64>,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: None,
        }
    }
}

impl SamplerConfig {
    /// Greedy decoding: always the token with the highest (penalised) logit.
    ///
    /// Penalties keep their defaults, which leave the logits unchanged.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Checks every setting, returning the first one that cannot be used.
    pub fn validate(&self) -> Result<(), SamplerError> {
        if !self.temperature.is_finite() {
            return Err(SamplerError::Temperature(self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(SamplerError::TopP(self.top_p));
        }
        if self.min_p.is_nan() || self.min_p > 1.0 {
            return Err(SamplerError::MinP(self.min_p));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(SamplerError::RepeatPenalty(self.repeat_penalty));
        }
        if !self.presence_penalty.is_finite() {
            return Err(SamplerError::PresencePenalty(self.presence_penalty));
        }
        if !self.frequency_penalty.is_finite() {
            return Err(SamplerError::FrequencyPenalty(self.frequency_penalty));
        }
        Ok(())
    }

    /// Whether the draw is replaced by an argmax.
    pub(crate) fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// Whether every token is simply the argmax of the logits as the backend
    /// gives them (greedy, no penalties): what
    /// [`GenerateOptions::greedy`](crate::GenerateOptions::greedy) asks for.
    pub fn is_plain_argmax(&self) -> bool {
        self.is_greedy() && !self.penalties_active()
    }

    /// Whether the penalties can change any logit (llama.cpp's `is_disabled`, negated).
    pub(crate) fn penalties_active(&self) -> bool {
        self.repeat_last_n > 0
            && (self.repeat_penalty != 1.0
                || self.frequency_penalty != 0.0
                || self.presence_penalty != 0.0)
    }

    /// The number of tokens top-k keeps for a vocabulary of `n`, or `None` when it keeps all.
    pub(crate) fn top_k_for(&self, n: usize) -> Option<usize> {
        let k = usize::try_from(self.top_k).ok().filter(|&k| k > 0)?;
        (k < n).then_some(k)
    }

    /// Whether top-p can drop tokens.
    pub(crate) fn top_p_active(&self) -> bool {
        self.top_p < 1.0
    }

    /// Whether min-p can drop tokens.
    pub(crate) fn min_p_active(&self) -> bool {
        self.min_p > 0.0
    }
}
