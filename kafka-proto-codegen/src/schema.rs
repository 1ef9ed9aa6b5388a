//! Reading Kafka's JSON message schemas (JSON with `//` comments).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;

/// A set of versions, one bit per version 0..=63.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct VersionSet(pub u64);

impl VersionSet {
    pub const EMPTY: VersionSet = VersionSet(0);

    pub fn parse(s: &str, ctx: &str) -> VersionSet {
        let s = s.trim();
        if s.is_empty() || s == "none" {
            return VersionSet::EMPTY;
        }
        let num = |t: &str| -> u32 {
            t.trim()
                .parse::<u32>()
                .unwrap_or_else(|_| panic!("{ctx}: bad version spec {s:?}"))
        };
        if let Some(lo) = s.strip_suffix('+') {
            let lo = num(lo);
            VersionSet(!0u64 << lo)
        } else if let Some((lo, hi)) = s.split_once('-') {
            VersionSet::range(num(lo), num(hi))
        } else {
            let v = num(s);
            VersionSet::range(v, v)
        }
    }

    pub fn range(lo: u32, hi: u32) -> VersionSet {
        assert!(lo <= hi && hi < 64, "bad range {lo}-{hi}");
        let hi_mask = if hi == 63 { !0 } else { (1u64 << (hi + 1)) - 1 };
        VersionSet(hi_mask & (!0u64 << lo))
    }

