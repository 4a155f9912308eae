//! `rocmforge inspect FILE [--json] [--full]`: what a GGUF file holds.

use std::collections::BTreeMap;
use std::io::Write;

use rocmforge_gguf::{ArrayRef, GgmlType, GgufFile, ValueRef};
use serde_json::{Value as Json, json};

use crate::args::InspectArgs;
use crate::format::{human_bytes, thousands};

/// Arrays longer than this are summarised unless `--full` is given.
const SUMMARY_THRESHOLD: usize = 16;
/// Items of a summarised array that are shown.
const SUMMARY_ITEMS: usize = 8;
/// Strings longer than this are shortened in the text output.
const TEXT_STRING_LIMIT: usize = 160;

pub fn run(args: &InspectArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let file = super::open_gguf(&args.file)?;
    let items = if args.full { usize::MAX } else { SUMMARY_ITEMS };
    let threshold = if args.full {
        usize::MAX
    } else {
        SUMMARY_THRESHOLD
    };
    let report = Report::new(&file, threshold, items);
    if args.json {
        let mut json = report.to_json();
        json["file"] = json!(args.file.display().to_string());
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    } else {
        writeln!(out, "file:          {}", args.file.display())?;
        report.write_text(out)?;
    }
    Ok(())
}

/// Totals for one tensor type.
#[derive(Default)]
struct TypeTotal {
    tensors: u64,
    elements: u64,
    bytes: u64,
}

struct Report<'a> {
    file: &'a GgufFile,
    threshold: usize,
    items: usize,
    totals: BTreeMap<GgmlType, TypeTotal>,
}

impl<'a> Report<'a> {
    fn new(file: &'a GgufFile, threshold: usize, items: usize) -> Self {
        let mut totals: BTreeMap<GgmlType, TypeTotal> = BTreeMap::new();
        for tensor in file.tensors() {
            let total = totals.entry(tensor.ggml_type()).or_default();
            total.tensors += 1;
            total.elements += tensor.n_elements();
            total.bytes += tensor.size_bytes();
        }
        Report {
            file,
            threshold,
            items,
            totals,
        }
    }

