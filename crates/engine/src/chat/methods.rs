//! Python methods for template values, and a `namespace()` whose lists can grow.
//!
//! minijinja-contrib's `pycompat` covers most string and dict methods; this adds the
//! few others chat templates call, and mutable lists for the `append`/`pop` that
//! templates apply to lists kept in a namespace (Kimi K2's tool-call queue).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind, from_args};
use minijinja::{Error, ErrorKind, State};

/// Python methods on strings, dicts and lists.
pub(crate) fn unknown_method(
    state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    match minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args) {
        Err(e) if e.kind() == ErrorKind::UnknownMethod => extra_method(value, method, args),
        other => other,
    }
}

/// Methods `pycompat` lacks.
fn extra_method(value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    match (value.kind(), method) {
        (ValueKind::String, "rsplit") => {
            let s = value.as_str().unwrap_or_default();
            let (sep, maxsplit): (Option<&str>, Option<i64>) = from_args(args)?;
            let max = maxsplit.filter(|&n| n >= 0).map(|n| n as usize);
            let mut parts: Vec<Value> = match (sep, max) {
                (Some(sep), Some(n)) => s.rsplitn(n + 1, sep).map(Value::from).collect(),
                (Some(sep), None) => s.rsplit(sep).map(Value::from).collect(),
                (None, _) => {
                    // Whitespace split; only the plain form is needed in practice.
                    let mut words: Vec<Value> = s.split_whitespace().map(Value::from).collect();
                    words.reverse();
                    words
                }
            };
            parts.reverse();
            Ok(Value::from(parts))
        }
        (ValueKind::String, "index" | "rindex") => {
            let s = value.as_str().unwrap_or_default();
            let (needle,): (&str,) = from_args(args)?;
            let found = if method == "index" {
                s.find(needle)
            } else {
                s.rfind(needle)
            };
            match found {
                Some(byte) => Ok(Value::from(s[..byte].chars().count())),
                None => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "substring not found",
                )),
            }
        }
        (ValueKind::String, "removeprefix") => {
            let s = value.as_str().unwrap_or_default();
            let (prefix,): (&str,) = from_args(args)?;
            Ok(Value::from(s.strip_prefix(prefix).unwrap_or(s)))
        }
        (ValueKind::String, "removesuffix") => {
            let s = value.as_str().unwrap_or_default();
            let (suffix,): (&str,) = from_args(args)?;
            Ok(Value::from(s.strip_suffix(suffix).unwrap_or(s)))
        }
        (ValueKind::Seq, "index") => {
            let (needle,): (&Value,) = from_args(args)?;
            value
                .try_iter()?
                .position(|item| &item == needle)
                .map(Value::from)
                .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "value is not in list"))
        }
        (ValueKind::Seq, "append" | "pop" | "extend" | "insert" | "clear" | "remove") => {
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "list.{method}() only works on lists stored in a namespace(); \
                     template lists are immutable"
                ),
            ))
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// Python's `x is iterable`: strings, lists and dicts (and Jinja's undefined, which
/// iterates as nothing) are; none and numbers are not.
pub(crate) fn is_iterable(value: &Value) -> bool {
    matches!(
        value.kind(),
        ValueKind::String
            | ValueKind::Bytes
            | ValueKind::Seq
            | ValueKind::Map
            | ValueKind::Iterable
            | ValueKind::Undefined
    )
}

/// Python's `x is sequence` (has a length and items): strings, lists, dicts, and
/// Jinja's undefined.
pub(crate) fn is_sequence(value: &Value) -> bool {
    matches!(
        value.kind(),
        ValueKind::String
            | ValueKind::Bytes
            | ValueKind::Seq
            | ValueKind::Map
            | ValueKind::Undefined
    )
}

/// `namespace(...)`: minijinja's namespace, with list values made mutable.
pub(crate) fn namespace(args: &[Value]) -> Result<Value, Error> {
    let mut pairs: Vec<(Value, Value)> = Vec::new();
    for arg in args {
        if arg.kind() != ValueKind::Map {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "namespace() expects a dict or keyword arguments, got {}",
                    arg.kind()
                ),
            ));
        }
        for key in arg.try_iter()? {
            let item = arg.get_item(&key)?;
            pairs.push((key, PyList::wrap(item)));
        }
    }
    if pairs.is_empty() {
        return minijinja::functions::namespace(None);
    }
    minijinja::functions::namespace(Some(Value::from_iter(pairs)))
}

/// A list that `append`, `pop`, `extend`, `insert`, `remove` and `clear` change in place.
#[derive(Debug, Default)]
pub(crate) struct PyList(Mutex<Vec<Value>>);

impl PyList {
    /// `value` as a mutable list if it is a plain list, else unchanged.
    fn wrap(value: Value) -> Value {
        if value.kind() == ValueKind::Seq && value.downcast_object_ref::<PyList>().is_none() {
            match value.try_iter() {
                Ok(items) => Value::from_object(PyList(Mutex::new(items.collect()))),
                Err(_) => value,
            }
        } else {
            value
        }
    }

    fn items(&self) -> MutexGuard<'_, Vec<Value>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A Python index into a list of `len` items (negative counts from the end).
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if index < 0 { index + len } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

impl Object for PyList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = self.items();
        let index = resolve_index(key.as_i64()?, items.len())?;
        items.get(index).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.items().clone())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.items().len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut items = self.items();
        match method {
            "append" => {
                let (item,): (Value,) = from_args(args)?;
                items.push(item);
                Ok(Value::from(()))
            }
            "extend" => {
                let (more,): (Value,) = from_args(args)?;
                items.extend(more.try_iter()?);
                Ok(Value::from(()))
            }
            "insert" => {
                let (index, item): (i64, Value) = from_args(args)?;
                let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                let at = if index < 0 { index + len } else { index }.clamp(0, len);
                items.insert(at as usize, item);
                Ok(Value::from(()))
            }
            "pop" => {
                let (index,): (Option<i64>,) = from_args(args)?;
                let index = index.unwrap_or(-1);
                match resolve_index(index, items.len()) {
                    Some(i) => Ok(items.remove(i)),
                    None => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        if items.is_empty() {
                            "pop from empty list"
                        } else {
                            "pop index out of range"
                        },
                    )),
                }
            }
            "remove" => {
                let (item,): (Value,) = from_args(args)?;
                match items.iter().position(|x| x == &item) {
                    Some(i) => {
                        items.remove(i);
                        Ok(Value::from(()))
                    }
                    None => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "list.remove(x): x not in list",
                    )),
                }
            }
            "clear" => {
                let () = from_args(args)?;
                items.clear();
                Ok(Value::from(()))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}
