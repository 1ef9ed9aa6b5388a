//! Merging one message's schema across Kafka releases.
//!
//! Each version is owned by the newest tree whose `validVersions` holds it.
//! A field's presence, nullability, tagging and flexibility are taken from
//! each tree only for the versions that tree owns, and the union is one
//! Rust type covering every field of every version.

use std::collections::BTreeMap;

use crate::schema::{FType, FieldSpec, Kind, Schema, VersionSet};

#[derive(Clone, Debug)]
pub struct MField {
    pub name: String,
    pub ty: FType,
    /// Versions where the field is on the wire (regular or tagged).
    pub present: VersionSet,
    pub tagged: VersionSet,
    pub tag: Option<u32>,
    pub nullable: VersionSet,
    /// Versions where the field uses compact (flexible) encodings.
    pub compact: VersionSet,
    pub default: Option<String>,
    pub ignorable: bool,
}

impl MField {
    pub fn regular(&self) -> VersionSet {
        self.present.minus(self.tagged)
    }
    /// Whether the Rust type is an `Option`.
    pub fn optional(&self) -> bool {
        !self.nullable.is_empty() || self.default.as_deref() == Some("null")
    }
}

#[derive(Clone, Debug)]
pub struct MStruct {
    pub name: String,
    pub fields: Vec<MField>,
}

#[derive(Clone, Debug)]
pub struct MMessage {
    pub name: String,
    pub kind: Kind,
    pub api_key: Option<i16>,
    pub valid: VersionSet,
    pub flexible: VersionSet,
    pub unstable: VersionSet,
    pub listeners: Vec<String>,
    /// Which tree label owns each version, for documentation.
    pub owners: Vec<(String, VersionSet)>,
    /// The top-level struct first.
    pub structs: Vec<MStruct>,
}