    fn architecture(&self) -> Option<&'a str> {
        self.file.metadata().get_str("general.architecture").ok()
    }

    /// Totals sorted by bytes, largest first.
    fn totals_by_size(&self) -> Vec<(GgmlType, &TypeTotal)> {
        let mut totals: Vec<_> = self.totals.iter().map(|(ty, t)| (*ty, t)).collect();
        totals.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(&b.0)));
        totals
    }

    fn grand_total(&self) -> TypeTotal {
        self.totals
            .values()
            .fold(TypeTotal::default(), |acc, t| TypeTotal {
                tensors: acc.tensors + t.tensors,
                elements: acc.elements + t.elements,
                bytes: acc.bytes + t.bytes,
            })
    }

    fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        let file = self.file;
        writeln!(
            out,
            "size:          {} ({} bytes)",
            human_bytes(file.bytes().len() as u64),
            thousands(file.bytes().len() as u64)
        )?;
        writeln!(out, "GGUF version:  {}", file.version())?;
        writeln!(
            out,
            "architecture:  {}",
            self.architecture().unwrap_or("(not set)")
        )?;
        writeln!(out, "alignment:     {}", file.alignment())?;
        writeln!(out, "data offset:   {}", file.data_offset())?;

        let metadata = file.metadata();
        writeln!(out, "\nmetadata ({} entries):", metadata.len())?;
        let key_width = metadata.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in metadata.iter() {
            writeln!(
                out,
                "  {key:key_width$}  {:16}  {}",
                value.type_description(),
                self.text_value(value)
            )?;
        }

        writeln!(out, "\ntensors ({}):", file.tensors().len())?;
        let name_width = file
            .tensors()
            .iter()
            .map(|t| t.name().len())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(
            out,
            "  {:name_width$}  {:7}  {:22}  {:>14}  {:>12}",
            "name", "type", "shape", "offset", "size"
        )?;
        for t in file.tensors() {
            let shape = format!("{:?}", t.shape());
            writeln!(
                out,
                "  {:name_width$}  {:7}  {shape:22}  {:>14}  {:>12}",
                t.name(),
                t.ggml_type().name(),
                thousands(t.file_offset()),
                human_bytes(t.size_bytes())
            )?;
        }

        writeln!(out, "\ntotals by type:")?;
        writeln!(
            out,
            "  {:7}  {:>7}  {:>16}  {:>12}",
            "type", "tensors", "elements", "size"
        )?;
        let total = self.grand_total();
        for (ty, t) in self.totals_by_size() {
            writeln!(
                out,
                "  {:7}  {:>7}  {:>16}  {:>12}",
                ty.name(),
                t.tensors,
                thousands(t.elements),
                human_bytes(t.bytes)
            )?;
        }
        writeln!(
            out,
            "  {:7}  {:>7}  {:>16}  {:>12}",
            "total",
            total.tensors,
            thousands(total.elements),
            human_bytes(total.bytes)
        )?;
        Ok(())
    }

    fn text_value(&self, value: ValueRef<'_>) -> String {
        match value {
            ValueRef::String(s) => quote(s, TEXT_STRING_LIMIT),
            ValueRef::Array(array) => self.text_array(array),
            scalar => scalar_text(scalar),
        }
    }

    fn text_array(&self, array: ArrayRef<'_>) -> String {
        let shown = if array.len() > self.threshold {
            self.items
        } else {
            array.len()
        };
        let mut parts: Vec<String> = array
            .iter()
            .take(shown)
            .map(|v| match v {
                ValueRef::String(s) => quote(s, 40),
                ValueRef::Array(inner) => self.text_array(inner),
                scalar => scalar_text(scalar),
            })
            .collect();
        if shown < array.len() {
            parts.push(format!(
                "… {} more",
                thousands((array.len() - shown) as u64)
            ));
        }
        format!(
            "[{}] ({} items)",
            parts.join(", "),
            thousands(array.len() as u64)
        )
    }

    fn to_json(&self) -> Json {
        let file = self.file;
        let metadata: Vec<Json> = file
            .metadata()
            .iter()
            .map(|(key, value)| json!({"key": key, "type": value.type_description(), "value": self.json_value(value)}))
            .collect();
        let tensors: Vec<Json> = file
            .tensors()
            .iter()
            .map(|t| {
                json!({
                    "name": t.name(),
                    "type": t.ggml_type().name(),
                    "shape": t.shape(),
                    "offset": t.file_offset(),
                    "size": t.size_bytes(),
                })
            })
            .collect();
        let totals: Vec<Json> = self
            .totals_by_size()
            .into_iter()
            .map(|(ty, t)| json!({"type": ty.name(), "tensors": t.tensors, "elements": t.elements, "bytes": t.bytes}))
            .collect();
        let total = self.grand_total();
        json!({
            "size": file.bytes().len(),
            "version": file.version(),
            "architecture": self.architecture(),
            "alignment": file.alignment(),
            "data_offset": file.data_offset(),
            "metadata": metadata,
            "tensors": tensors,
            "totals_by_type": totals,
            "total": {"tensors": total.tensors, "elements": total.elements, "bytes": total.bytes},
        })
    }

    fn json_value(&self, value: ValueRef<'_>) -> Json {
        match value {
            ValueRef::Array(array) => {
                let shown = if array.len() > self.threshold {
                    self.items
                } else {
                    array.len()
                };
                let items: Vec<Json> = array
                    .iter()
                    .take(shown)
                    .map(|v| self.json_value(v))
                    .collect();
                json!({
                    "element_type": array.element_type().name(),
                    "len": array.len(),
                    "items": items,
                    "truncated": shown < array.len(),
                })
            }
            scalar => scalar_json(scalar),
        }
    }
}

fn quote(s: &str, limit: usize) -> String {
    let chars = s.chars().count();
    if chars <= limit {
        format!("\"{}\"", s.escape_debug())
    } else {
        let head: String = s.chars().take(limit).collect();
        format!(
            "\"{}\"… ({} chars)",
            head.escape_debug(),
            thousands(chars as u64)
        )
    }
}

fn scalar_text(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::F32(v) => format!("{v:?}"),
        ValueRef::F64(v) => format!("{v:?}"),
        ValueRef::Bool(v) => v.to_string(),
        ValueRef::String(s) => quote(s, TEXT_STRING_LIMIT),
        other => other
            .as_integer()
            .map_or_else(String::new, |n| n.to_string()),
    }
}

fn scalar_json(value: ValueRef<'_>) -> Json {
    // Floats go through their shortest decimal form so f32 values print as written.
    let float = |text: String| {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map_or(Json::String(text), |f| json!(f))
    };
    match value {
        ValueRef::F32(v) => float(v.to_string()),
        ValueRef::F64(v) => float(v.to_string()),
        ValueRef::Bool(v) => json!(v),
        ValueRef::String(s) => json!(s),
        ValueRef::U64(v) => json!(v),
        other => other.as_integer().map_or(Json::Null, |n| json!(n as i64)),
    }
}
