//! diff.go's diffs of nested lists whose elements need matching: services (scored by name,
//! port label and position), templates (by destination), networks (by content) with their
//! ports (by label), and task resources.
//!
//! Owns: the matching rules. Never: the flattening rules (see `model`).

use serde_json::Value;

use super::job::full_struct_diff;
use super::model::{ObjectDiff, primitive_object_diff, sort_objects, string_set_diff, struct_diff};
use crate::canonical::json::{arr_in, arr_of, get, get_in, shape, str_of};
use crate::canonical::{NETWORK, PORT};

const CONTEXTUAL: bool = true;

/// Pairs old and new elements: `matcher(old, old_index, candidates, taken)` picks a new index.
fn pair_up<'a>(
    old: &'a [Value],
    new: &'a [Value],
    matcher: impl Fn(&Value, usize, &[Value], &[bool]) -> Option<usize>,
) -> Vec<(Option<&'a Value>, Option<&'a Value>)> {
    let mut taken = vec![false; new.len()];
    let mut pairs = Vec::new();
    for (i, o) in old.iter().enumerate() {
        let m = matcher(o, i, new, &taken);
        if let Some(j) = m {
            taken[j] = true;
        }
        pairs.push((Some(o), m.and_then(|j| new.get(j))));
    }
    pairs.extend(
        new.iter()
            .zip(&taken)
            .filter(|(_, t)| !**t)
            .map(|(n, _)| (None, Some(n))),
    );
    pairs
}