/// Merges the same message from several trees, highest priority first.
pub fn merge(trees: &[(&str, &Schema)]) -> MMessage {
    let first = trees[0].1;
    let name = first.name.clone();
    let mut valid = VersionSet::EMPTY;
    let mut owned: Vec<VersionSet> = Vec::new();
    for (_, s) in trees {
        assert_eq!(s.kind, first.kind, "{name}: kind differs between trees");
        assert_eq!(
            s.api_key, first.api_key,
            "{name}: api key differs between trees"
        );
        owned.push(s.valid.minus(valid));
        valid = valid.union(s.valid);
    }
    let runs = valid.runs();
    assert!(
        runs.len() <= 1,
        "{name}: valid versions not contiguous: {valid:?}"
    );
    let mut flexible = VersionSet::EMPTY;
    let mut unstable = VersionSet::EMPTY;
    for ((_, s), own) in trees.iter().zip(&owned) {
        flexible = flexible.union(s.flexible.inter(*own));
        if s.latest_unstable {
            if let Some(max) = s.valid.max() {
                unstable = unstable.union(VersionSet::range(max as u32, max as u32).inter(*own));
            }
        }
    }
    if let Some(lo) = flexible.min() {
        assert_eq!(
            flexible,
            valid.inter(VersionSet::parse(&format!("{lo}+"), &name)),
            "{name}: flexible versions are not a suffix"
        );
    }

    // Struct names in first-seen order: the top-level struct first.
    let mut order: Vec<String> = vec![name.clone()];
    for (_, s) in trees {
        for sname in s.structs.keys() {
            if *sname != s.name && !order.contains(sname) {
                order.push(sname.clone());
            }
        }
    }
    let mut structs = Vec::new();
    for sname in &order {
        let mut fields: Vec<MField> = Vec::new();
        for ((_, s), own) in trees.iter().zip(&owned) {
            let Some(spec) = lookup(s, &name, sname) else {
                continue;
            };
            let mut prev_name: Option<String> = None;
            for f in &spec.fields {
                let m = restrict(f, *own, s.flexible);
                match fields.iter_mut().find(|x| x.name == f.name) {
                    Some(x) => {
                        // A tree that owns no version with the field says
                        // nothing about its type on the wire: Kafka 4.4 reused
                        // the name `AcceptableRecoveryLag` (an int32 in 4.3's
                        // v0) for an int64 from v1, and renamed the old field.
                        // Its `ignorable` still counts: it tells whether the
                        // versions it owns may drop the field.
                        assert!(
                            m.present.is_empty() || x.ty == m.ty,
                            "{name}.{sname}.{}: type differs between trees ({:?} and {:?})",
                            f.name,
                            x.ty,
                            m.ty
                        );
                        if m.tag.is_some() && x.tag.is_some() {
                            assert_eq!(x.tag, m.tag, "{name}.{sname}.{}: tag differs", f.name);
                        }
                        x.tag = x.tag.or(m.tag);
                        x.present = x.present.union(m.present);
                        x.tagged = x.tagged.union(m.tagged);
                        x.nullable = x.nullable.union(m.nullable);
                        x.compact = x.compact.union(m.compact);
                        x.ignorable |= m.ignorable;
                    }
                    None if m.present.is_empty() => {
                        // Only in versions a newer tree owns and dropped there.
                        continue;
                    }
                    None => {
                        let pos = match &prev_name {
                            Some(p) => fields
                                .iter()
                                .position(|x| &x.name == p)
                                .map_or(0, |i| i + 1),
                            None => 0,
                        };
                        fields.insert(pos, m);
                    }
                }
                prev_name = Some(f.name.clone());
            }
        }
        structs.push(MStruct {
            name: sname.clone(),
            fields,
        });
    }

    // Drop structs no field reaches (e.g. an old tree's names for a renamed API).
    let mut reachable = vec![name.clone()];
    let mut i = 0;
    while i < reachable.len() {
        let st = structs
            .iter()
            .find(|s| s.name == reachable[i])
            .expect("struct");
        for f in &st.fields {
            if let Some(n) = f.ty.struct_name() {
                if !reachable.iter().any(|r| r == n) {
                    reachable.push(n.to_string());
                }
            }
        }
        i += 1;
    }
    structs.retain(|s| reachable.contains(&s.name));

    // Each version's wire layout must equal its owning tree's layout.
    for ((label, s), own) in trees.iter().zip(&owned) {
        for v in own.iter() {
            for st in &structs {
                let Some(spec) = lookup(s, &name, &st.name) else {
                    continue;
                };
                let theirs: Vec<&str> = spec
                    .fields
                    .iter()
                    .filter(|f| f.versions.contains(v) && !f.tagged.contains(v))
                    .map(|f| f.name.as_str())
                    .collect();
                let ours: Vec<&str> = st
                    .fields
                    .iter()
                    .filter(|f| f.regular().contains(v))
                    .map(|f| f.name.as_str())
                    .collect();
                assert_eq!(
                    ours, theirs,
                    "{name} v{v} ({label}): {} layout differs",
                    st.name
                );
            }
        }
    }

    let listeners = trees
        .iter()
        .find(|(_, s)| !s.listeners.is_empty())
        .map(|(_, s)| s.listeners.clone())
        .unwrap_or_default();
    MMessage {
        name,
        kind: first.kind,
        api_key: first.api_key,
        valid,
        flexible,
        unstable,
        listeners,
        owners: trees
            .iter()
            .zip(&owned)
            .filter(|(_, o)| !o.is_empty())
            .map(|((l, _), o)| (l.to_string(), *o))
            .collect(),
        structs,
    }
}

/// A tree's struct by merged name; the top-level struct goes by each tree's own name.
fn lookup<'a>(s: &'a Schema, top: &str, sname: &str) -> Option<&'a crate::schema::StructSpec> {
    if sname == top {
        s.structs.get(&s.name)
    } else if sname == s.name {
        None
    } else {
        s.structs.get(sname)
    }
}

fn restrict(f: &FieldSpec, own: VersionSet, msg_flexible: VersionSet) -> MField {
    let present = f.versions.inter(own);
    let field_flex = f.flexible.unwrap_or(VersionSet(!0));
    MField {
        name: f.name.clone(),
        ty: f.ty.clone(),
        present,
        tagged: f.tagged.inter(present),
        tag: f.tag,
        nullable: f.nullable.inter(present),
        compact: msg_flexible.inter(field_flex).inter(present),
        default: f.default.clone(),
        ignorable: f.ignorable,
    }
}

/// Groups schemas by message name across trees, keeping tree priority order.
pub fn group(trees: &[(String, Vec<Schema>)]) -> BTreeMap<String, Vec<(&str, &Schema)>> {
    let mut out: BTreeMap<String, Vec<(&str, &Schema)>> = BTreeMap::new();
    for (label, schemas) in trees {
        for s in schemas {
            // APIs are matched by key, not name: key 74 was renamed between releases.
            let key = match (s.kind, s.api_key) {
                (Kind::Request, Some(k)) => format!("request:{k:03}"),
                (Kind::Response, Some(k)) => format!("response:{k:03}"),
                _ => s.name.clone(),
            };
            out.entry(key).or_default().push((label.as_str(), s));
        }
    }
    out
}
