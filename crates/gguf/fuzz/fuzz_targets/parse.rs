//! Feeds arbitrary bytes to the GGUF parser and, when a file is accepted, walks
//! everything a caller could touch: every metadata value, every tensor view, typed
//! block casts and dequantization of small tensors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocmforge_gguf::{GgufFile, ValueRef, blocks};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data) else { return };
    let meta = file.metadata();
    for (key, value) in meta.iter() {
        let _ = value.type_description();
        let _ = value.to_owned_value();
        let _ = meta.get_u32(key);
        let _ = meta.get_str_array(key);
        if let ValueRef::Array(array) = value {
            let _ = array.to_vec::<f32>();
            let _ = array.iter().count();
        }
    }
    for view in file.tensor_views() {
        let _ = view.blocks::<blocks::BlockQ4K>();
        let _ = view.blocks::<blocks::BlockQ8K>();
        let info = view.info();
        if info.n_elements() <= 1 << 16 {
            let _ = view.to_f32();
            let mut row = vec![0.0; info.row_len() as usize];
            let _ = view.row_to_f32(0, &mut row);
            let _ = view.row_to_f32(info.n_rows(), &mut row);
        }
    }
});
