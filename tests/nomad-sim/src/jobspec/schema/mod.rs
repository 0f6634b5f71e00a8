//! Field tables of the Nomad `api` structs reachable from `api.Job`: which HCL attribute or block
//! feeds which JSON key, and what the key holds when the file does not set it.
//!
//! The tables mirror the `hcl:"..."` and `json:"..."` tags of `api/*.go` (jobs.go, tasks.go,
//! services.go, resources.go, consul.go, ...). They carry data only; the decoding logic lives in
//! `decode.rs` and never hard-codes a field list of its own.

mod job;
mod service;
mod task;

pub(super) use job::*;
pub(super) use service::*;
pub(super) use task::*;

/// The value type of an HCL attribute, i.e. the Go type gohcl converts the expression into.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum T {
    Str,
    Int,
    Bool,
    /// `time.Duration`: a Go duration string or a number of nanoseconds.
    Dur,
    StrList,
    IntList,
    StrMap,
}

/// How a field is written in HCL.
#[derive(Clone, Copy, Debug)]
pub(super) enum K {
    /// Optional attribute.
    Attr(T),
    /// Required attribute (a gohcl tag without `,optional`).
    Req(T),
    /// The block label.
    Label,
    /// At most one nested block.
    Block(&'static Def),
    /// Any number of nested blocks, in source order.
    Blocks(&'static Def),
    /// Labelled nested blocks collected into a map keyed by label.
    BlockMap(&'static Def),
    /// A block whose attributes form a `map[string]string` (`meta`, `env`).
    StrMapBlock,
    /// A free-form `map[string]any` block (`config`, scaling `policy`).
    AnyBlock,
    /// A block of string lists (`map[string][]string`, check `header`).
    ListMapBlock,
    /// Not settable from HCL; only shapes the JSON.
    Hidden,
}

/// The JSON value of an unset field, following Go's encoding of the field type.
#[derive(Clone, Copy, Debug)]
pub(super) enum Z {
    /// Pointer, slice or map: `null`.
    Null,
    /// `string`: `""`.
    Str,
    /// Integer, float or `time.Duration`: `0`.
    Zero,
    /// `bool`: `false`.
    False,
    /// `json:",omitempty"`: the key is absent.
    Omit,
}

#[derive(Debug)]
pub(super) struct Field {
    pub json: &'static str,
    pub hcl: &'static str,
    pub kind: K,
    pub zero: Z,
}

#[derive(Debug)]
pub(super) struct Def {
    pub fields: &'static [Field],
}

const fn f(json: &'static str, hcl: &'static str, kind: K, zero: Z) -> Field {
    Field {
        json,
        hcl,
        kind,
        zero,
    }
}

impl Z {
    pub(super) fn value(self) -> Option<serde_json::Value> {
        use serde_json::Value;
        match self {
            Z::Null => Some(Value::Null),
            Z::Str => Some(Value::String(String::new())),
            Z::Zero => Some(Value::from(0)),
            Z::False => Some(Value::Bool(false)),
            Z::Omit => None,
        }
    }
}

impl Def {
    pub(super) fn label_field(&self) -> Option<&'static Field> {
        self.fields.iter().find(|fd| matches!(fd.kind, K::Label))
    }
}
