//! Sequences decoded together in one batch (a server's continuous batching) get
//! exactly the logits they get decoded alone, whatever else is in the batch,
//! while sequences join and leave it (the GPU backend's counterpart is in
//! gpu_backend.rs).

mod common;

use common::batching::{CASES, alone, assert_same, batched, prompts};
use rocmforge_engine::ExecutionPlan;
use rocmforge_engine::cpu::CpuBackend;

#[test]
fn batched_sequences_decode_as_they_do_alone() {
    for (arch, file_type) in CASES {
        let model = common::tiny_model(arch, file_type, 11);
        let plan = ExecutionPlan::new(&model);
        let steps = 10;
        let prompts = prompts(&model);
        let want: Vec<_> = prompts
            .iter()
            .map(|p| alone(&mut CpuBackend::new(), &model, &plan, p, steps))
            .collect();
        let got = batched(&mut CpuBackend::new(), &model, &plan, &prompts, steps);
        assert_same(&format!("{arch:?} {file_type:?}"), &want, &got);
    }
}