/// findServiceMatch: position 1, port label 2, name 3; a match needs more than 2.
fn service_match(s: &Value, index: usize, candidates: &[Value], taken: &[bool]) -> Option<usize> {
    let mut best: Option<(usize, u32)> = None;
    for (i, c) in candidates.iter().enumerate().filter(|(i, _)| !taken[*i]) {
        let score = u32::from(i == index)
            + 2 * u32::from(str_of(s, "PortLabel") == str_of(c, "PortLabel"))
            + 3 * u32::from(str_of(s, "Name") == str_of(c, "Name"));
        if score > 2 && best.is_none_or(|(_, b)| score > b) {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| i)
}

pub(crate) fn service_diffs(old: &[Value], new: &[Value]) -> Vec<ObjectDiff> {
    let pairs = if old.len() == 1 && new.len() == 1 {
        vec![(old.first(), new.first())]
    } else {
        pair_up(old, new, service_match)
    };
    let mut out: Vec<ObjectDiff> = pairs
        .into_iter()
        .filter_map(|(o, n)| service_diff(o, n))
        .collect();
    sort_objects(&mut out);
    out
}

fn service_diff(old: Option<&Value>, new: Option<&Value>) -> Option<ObjectDiff> {
    let mut diff = struct_diff(old, new, &[], "Service", CONTEXTUAL)?;
    let (o, n) = (old.unwrap_or(&Value::Null), new.unwrap_or(&Value::Null));
    for key in ["CanaryTags", "Tags"] {
        diff.objects.extend(string_set_diff(
            arr_of(o, key),
            arr_of(n, key),
            key,
            CONTEXTUAL,
        ));
    }
    diff.objects
        .extend(check_diffs(arr_of(o, "Checks"), arr_of(n, "Checks")));
    diff.objects.extend(struct_diff(
        get(o, "Connect"),
        get(n, "Connect"),
        &[],
        "ConsulConnect",
        CONTEXTUAL,
    ));
    Some(diff)
}

/// serviceCheckDiffs: checks matched by name.
fn check_diffs(old: &[Value], new: &[Value]) -> Vec<ObjectDiff> {
    let by_name = |c: &Value, _: usize, cands: &[Value], taken: &[bool]| {
        cands
            .iter()
            .enumerate()
            .position(|(i, x)| !taken[i] && str_of(x, "Name") == str_of(c, "Name"))
    };
    let mut out: Vec<ObjectDiff> = pair_up(old, new, by_name)
        .into_iter()
        .filter_map(|(o, n)| {
            let mut diff = struct_diff(o, n, &[], "Check", CONTEXTUAL)?;
            diff.objects.extend(full_struct_diff(
                get_in(o, "Header"),
                get_in(n, "Header"),
                "Header",
            ));
            diff.objects.extend(struct_diff(
                get_in(o, "CheckRestart"),
                get_in(n, "CheckRestart"),
                &[],
                "CheckRestart",
                CONTEXTUAL,
            ));
            Some(diff)
        })
        .collect();
    sort_objects(&mut out);
    out
}

/// templateDiffs: templates matched by destination path (Template.DiffID).
pub(crate) fn template_diffs(old: &[Value], new: &[Value]) -> Vec<ObjectDiff> {
    let by_dest = |t: &Value, _: usize, cands: &[Value], taken: &[bool]| {
        cands
            .iter()
            .enumerate()
            .position(|(i, x)| !taken[i] && str_of(x, "DestPath") == str_of(t, "DestPath"))
    };
    let pairs = if old.len() == 1 && new.len() == 1 {
        vec![(old.first(), new.first())]
    } else {
        pair_up(old, new, by_dest)
    };
    let mut out: Vec<ObjectDiff> = pairs
        .into_iter()
        .filter_map(|(o, n)| {
            let mut diff = struct_diff(o, n, &[], "Template", CONTEXTUAL)?;
            // diff.go names the wait-config object "Template" too.
            diff.objects.extend(full_struct_diff(
                get_in(o, "Wait"),
                get_in(n, "Wait"),
                "Template",
            ));
            let script = struct_diff(
                get_in(o, "ChangeScript"),
                get_in(n, "ChangeScript"),
                &[],
                "ChangeScript",
                CONTEXTUAL,
            );
            diff.objects.extend(script);
            Some(diff)
        })
        .collect();
    sort_objects(&mut out);
    out
}

pub(crate) fn resources_diff(old: Option<&Value>, new: Option<&Value>) -> Option<ObjectDiff> {
    let mut diff = struct_diff(old, new, &[], "Resources", CONTEXTUAL)?;
    diff.objects.extend(network_diffs(
        arr_in(old, "Networks"),
        arr_in(new, "Networks"),
    ));
    Some(diff)
}

/// networkResourceDiffs: networks matched by content, so a change is a Deleted/Added pair.
pub(crate) fn network_diffs(old: &[Value], new: &[Value]) -> Vec<ObjectDiff> {
    let full = |v: &Value| Value::Object(shape(v, NETWORK));
    let (old, new): (Vec<Value>, Vec<Value>) = (
        old.iter().map(full).collect(),
        new.iter().map(full).collect(),
    );
    let mut out: Vec<ObjectDiff> = Vec::new();
    for o in old.iter().filter(|o| !new.contains(o)) {
        out.extend(network_diff(Some(o), None));
    }
    for n in new.iter().filter(|n| !old.contains(n)) {
        out.extend(network_diff(None, Some(n)));
    }
    sort_objects(&mut out);
    out
}

fn network_diff(old: Option<&Value>, new: Option<&Value>) -> Option<ObjectDiff> {
    let skip = ["Device", "CIDR", "IP", "MBits"];
    let mut diff = struct_diff(old, new, &skip, "Network", CONTEXTUAL)?;
    let (o, n) = (old.unwrap_or(&Value::Null), new.unwrap_or(&Value::Null));
    diff.objects.extend(port_diffs(
        arr_of(o, "ReservedPorts"),
        arr_of(n, "ReservedPorts"),
        false,
    ));
    diff.objects.extend(port_diffs(
        arr_of(o, "DynamicPorts"),
        arr_of(n, "DynamicPorts"),
        true,
    ));
    Some(diff)
}

fn port_diffs(old: &[Value], new: &[Value], dynamic: bool) -> Vec<ObjectDiff> {
    let (name, skip): (&str, &[&str]) = if dynamic {
        ("Dynamic Port", &["Value", "IgnoreCollision"])
    } else {
        ("Static Port", &[])
    };
    let full = |v: &Value| Value::Object(shape(v, PORT));
    let find =
        |set: &[Value], label: &str| set.iter().find(|p| str_of(p, "Label") == label).map(full);
    let mut out: Vec<ObjectDiff> = Vec::new();
    for o in old {
        let n = find(new, str_of(o, "Label"));
        out.extend(primitive_object_diff(
            Some(&full(o)),
            n.as_ref(),
            skip,
            name,
            CONTEXTUAL,
        ));
    }
    for n in new
        .iter()
        .filter(|n| find(old, str_of(n, "Label")).is_none())
    {
        out.extend(primitive_object_diff(
            None,
            Some(&full(n)),
            skip,
            name,
            CONTEXTUAL,
        ));
    }
    sort_objects(&mut out);
    out
}
