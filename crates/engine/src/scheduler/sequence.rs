//! One request while it runs: its cache, sampler and text stream, and what
//! happens to each token it gets (as [`Session::generate`](crate::Session::generate)
//! does for one sequence, so answers equal `rocmforge run`'s).

use rocmforge_tokenizer::{StreamDecoder, Tokenizer};

use super::logprobs::token_logprob;
use super::{Event, FinishReason, Request, Summary, TokenEvent};
use crate::generate::StopFilter;
use crate::kv_cache::KvCache;
use crate::sampling::Sampler;

/// A running request.
pub(super) struct Sequence<'m> {
    pub(super) kv: KvCache,
    /// The token to evaluate in the next step.
    pub(super) next: u32,
    request: Request,
    sampler: Sampler,
    decoder: StreamDecoder<'m>,
    text: StopFilter,
    generated: usize,
}

impl<'m> Sequence<'m> {
    /// A sequence for `request`, whose sampler has been built; `kv` is empty.
    pub(super) fn new(
        request: Request,
        mut sampler: Sampler,
        tokenizer: &'m Tokenizer,
        kv: KvCache,
    ) -> Self {
        for &token in &request.prompt {
            sampler.accept(token);
        }
        let text = StopFilter::new(request.stop.clone());
        Self {
            kv,
            next: 0,
            sampler,
            decoder: tokenizer.stream_decoder(false),
            text,
            generated: 0,
            request,
        }
    }

    pub(super) fn prompt(&self) -> &[u32] {
        &self.request.prompt
    }

    /// The cache to fill and the prompt to fill it with.
    pub(super) fn cache_and_prompt(&mut self) -> (&mut KvCache, &[u32]) {
        (&mut self.kv, &self.request.prompt)
    }

    /// Whether the client has gone away.
    pub(super) fn is_cancelled(&self) -> bool {
        self.request.events.is_closed()
    }

    /// Picks the next token from `logits` and sends what it adds to the text.
    /// `None`: the sequence goes on with [`next`](Self::next); otherwise why it
    /// ended (after [`finish`](Self::finish) has been called by the caller).
    pub(super) fn advance(
        &mut self,
        tokenizer: &Tokenizer,
        logits: &[f32],
    ) -> Option<FinishReason> {
        if self
            .request
            .max_tokens
            .is_some_and(|max| self.generated >= max)
        {
            return Some(FinishReason::Length);
        }
        let token = self.sampler.sample(logits);
        self.sampler.accept(token);
        if !self.request.ignore_eos && tokenizer.is_eog(token) {
            return Some(FinishReason::Stop);
        }
        self.generated += 1;
        let logprob = self
            .request
            .top_logprobs
            .map(|n| token_logprob(logits, token, n));
        // Ids come from the sampler, within the vocabulary: decoding cannot fail.
        let piece = self.decoder.push(token).unwrap_or_default();
        let mut text = String::new();
        let stopped = self.text.push(&piece, &mut |t| text.push_str(t));
        let event = Event::Token(TokenEvent {
            id: token,
            text,
            logprob,
        });
        if !self.request.events.send(event) {
            return Some(FinishReason::Cancelled);
        }
        if stopped {
            return Some(FinishReason::StopString);
        }
        if self
            .request
            .max_tokens
            .is_some_and(|max| self.generated >= max)
            || self.kv.len() >= self.kv.capacity()
        {
            return Some(FinishReason::Length);
        }
        self.next = token;
        None
    }

    /// Sends the text still held back (unless a stop string ended it) and the
    /// summary.
    pub(super) fn finish(mut self, reason: FinishReason) {
        if reason == FinishReason::Cancelled {
            return;
        }
        if reason != FinishReason::StopString {
            let rest = self.decoder.finish();
            let mut text = String::new();
            self.text.push(&rest, &mut |t| text.push_str(t));
            self.text.flush(&mut |t| text.push_str(t));
            if !text.is_empty() {
                self.request.events.send(Event::Text(text));
            }
        }
        self.request.events.send(Event::Done(Summary {
            finish: reason,
            prompt_tokens: self.request.prompt.len(),
            completion_tokens: self.generated,
        }));
    }

    /// Tells the client the request failed.
    pub(super) fn fail(mut self, error: &str) {
        self.request.events.send(Event::Failed(error.to_owned()));
    }

    /// Tokens generated so far.
    pub(super) fn generated(&self) -> usize {
        self.generated
    }
}
