//! The decisions on cluster objects besides jobs, without I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::objects::*;
use crate::kinds::{Kind, Spec};
use crate::state::ObjectRecord;

fn policy(name: &str, description: &str) -> Spec {
    let mut fields = serde_json::Map::new();
    fields.insert("Description".into(), json!(description));
    fields.insert(
        "Rules".into(),
        json!("namespace \"default\" {\n  policy = \"read\"\n}\n"),
    );
    Spec {
        kind: Kind::AclPolicy,
        name: name.into(),
        namespace: None,
        path: format!("acl/{name}.policy.hcl"),
        fields,
        secret: None,
    }
}

fn record(spec: &Spec, applied: bool) -> ObjectRecord {
    ObjectRecord {
        kind: spec.kind,
        name: spec.name.clone(),
        namespace: spec.namespace.clone(),
        path: spec.path.clone(),
        fingerprint: applied.then(|| spec.fingerprint()),
        id: None,
        delete_refused: None,
    }
}

fn live(spec: &Spec, owner: Owner) -> Option<LiveObject> {
    let mut value = Value::Object(spec.fields.clone());
    value["Name"] = json!(spec.name);
    Some(LiveObject { value, owner })
}

fn settings() -> ObjectSettings {
    ObjectSettings {
        adopt: false,
        self_heal: false,
        prune: BTreeSet::new(),
        max_prune_fraction: 0.5,
        allow_mass_prune: false,
        check_all: false,
    }
}

fn decide(
    desired: &[Spec],
    known: &[ObjectRecord],
    live: Vec<(&Spec, Option<LiveObject>)>,
    settings: &ObjectSettings,
) -> Vec<Decision> {
    let known: BTreeMap<String, ObjectRecord> = known
        .iter()
        .map(|r| (format!("acl_policy/{}", r.name), r.clone()))
        .collect();
    let live = live.into_iter().map(|(s, l)| (s.key(), l)).collect();
    reconcile_objects(desired, &known, &live, &BTreeSet::new(), settings)
        .into_iter()
        .map(|a| a.decision)
        .collect()
}

#[test]
fn only_objects_whose_file_changed_are_read_unless_everything_is_checked() {
    let (same, changed, new) = (policy("a", "x"), policy("b", "y"), policy("c", "z"));
    let known: BTreeMap<String, ObjectRecord> = [
        (same.key(), record(&same, true)),
        (changed.key(), record(&policy("b", "before"), true)),
    ]
    .into_iter()
    .collect();
    let desired = [same.clone(), changed.clone(), new.clone()];
    let keys = objects_to_read(&desired, &known, &settings());
    assert_eq!(keys, BTreeSet::from([changed.key(), new.key()]));
    let all = ObjectSettings {
        check_all: true,
        ..settings()
    };
    assert_eq!(objects_to_read(&desired, &known, &all).len(), 3);
}

#[test]
fn a_gone_file_is_read_only_when_its_kind_is_pruned() {
    let gone = policy("old", "x");
    let known = BTreeMap::from([(gone.key(), record(&gone, true))]);
    assert!(objects_to_read(&[], &known, &settings()).is_empty());
    let pruning = ObjectSettings {
        prune: BTreeSet::from([Kind::AclPolicy]),
        ..settings()
    };
    assert_eq!(
        objects_to_read(&[], &known, &pruning),
        BTreeSet::from([gone.key()])
    );
    // Nomad refused to delete it: asked again only by the drift check.
    let mut refused = record(&gone, true);
    refused.delete_refused = Some("in use".into());
    let known = BTreeMap::from([(gone.key(), refused)]);
    assert!(objects_to_read(&[], &known, &pruning).is_empty());
    let whole = ObjectSettings {
        max_prune_fraction: 1.0,
        ..pruning.clone()
    };
    let actions = reconcile_objects(&[], &known, &BTreeMap::new(), &BTreeSet::new(), &whole);
    assert_eq!(
        actions[0].decision,
        Decision::DeleteRefused("in use".into())
    );
    let all = ObjectSettings {
        check_all: true,
        ..pruning
    };
    assert_eq!(objects_to_read(&[], &known, &all).len(), 1);
}