    pub fn contains(self, v: i16) -> bool {
        (0..64).contains(&v) && self.0 & (1 << v) != 0
    }
    pub fn union(self, o: VersionSet) -> VersionSet {
        VersionSet(self.0 | o.0)
    }
    pub fn inter(self, o: VersionSet) -> VersionSet {
        VersionSet(self.0 & o.0)
    }
    pub fn minus(self, o: VersionSet) -> VersionSet {
        VersionSet(self.0 & !o.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn min(self) -> Option<i16> {
        (!self.is_empty()).then(|| self.0.trailing_zeros() as i16)
    }
    pub fn max(self) -> Option<i16> {
        (!self.is_empty()).then(|| 63 - self.0.leading_zeros() as i16)
    }
    pub fn iter(self) -> impl Iterator<Item = i16> {
        (0..64i16).filter(move |&v| self.contains(v))
    }
    pub fn count(self) -> u32 {
        self.0.count_ones()
    }
    /// Maximal runs of consecutive versions.
    pub fn runs(self) -> Vec<(i16, i16)> {
        let mut out = Vec::new();
        let mut cur: Option<(i16, i16)> = None;
        for v in self.iter() {
            cur = match cur {
                Some((lo, hi)) if hi + 1 == v => Some((lo, v)),
                Some(r) => {
                    out.push(r);
                    Some((v, v))
                }
                None => Some((v, v)),
            };
        }
        out.extend(cur);
        out
    }
}

impl fmt::Debug for VersionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .runs()
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        write!(f, "{{{}}}", parts.join(","))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FType {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Float64,
    String,
    Uuid,
    Bytes,
    Records,
    Array(Box<FType>),
    Struct(String),
}

impl FType {
    pub fn parse(s: &str) -> FType {
        if let Some(inner) = s.strip_prefix("[]") {
            return FType::Array(Box::new(FType::parse(inner)));
        }
        match s {
            "bool" => FType::Bool,
            "int8" => FType::Int8,
            "int16" => FType::Int16,
            "uint16" => FType::Uint16,
            "int32" => FType::Int32,
            "uint32" => FType::Uint32,
            "int64" => FType::Int64,
            "float64" => FType::Float64,
            "string" => FType::String,
            "uuid" => FType::Uuid,
            "bytes" => FType::Bytes,
            "records" => FType::Records,
            other => {
                assert!(
                    other.chars().next().is_some_and(|c| c.is_ascii_uppercase()),
                    "unknown type {other}"
                );
                FType::Struct(other.to_string())
            }
        }
    }

    pub fn struct_name(&self) -> Option<&str> {
        match self {
            FType::Struct(s) => Some(s),
            FType::Array(inner) => inner.struct_name(),
            _ => None,
        }
    }

    pub fn wire_name(&self) -> String {
        match self {
            FType::Bool => "bool".into(),
            FType::Int8 => "int8".into(),
            FType::Int16 => "int16".into(),
            FType::Uint16 => "uint16".into(),
            FType::Int32 => "int32".into(),
            FType::Uint32 => "uint32".into(),
            FType::Int64 => "int64".into(),
            FType::Float64 => "float64".into(),
            FType::String => "string".into(),
            FType::Uuid => "uuid".into(),
            FType::Bytes => "bytes".into(),
            FType::Records => "records".into(),
            FType::Array(i) => format!("[]{}", i.wire_name()),
            FType::Struct(s) => s.clone(),
        }
    }
}

/// One field as a single schema file declares it.
#[derive(Clone, Debug)]
pub struct FieldSpec {
    pub name: String,
    pub ty: FType,
    pub versions: VersionSet,
    pub nullable: VersionSet,
    pub tagged: VersionSet,
    pub tag: Option<u32>,
    pub flexible: Option<VersionSet>,
    pub default: Option<String>,
    pub ignorable: bool,
}

/// A struct (the message itself, an inline struct, or a common struct).
#[derive(Clone, Debug)]
pub struct StructSpec {
    pub fields: Vec<FieldSpec>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    Header,
    Data,
}

/// One schema file.
#[derive(Clone, Debug)]
pub struct Schema {
    pub name: String,
    pub kind: Kind,
    pub api_key: Option<i16>,
    pub valid: VersionSet,
    pub flexible: VersionSet,
    pub listeners: Vec<String>,
    pub latest_unstable: bool,
    /// The top-level struct (named like the message) first, then every
    /// nested and common struct by name.
    pub structs: BTreeMap<String, StructSpec>,
}

/// Removes `//` comments outside string literals.
pub fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for n in chars.by_ref() {
                if n == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn str_or_num(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        other => panic!("unexpected value {other}"),
    }
}

fn parse_fields(
    ctx: &str,
    arr: &[Value],
    structs: &mut BTreeMap<String, StructSpec>,
) -> Vec<FieldSpec> {
    arr.iter()
        .map(|f| {
            let name = f["name"].as_str().expect("field name").to_string();
            let ctx = format!("{ctx}.{name}");
            let ty_s = f["type"].as_str().expect("field type");
            let ty = FType::parse(ty_s);
            let versions = VersionSet::parse(f["versions"].as_str().unwrap_or(""), &ctx);
            let nullable = VersionSet::parse(f["nullableVersions"].as_str().unwrap_or(""), &ctx);
            let tagged = VersionSet::parse(f["taggedVersions"].as_str().unwrap_or(""), &ctx);
            let tag = f
                .get("tag")
                .and_then(str_or_num)
                .map(|t| t.parse().expect("tag"));
            let flexible = f
                .get("flexibleVersions")
                .and_then(|v| v.as_str())
                .map(|s| VersionSet::parse(s, &ctx));
            let default = f.get("default").and_then(str_or_num);
            let ignorable = f
                .get("ignorable")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if let Some(sub) = f.get("fields").and_then(|v| v.as_array()) {
                let sname = ty.struct_name().expect("fields on non-struct").to_string();
                let fields = parse_fields(&ctx, sub, structs);
                let prev = structs.insert(sname.clone(), StructSpec { fields });
                assert!(prev.is_none(), "{ctx}: struct {sname} defined twice");
            }
            FieldSpec {
                name,
                ty,
                versions,
                nullable,
                tagged,
                tag,
                flexible,
                default,
                ignorable,
            }
        })
        .collect()
}

pub fn load(path: &Path) -> Schema {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&strip_comments(&text))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = v["name"].as_str().expect("name").to_string();
    let kind = match v["type"].as_str().expect("type") {
        "request" => Kind::Request,
        "response" => Kind::Response,
        "header" => Kind::Header,
        "data" => Kind::Data,
        other => panic!("{name}: unknown kind {other}"),
    };
    let api_key = v.get("apiKey").and_then(|k| k.as_i64()).map(|k| k as i16);
    let valid = VersionSet::parse(v["validVersions"].as_str().unwrap_or(""), &name);
    let flexible = VersionSet::parse(v["flexibleVersions"].as_str().unwrap_or(""), &name);
    let listeners = v
        .get("listeners")
        .and_then(|l| l.as_array())
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let latest_unstable = v
        .get("latestVersionUnstable")
        .and_then(|b| b.as_bool())
        .unwrap_or(false);
    let mut structs = BTreeMap::new();
    if let Some(common) = v.get("commonStructs").and_then(|c| c.as_array()) {
        for cs in common {
            let sname = cs["name"].as_str().expect("common struct name").to_string();
            let fields = parse_fields(
                &format!("{name}:{sname}"),
                cs["fields"].as_array().expect("common fields"),
                &mut structs,
            );
            let prev = structs.insert(sname.clone(), StructSpec { fields });
            assert!(prev.is_none(), "{name}: struct {sname} defined twice");
        }
    }
    let fields = parse_fields(
        &name,
        v["fields"].as_array().map(|a| a.as_slice()).unwrap_or(&[]),
        &mut structs,
    );
    let prev = structs.insert(name.clone(), StructSpec { fields });
    assert!(prev.is_none(), "{name}: top-level name reused by a struct");
    Schema {
        name,
        kind,
        api_key,
        valid,
        flexible,
        listeners,
        latest_unstable,
        structs,
    }
}