#[test]
fn absent_is_created_equal_is_left_and_a_changed_file_updates_the_fields_it_sets() {
    let spec = policy("a", "new");
    let decisions = decide(
        std::slice::from_ref(&spec),
        &[],
        vec![(&spec, None)],
        &settings(),
    );
    assert_eq!(decisions, [Decision::Create]);
    let decisions = decide(
        std::slice::from_ref(&spec),
        &[record(&spec, true)],
        vec![(&spec, live(&spec, Owner::ThisSource))],
        &settings(),
    );
    assert_eq!(decisions, [Decision::Unchanged]);
    let old = policy("a", "old");
    let decisions = decide(
        std::slice::from_ref(&spec),
        &[record(&old, true)],
        vec![(&spec, live(&old, Owner::ThisSource))],
        &settings(),
    );
    let [Decision::Update(changes)] = decisions.as_slice() else {
        panic!("{decisions:?}")
    };
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["Description"]);
}

#[test]
fn a_difference_with_an_unchanged_file_is_drift_put_back_only_with_self_heal() {
    let spec = policy("a", "git");
    let by_hand = policy("a", "by hand");
    let run = |settings: &ObjectSettings| {
        decide(
            std::slice::from_ref(&spec),
            &[record(&spec, true)],
            vec![(&spec, live(&by_hand, Owner::ThisSource))],
            settings,
        )
    };
    assert!(matches!(
        run(&settings()).as_slice(),
        [Decision::Drift { heal: false, .. }]
    ));
    let heal = ObjectSettings {
        self_heal: true,
        ..settings()
    };
    assert!(matches!(
        run(&heal).as_slice(),
        [Decision::Drift { heal: true, .. }]
    ));
}

#[test]
fn an_object_not_the_sources_is_left_alone_unless_adopted() {
    let spec = policy("a", "git");
    let theirs = policy("a", "theirs");
    let run = |owner: Owner, settings: &ObjectSettings| {
        decide(
            std::slice::from_ref(&spec),
            &[],
            vec![(&spec, live(&theirs, owner))],
            settings,
        )
    };
    assert_eq!(
        run(Owner::Nobody, &settings()),
        [Decision::NotOwned(Owner::Nobody)]
    );
    let adopt = ObjectSettings {
        adopt: true,
        ..settings()
    };
    assert!(matches!(run(Owner::Nobody, &adopt).as_slice(), [Decision::Adopt(c)] if c.len() == 1));
    // Another source's object is never adopted.
    let other = Owner::Other("ops".into());
    assert_eq!(run(other.clone(), &adopt), [Decision::NotOwned(other)]);
}

#[test]
fn a_gone_file_is_kept_unless_its_kind_is_pruned_and_every_guard_passes() {
    let (a, b) = (policy("a", "x"), policy("b", "y"));
    let known = [record(&a, true), record(&b, true)];
    let kept = decide(
        std::slice::from_ref(&b),
        &known,
        vec![(&a, live(&a, Owner::ThisSource))],
        &settings(),
    );
    assert!(
        matches!(&kept[1], Decision::Kept(why) if why.contains("prune_kinds")),
        "{kept:?}"
    );
    let pruning = ObjectSettings {
        prune: BTreeSet::from([Kind::AclPolicy]),
        ..settings()
    };
    let pruned = decide(
        std::slice::from_ref(&b),
        &known,
        vec![(&a, live(&a, Owner::ThisSource))],
        &pruning,
    );
    assert_eq!(pruned[1], Decision::Prune);
    let gone = decide(std::slice::from_ref(&b), &known, vec![(&a, None)], &pruning);
    assert_eq!(gone[1], Decision::Forget);
    let taken = decide(
        std::slice::from_ref(&b),
        &known,
        vec![(&a, live(&a, Owner::Nobody))],
        &pruning,
    );
    assert!(matches!(&taken[1], Decision::Kept(why) if why.contains("no longer")));
    // Both files gone: more than half of the kind, refused.
    let both = decide(
        &[],
        &known,
        vec![
            (&a, live(&a, Owner::ThisSource)),
            (&b, live(&b, Owner::ThisSource)),
        ],
        &pruning,
    );
    assert!(
        both.iter()
            .all(|d| matches!(d, Decision::Kept(why) if why.contains("max_prune_fraction")))
    );
    // A policy file that did not parse might define it: nothing of the kind is pruned.
    let known_map: BTreeMap<String, ObjectRecord> = known
        .iter()
        .map(|r| (format!("acl_policy/{}", r.name), r.clone()))
        .collect();
    let live_map = BTreeMap::from([(a.key(), live(&a, Owner::ThisSource))]);
    let unparsed = BTreeSet::from([Kind::AclPolicy]);
    let actions = reconcile_objects(&[b], &known_map, &live_map, &unparsed, &pruning);
    assert!(matches!(&actions[1].decision, Decision::Kept(why) if why.contains("did not parse")));
}
