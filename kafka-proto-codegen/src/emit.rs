//! Writing Rust source for merged messages.

use std::fmt::Write as _;

use crate::merge::{MField, MMessage, MStruct};
use crate::schema::{FType, Kind, VersionSet};

pub fn snake(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                let prev = chars[i - 1];
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
                if prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next_lower)
                {
                    out.push('_');
                }
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
    "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

pub fn field_ident(name: &str) -> String {
    let s = snake(name);
    if matches!(s.as_str(), "self" | "super" | "crate") {
        format!("{s}_")
    } else if KEYWORDS.contains(&s.as_str()) {
        format!("r#{s}")
    } else {
        s
    }
}

/// A local variable for a field, prefixed so no schema name can shadow the
/// generated code's own names (`version`, `buf`, ...).
fn local(ident: &str) -> String {
    format!("f_{}", plain_ident(ident))
}

fn plain_ident(ident: &str) -> &str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

/// A Rust boolean expression testing `version` against `set`, given that
/// `version` is already known to lie in `valid`.
pub fn cond(set: VersionSet, valid: VersionSet) -> String {
    let set = set.inter(valid);
    if set.is_empty() {
        return "false".into();
    }
    if set == valid {
        return "true".into();
    }
    let (vmin, vmax) = (valid.min().unwrap(), valid.max().unwrap());
    let runs = set.runs();
    let one = |&(lo, hi): &(i16, i16)| -> String {
        match (lo <= vmin, hi >= vmax) {
            (true, true) => "true".into(),
            (true, false) if lo == hi => format!("version == {hi}"),
            (true, false) => format!("version <= {hi}"),
            (false, true) => format!("version >= {lo}"),
            (false, false) if lo == hi => format!("version == {lo}"),
            (false, false) => format!("({lo}..={hi}).contains(&version)"),
        }
    };
    if runs.len() == 1 {
        one(&runs[0])
    } else {
        let pats: Vec<String> = runs
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}..={hi}")
                }
            })
            .collect();
        format!("matches!(version, {})", pats.join(" | "))
    }
}

fn set_doc(set: VersionSet) -> String {
    let parts: Vec<String> = set
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
    parts.join(", ")
}

fn base_type(ty: &FType) -> String {
    match ty {
        FType::Bool => "bool".into(),
        FType::Int8 => "i8".into(),
        FType::Int16 => "i16".into(),
        FType::Uint16 => "u16".into(),
        FType::Int32 => "i32".into(),
        FType::Uint32 => "u32".into(),
        FType::Int64 => "i64".into(),
        FType::Float64 => "f64".into(),
        FType::String => "String".into(),
        FType::Uuid => "Uuid".into(),
        FType::Bytes | FType::Records => "Bytes".into(),
        FType::Array(e) => format!("Vec<{}>", base_type(e)),
        FType::Struct(s) => s.clone(),
    }
}

fn rust_type(f: &MField) -> String {
    if f.optional() {
        format!("Option<{}>", base_type(&f.ty))
    } else {
        base_type(&f.ty)
    }
}

fn parse_int(d: &str) -> i128 {
    let d = d.trim();
    if let Some(h) = d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
        i128::from_str_radix(h, 16).unwrap_or_else(|_| panic!("bad hex default {d}"))
    } else if let Some(h) = d.strip_prefix("-0x") {
        -i128::from_str_radix(h, 16).unwrap_or_else(|_| panic!("bad hex default {d}"))
    } else {
        d.parse().unwrap_or_else(|_| panic!("bad int default {d}"))
    }
}

fn base_default(ty: &FType, d: Option<&str>, ctx: &str) -> String {
    let d = d.filter(|s| !s.is_empty());
    match ty {
        FType::Bool => match d {
            None | Some("false") => "false".into(),
            Some("true") => "true".into(),
            Some(o) => panic!("{ctx}: bad bool default {o}"),
        },
        FType::Int8
        | FType::Int16
        | FType::Uint16
        | FType::Int32
        | FType::Uint32
        | FType::Int64 => {
            let v = d.map(parse_int).unwrap_or(0);
            let (lo, hi): (i128, i128) = match ty {
                FType::Int8 => (i8::MIN.into(), i8::MAX.into()),
                FType::Int16 => (i16::MIN.into(), i16::MAX.into()),
                FType::Uint16 => (0, u16::MAX.into()),
                FType::Int32 => (i32::MIN.into(), i32::MAX.into()),
                FType::Uint32 => (0, u32::MAX.into()),
                _ => (i64::MIN.into(), i64::MAX.into()),
            };
            assert!((lo..=hi).contains(&v), "{ctx}: default {v} out of range");
            v.to_string()
        }
        FType::Float64 => {
            let v: f64 = d.map(|s| s.parse().expect("float default")).unwrap_or(0.0);
            format!("{v:?}")
        }
        FType::String => match d {
            None => "String::new()".into(),
            Some(s) => format!("String::from({s:?})"),
        },
        FType::Uuid => "Uuid::ZERO".into(),
        FType::Bytes | FType::Records => "Bytes::new()".into(),
        FType::Array(e) => format!("Vec::<{}>::new()", base_type(e)),
        FType::Struct(s) => format!("{s}::default()"),
    }
}

fn default_expr(f: &MField, ctx: &str) -> String {
    let d = f.default.as_deref();
    if f.optional() {
        if d == Some("null") {
            "None".into()
        } else {
            format!("Some({})", base_default(&f.ty, d, ctx))
        }
    } else {
        assert!(
            d != Some("null"),
            "{ctx}: null default on non-nullable field"
        );
        base_default(&f.ty, d, ctx)
    }
}

fn min_size(ty: &FType) -> usize {
    match ty {
        FType::Int16 | FType::Uint16 => 2,
        FType::Int32 | FType::Uint32 => 4,
        FType::Int64 | FType::Float64 => 8,
        FType::Uuid => 16,
        _ => 1,
    }
}

/// Generates the code for reading one value of `ty` (not nullable) from `buf`.
fn read_base(ty: &FType, compact: &str, what: &str) -> String {
    match ty {
        FType::Bool => format!("codec::read_bool(buf, {what:?})?"),
        FType::Int8 => format!("codec::read_i8(buf, {what:?})?"),
        FType::Int16 => format!("codec::read_i16(buf, {what:?})?"),
        FType::Uint16 => format!("codec::read_u16(buf, {what:?})?"),
        FType::Int32 => format!("codec::read_i32(buf, {what:?})?"),
        FType::Uint32 => format!("codec::read_u32(buf, {what:?})?"),
        FType::Int64 => format!("codec::read_i64(buf, {what:?})?"),
        FType::Float64 => format!("codec::read_f64(buf, {what:?})?"),
        FType::Uuid => format!("codec::read_uuid(buf, {what:?})?"),
        FType::String => format!("codec::read_string(buf, {compact}, {what:?})?"),
        FType::Bytes | FType::Records => format!("codec::read_bytes(buf, {compact}, {what:?})?"),
        FType::Struct(s) => format!("<{s} as Message>::decode(buf, version)?"),
        FType::Array(e) => match bulk_reader(e) {
            // Fixed-width elements: the length check already covered all of
            // them, so they are converted in one pass.
            Some(reader) => format!(
                "{{ let n = codec::read_array_len(buf, {compact}, {min}, {what:?})?; \
                 codec::{reader}(buf, n, {what:?})? }}",
                min = min_size(e),
            ),
            None => format!(
                "{{ let n = codec::read_array_len(buf, {compact}, {min}, {what:?})?; \
                 let mut items = Vec::with_capacity(codec::capacity(n)); \
                 for _ in 0..n {{ items.push({elem}); }} items }}",
                min = min_size(e),
                elem = read_base(e, compact, what),
            ),
        },
    }
}

/// The `codec` function reading `n` fixed-width `ty` values at once, if any.
fn bulk_reader(ty: &FType) -> Option<&'static str> {
    match ty {
        FType::Int16 => Some("read_i16_array"),
        FType::Uint16 => Some("read_u16_array"),
        FType::Int32 => Some("read_i32_array"),
        FType::Uint32 => Some("read_u32_array"),
        FType::Int64 => Some("read_i64_array"),
        FType::Float64 => Some("read_f64_array"),
        _ => None,
    }
}

/// Generates the code for reading a possibly-null value of `ty`.
fn read_nullable(ty: &FType, compact: &str, what: &str) -> String {
    match ty {
        FType::String => format!("codec::read_nullable_string(buf, {compact}, {what:?})?"),
        FType::Bytes | FType::Records => format!("codec::read_nullable_bytes(buf, {compact}, {what:?})?"),
        FType::Struct(s) => format!(
            "if codec::read_i8(buf, {what:?})? < 0 {{ None }} else {{ Some(<{s} as Message>::decode(buf, version)?) }}"
        ),
        FType::Array(e) => match bulk_reader(e) {
            Some(reader) => format!(
                "match codec::read_nullable_array_len(buf, {compact}, {min}, {what:?})? {{ None => None, \
                 Some(n) => Some(codec::{reader}(buf, n, {what:?})?) }}",
                min = min_size(e),
            ),
            None => format!(
                "match codec::read_nullable_array_len(buf, {compact}, {min}, {what:?})? {{ None => None, Some(n) => {{ \
                 let mut items = Vec::with_capacity(codec::capacity(n)); \
                 for _ in 0..n {{ items.push({elem}); }} Some(items) }} }}",
                min = min_size(e),
                elem = read_base(e, compact, what),
            ),
        },
        other => panic!("{what}: type {other:?} cannot be nullable"),
    }
}

fn read_field(f: &MField, valid: VersionSet, compact: &str, what: &str) -> String {
    if f.optional() {
        let nc = cond(f.nullable, valid);
        match nc.as_str() {
            "true" => read_nullable(&f.ty, compact, what),
            "false" => format!("Some({})", read_base(&f.ty, compact, what)),
            _ => format!(
                "if {nc} {{ {} }} else {{ Some({}) }}",
                read_nullable(&f.ty, compact, what),
                read_base(&f.ty, compact, what)
            ),
        }
    } else {
        read_base(&f.ty, compact, what)
    }
}

/// Generates statements writing `val` (an expression of type `&T`).
fn write_base(ty: &FType, val: &str, compact: &str, what: &str) -> String {
    match ty {
        FType::Bool => format!("codec::put_bool(buf, *{val});"),
        FType::Int8 => format!("codec::put_i8(buf, *{val});"),
        FType::Int16 => format!("codec::put_i16(buf, *{val});"),
        FType::Uint16 => format!("codec::put_u16(buf, *{val});"),
        FType::Int32 => format!("codec::put_i32(buf, *{val});"),
        FType::Uint32 => format!("codec::put_u32(buf, *{val});"),
        FType::Int64 => format!("codec::put_i64(buf, *{val});"),
        FType::Float64 => format!("codec::put_f64(buf, *{val});"),
        FType::Uuid => format!("codec::put_uuid(buf, {val});"),
        FType::String => format!("codec::put_string(buf, {val}, {compact}, {what:?})?;"),
        FType::Bytes | FType::Records => format!("codec::put_bytes(buf, {val}, {compact}, {what:?})?;"),
        FType::Struct(_) => format!("Message::encode({val}, buf, version)?;"),
        FType::Array(e) => format!(
            "codec::put_array_len(buf, Some(({val}).len()), {compact}, {what:?})?; for item in ({val}).iter() {{ {} }}",
            write_base(e, "item", compact, what)
        ),
    }
}

fn write_null(ty: &FType, compact: &str, what: &str) -> String {
    match ty {
        FType::String => format!("codec::put_nullable_string(buf, None, {compact}, {what:?})?;"),
        FType::Bytes | FType::Records => {
            format!("codec::put_nullable_bytes(buf, None, {compact}, {what:?})?;")
        }
        FType::Struct(_) => "codec::put_i8(buf, -1);".into(),
        FType::Array(_) => format!("codec::put_array_len(buf, None, {compact}, {what:?})?;"),
        other => panic!("{what}: type {other:?} cannot be nullable"),
    }
}

fn write_field(f: &MField, valid: VersionSet, val: &str, compact: &str, what: &str) -> String {
    if !f.optional() {
        return write_base(&f.ty, val, compact, what);
    }
    let some = match &f.ty {
        FType::Struct(_) => format!(
            "codec::put_i8(buf, 1); {}",
            write_base(&f.ty, "v", compact, what)
        ),
        _ => write_base(&f.ty, "v", compact, what),
    };
    let some_plain = write_base(&f.ty, "v", compact, what);
    let nc = cond(f.nullable, valid);
    let nullable_arm = format!(
        "match {val} {{ Some(v) => {{ {some} }} None => {{ {} }} }}",
        write_null(&f.ty, compact, what)
    );
    let strict_arm = format!(
        "match {val} {{ Some(v) => {{ {some_plain} }} None => return Err(EncodeError::NullNotAllowed {{ field: {what:?}, version }}), }}"
    );
    match nc.as_str() {
        "true" => nullable_arm,
        "false" => strict_arm,
        _ => format!("if {nc} {{ {nullable_arm} }} else {{ {strict_arm} }}"),
    }
}

fn strategy_base(ty: &FType) -> String {
    match ty {
        FType::Bool => "any::<bool>()".into(),
        FType::Int8 => "any::<i8>()".into(),
        FType::Int16 => "any::<i16>()".into(),
        FType::Uint16 => "any::<u16>()".into(),
        FType::Int32 => "any::<i32>()".into(),
        FType::Uint32 => "any::<u32>()".into(),
        FType::Int64 => "any::<i64>()".into(),
        FType::Float64 => "arb::float64()".into(),
        FType::Uuid => "arb::uuid()".into(),
        FType::String => "arb::string()".into(),
        FType::Bytes | FType::Records => "arb::bytes()".into(),
        FType::Struct(s) => format!("<{s} as arb::ArbitraryVersioned>::arbitrary(version)"),
        FType::Array(e) => format!("proptest::collection::vec({}, 0..3)", strategy_base(e)),
    }
}

fn strategy_field(f: &MField, valid: VersionSet, ctx: &str) -> String {
    let pc = cond(f.present, valid);
    let value = if f.optional() {
        let base = strategy_base(&f.ty);
        match cond(f.nullable, valid).as_str() {
            "true" => format!("proptest::option::of({base}).boxed()"),
            "false" => format!("{base}.prop_map(Some).boxed()"),
            nc => format!(
                "if {nc} {{ proptest::option::of({base}).boxed() }} else {{ {base}.prop_map(Some).boxed() }}"
            ),
        }
    } else {
        format!("{}.boxed()", strategy_base(&f.ty))
    };
    let default = default_expr(f, ctx);
    match pc.as_str() {
        "true" => value,
        "false" => format!("Just({default}).boxed()"),
        _ => format!("if {pc} {{ {value} }} else {{ Just({default}).boxed() }}"),
    }
}

fn field_doc(f: &MField) -> String {
    let mut d = format!("`{}`: {}", f.name, f.ty.wire_name());
    let _ = write!(d, "; versions {}", set_doc(f.present));
    if !f.nullable.is_empty() {
        let _ = write!(d, "; nullable in {}", set_doc(f.nullable));
    }
    if let Some(tag) = f.tag {
        let _ = write!(d, "; tag {tag} in {}", set_doc(f.tagged));
    }
    if let Some(def) = &f.default {
        let _ = write!(d, "; default `{def}`");
    }
    if f.ignorable {
        d.push_str("; dropped silently by versions without it");
    }
    d.push('.');
    d
}

fn emit_struct(out: &mut String, m: &MMessage, s: &MStruct) {
    let valid = m.valid;
    let top = s.name == m.name;
    let flexible_cond = cond(m.flexible, valid);
    let (vmin, vmax) = (valid.min().unwrap(), valid.max().unwrap());

    // Type definition.
    if top {
        let kind = match m.kind {
            Kind::Request => "request",
            Kind::Response => "response",
            Kind::Header => "header",
            Kind::Data => "data schema",
        };
        let _ = writeln!(
            out,
            "/// The `{}` {kind}, versions {}.",
            m.name,
            set_doc(valid)
        );
        if let Some(f) = m.flexible.min() {
            let _ = writeln!(
                out,
                "///\n/// Versions {f} and later are flexible (compact encodings, tagged fields)."
            );
        }
        if !m.unstable.is_empty() {
            let _ = writeln!(
                out,
                "///\n/// Version(s) {} are unstable: their layout may change and they are never negotiated by default.",
                set_doc(m.unstable)
            );
        }
    } else {
        let _ = writeln!(out, "/// The `{}` structure inside [`{}`].", s.name, m.name);
    }
    out.push_str("#[derive(Debug, Clone, PartialEq)]\n#[non_exhaustive]\n");
    let _ = writeln!(out, "pub struct {} {{", s.name);
    for f in &s.fields {
        let _ = writeln!(out, "    /// {}", field_doc(f));
        let _ = writeln!(out, "    pub {}: {},", field_ident(&f.name), rust_type(f));
    }
    out.push_str("    /// Tagged fields this library does not know, kept so that re-encoding loses nothing.\n");
    out.push_str("    pub unknown_tagged_fields: UnknownTaggedFields,\n}\n\n");

    // Default.
    let _ = writeln!(
        out,
        "impl Default for {} {{\n    fn default() -> Self {{\n        Self {{",
        s.name
    );
    for f in &s.fields {
        let ctx = format!("{}.{}", s.name, f.name);
        let _ = writeln!(
            out,
            "            {}: {},",
            field_ident(&f.name),
            default_expr(f, &ctx)
        );
    }
    out.push_str(
        "            unknown_tagged_fields: UnknownTaggedFields::new(),\n        }\n    }\n}\n\n",
    );

    // Builders.
    if !s.fields.is_empty() {
        let _ = writeln!(out, "impl {} {{", s.name);
        for f in &s.fields {
            let id = field_ident(&f.name);
            let _ = writeln!(
                out,
                "    /// Sets `{}` and returns `self`.\n    pub fn with_{}(mut self, value: {}) -> Self {{\n        self.{id} = value;\n        self\n    }}",
                plain_ident(&id),
                plain_ident(&id),
                rust_type(f)
            );
        }
        out.push_str("}\n\n");
    }

    // Message impl.
    let _ = writeln!(out, "impl Message for {} {{", s.name);
    let _ = writeln!(out, "    const NAME: &'static str = {:?};", s.name);
    let _ = writeln!(
        out,
        "    const VERSIONS: RangeInclusive<i16> = {vmin}..={vmax};"
    );
    let _ = writeln!(
        out,
        "    const FLEXIBLE_FROM: Option<i16> = {:?};",
        m.flexible.min()
    );

    // encode
    out.push_str(
        "\n    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {\n",
    );
    let _ = writeln!(
        out,
        "        if !Self::VERSIONS.contains(&version) {{ return Err(EncodeError::UnsupportedVersion {{ what: {:?}, version }}); }}",
        s.name
    );
    let any_flex = !m.flexible.is_empty();
    if any_flex {
        let _ = writeln!(out, "        let flexible = {flexible_cond};");
    }
    for f in &s.fields {
        let id = field_ident(&f.name);
        let what = format!("{}.{}", s.name, f.name);
        let ctx = what.clone();
        let rc = cond(f.regular(), valid);
        let pc = cond(f.present, valid);
        let compact = cond(f.compact, valid);
        let write = write_field(f, valid, &format!("&self.{id}"), &compact, &what);
        let guard = if f.ignorable {
            String::new()
        } else {
            format!(
                "if {} self.{id} != {} {{ return Err(EncodeError::FieldNotInVersion {{ field: {what:?}, version }}); }}",
                if pc == "false" { String::new() } else { format!("!({pc}) &&") },
                default_expr(f, &ctx)
            )
        };
        match (rc.as_str(), guard.is_empty()) {
            ("true", _) => {
                let _ = writeln!(out, "        {write}");
            }
            ("false", true) => {}
            ("false", false) => {
                let _ = writeln!(out, "        {guard}");
            }
            (_, true) => {
                let _ = writeln!(out, "        if {rc} {{ {write} }}");
            }
            (_, false) => {
                let _ = writeln!(out, "        if {rc} {{ {write} }} else {{ {guard} }}");
            }
        }
    }
    if any_flex {
        let mut tagged: Vec<&MField> = s.fields.iter().filter(|f| !f.tagged.is_empty()).collect();
        tagged.sort_by_key(|f| f.tag.expect("tagged field without tag"));
        out.push_str("        if flexible {\n");
        if tagged.is_empty() {
            let _ = writeln!(
                out,
                "            codec::put_unknown_tagged_fields(buf, &self.unknown_tagged_fields, {:?})?;",
                s.name
            );
        } else {
            out.push_str("            let mut known = 0usize;\n");
            let mut conds = Vec::new();
            for f in &tagged {
                let id = field_ident(&f.name);
                let ctx = format!("{}.{}", s.name, f.name);
                let c = format!(
                    "{} && self.{id} != {}",
                    cond(f.tagged, valid),
                    default_expr(f, &ctx)
                );
                let _ = writeln!(out, "            if {c} {{ known += 1; }}");
                conds.push(c);
            }
            let _ = writeln!(
                out,
                "            let mut writer = codec::TaggedWriter::start(buf, known, &self.unknown_tagged_fields, {:?})?;",
                s.name
            );
            for (f, c) in tagged.iter().zip(&conds) {
                let id = field_ident(&f.name);
                let what = format!("{}.{}", s.name, f.name);
                let write = write_field(f, valid, &format!("&self.{id}"), "true", &what);
                let _ = writeln!(
                    out,
                    "            if {c} {{ writer.known(buf, {}, |buf| {{ {write} Ok(()) }})?; }}",
                    f.tag.unwrap()
                );
            }
            out.push_str("            writer.finish(buf)?;\n");
        }
        out.push_str("        }\n");
    }
    out.push_str("        Ok(())\n    }\n");

    // decode
    out.push_str("\n    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {\n");
    let _ = writeln!(
        out,
        "        if !Self::VERSIONS.contains(&version) {{ return Err(DecodeError::version({:?}, version)); }}",
        s.name
    );
    if any_flex {
        let _ = writeln!(out, "        let flexible = {flexible_cond};");
    }
    for f in &s.fields {
        let id = field_ident(&f.name);
        let what = format!("{}.{}", s.name, f.name);
        let rc = cond(f.regular(), valid);
        let compact = cond(f.compact, valid);
        let default = default_expr(f, &what);
        let mutability = if f.tagged.is_empty() { "" } else { "mut " };
        let id = local(&id);
        match rc.as_str() {
            "true" => {
                let _ = writeln!(
                    out,
                    "        let {mutability}{id} = {};",
                    read_field(f, valid, &compact, &what)
                );
            }
            "false" => {
                let _ = writeln!(out, "        let {mutability}{id} = {default};");
            }
            _ => {
                let _ = writeln!(
                    out,
                    "        let {mutability}{id} = if {rc} {{ {} }} else {{ {default} }};",
                    read_field(f, valid, &compact, &what)
                );
            }
        }
    }
    if any_flex {
        let mut tagged: Vec<&MField> = s.fields.iter().filter(|f| !f.tagged.is_empty()).collect();
        tagged.sort_by_key(|f| f.tag.unwrap());
        out.push_str("        let mut unknown_tagged_fields = UnknownTaggedFields::new();\n");
        out.push_str("        if flexible {\n");
        let _ = writeln!(
            out,
            "            let count = codec::read_tagged_count(buf, {:?})?;",
            s.name
        );
        out.push_str("            for _ in 0..count {\n");
        let _ = writeln!(
            out,
            "                let (tag, data) = codec::read_tagged_field(buf, {:?})?;",
            s.name
        );
        if tagged.is_empty() {
            out.push_str("                unknown_tagged_fields.insert(tag, data);\n");
        } else {
            out.push_str("                match tag {\n");
            for f in &tagged {
                let id = local(&field_ident(&f.name));
                let what = format!("{}.{}", s.name, f.name);
                let _ = writeln!(
                    out,
                    "                    {} if {} => {{ let mut data = data; let buf = &mut data; {id} = {}; codec::expect_consumed(buf, {what:?})?; }}",
                    f.tag.unwrap(),
                    cond(f.tagged, valid),
                    read_field(f, valid, "true", &what)
                );
            }
            out.push_str("                    _ => { unknown_tagged_fields.insert(tag, data); }\n                }\n");
        }
        out.push_str("            }\n        }\n");
    } else {
        out.push_str("        let unknown_tagged_fields = UnknownTaggedFields::new();\n");
    }
    out.push_str("        Ok(Self {\n");
    for f in &s.fields {
        let id = field_ident(&f.name);
        let _ = writeln!(out, "            {id}: {},", local(&id));
    }
    out.push_str("            unknown_tagged_fields,\n        })\n    }\n}\n\n");

    // proptest strategy
    out.push_str("#[cfg(feature = \"proptest\")]\n");
    let _ = writeln!(out, "impl arb::ArbitraryVersioned for {} {{", s.name);
    out.push_str("    fn arbitrary(version: i16) -> BoxedStrategy<Self> {\n");
    let _ = writeln!(
        out,
        "        let flexible = {};",
        if any_flex {
            flexible_cond.as_str()
        } else {
            "false"
        }
    );
    let mut groups: Vec<String> = Vec::new();
    let mut pats: Vec<String> = Vec::new();
    for chunk in s.fields.chunks(8) {
        let strats: Vec<String> = chunk
            .iter()
            .map(|f| strategy_field(f, valid, &format!("{}.{}", s.name, f.name)))
            .collect();
        let names: Vec<String> = chunk.iter().map(|f| local(&field_ident(&f.name))).collect();
        groups.push(format!("({},)", strats.join(", ")));
        pats.push(format!("({},)", names.join(", ")));
    }
    groups.push("arb::unknown_tagged_fields(flexible)".into());
    pats.push("unknown_tagged_fields".into());
    let names: Vec<String> = s
        .fields
        .iter()
        .map(|f| {
            let id = field_ident(&f.name);
            format!("{id}: {}", local(&id))
        })
        .collect();
    let _ = writeln!(
        out,
        "        ({},).prop_map(|({},)| Self {{ {}{}unknown_tagged_fields }}).boxed()",
        groups.join(", "),
        pats.join(", "),
        names.join(", "),
        if names.is_empty() { "" } else { ", " }
    );
    out.push_str("    }\n}\n\n");
}

pub fn module_name(m: &MMessage) -> String {
    snake(&m.name)
}

pub fn emit_module(m: &MMessage) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "//! `{}`: generated by kafka-proto-codegen; do not edit.",
        m.name
    );
    let owners: Vec<String> = m
        .owners
        .iter()
        .map(|(l, s)| format!("versions {} from the Kafka {l} schema", set_doc(*s)))
        .collect();
    let _ = writeln!(out, "//!\n//! Layout source: {}.", owners.join("; "));
    out.push_str(
        "\n#![allow(unused_mut, unused_variables, clippy::all)]\n\n\
         use std::ops::RangeInclusive;\n\n\
         #[allow(unused_imports)]\nuse bytes::{BufMut, Bytes, BytesMut};\n\n\
         #[allow(unused_imports)]\nuse crate::codec::{self, UnknownTaggedFields, Uuid};\n\
         use crate::error::{DecodeError, EncodeError};\nuse crate::Message;\n\
         #[cfg(feature = \"proptest\")]\n#[allow(unused_imports)]\nuse crate::arbitrary as arb;\n\
         #[cfg(feature = \"proptest\")]\n#[allow(unused_imports)]\nuse proptest::prelude::*;\n\n",
    );
    for s in &m.structs {
        emit_struct(&mut out, m, s);
    }
    out
}

/// The `messages/mod.rs` file: module list, re-exports, `ApiKey`, and the
/// request/response enums.
pub fn emit_mod(msgs: &[MMessage]) -> String {
    let mut out = String::new();
    out.push_str(
        "//! Every Kafka request, response, header and data schema, one module each.\n\
         //!\n//! Generated by kafka-proto-codegen from Kafka's JSON message schemas; do not edit.\n\
         //! Each type covers the union of the fields of all its versions; encoding a\n\
         //! version checks that fields it lacks are at their defaults.\n\n\
         #![allow(clippy::large_enum_variant)]\n\n\
         use std::fmt;\nuse std::ops::RangeInclusive;\n\n\
         use bytes::{Bytes, BytesMut};\n\n\
         use crate::error::{DecodeError, EncodeError};\nuse crate::Message;\n\n",
    );
    for m in msgs {
        let _ = writeln!(out, "pub mod {};", module_name(m));
    }
    out.push('\n');
    for m in msgs {
        let _ = writeln!(out, "pub use {}::{};", module_name(m), m.name);
    }

    // Pair requests and responses by key.
    let mut apis: Vec<(i16, &MMessage, &MMessage)> = Vec::new();
    for req in msgs.iter().filter(|m| m.kind == Kind::Request) {
        let key = req.api_key.expect("request without key");
        let resp = msgs
            .iter()
            .find(|m| m.kind == Kind::Response && m.api_key == Some(key))
            .unwrap_or_else(|| panic!("no response for {}", req.name));
        assert_eq!(
            req.valid, resp.valid,
            "{}: request/response versions differ",
            req.name
        );
        assert_eq!(
            req.flexible, resp.flexible,
            "{}: request/response flexible versions differ",
            req.name
        );
        apis.push((key, req, resp));
    }
    apis.sort_by_key(|a| a.0);
    let api_name = |m: &MMessage| {
        m.name
            .strip_suffix("Request")
            .expect("Request suffix")
            .to_string()
    };

    out.push_str(
        "\n/// A Kafka API, identified on the wire by its 16-bit key.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[non_exhaustive]\n#[repr(i16)]\npub enum ApiKey {\n",
    );
    for (key, req, _) in &apis {
        let _ = writeln!(
            out,
            "    /// `{}` (key {key}).\n    {} = {key},",
            api_name(req),
            api_name(req)
        );
    }
    out.push_str("}\n\n");

    out.push_str(
        "/// A listener kind that serves an API (from the schemas' `listeners`).\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\n#[non_exhaustive]\npub enum Listener {\n\
         \x20   /// Client-facing broker listeners.\n    Broker,\n\
         \x20   /// KRaft controller listeners.\n    Controller,\n\
         \x20   /// Brokers in ZooKeeper mode (Kafka 3.x and older).\n    ZkBroker,\n}\n\n",
    );

    out.push_str("impl ApiKey {\n    /// Every API key, in ascending order.\n    pub const ALL: &'static [ApiKey] = &[\n");
    for (_, req, _) in &apis {
        let _ = writeln!(out, "        ApiKey::{},", api_name(req));
    }
    out.push_str("    ];\n\n");
    out.push_str("    /// The key's wire value.\n    pub const fn id(self) -> i16 {\n        self as i16\n    }\n\n");
    out.push_str("    /// The API's name, e.g. `\"Produce\"`.\n    pub const fn name(self) -> &'static str {\n        match self {\n");
    for (_, req, _) in &apis {
        let _ = writeln!(out, "            ApiKey::{n} => {n:?},", n = api_name(req));
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// Every version this library can encode and decode.\n    pub const fn versions(self) -> RangeInclusive<i16> {\n        match self {\n");
    for (_, req, _) in &apis {
        let _ = writeln!(
            out,
            "            ApiKey::{} => RangeInclusive::new({}, {}),",
            api_name(req),
            req.valid.min().unwrap(),
            req.valid.max().unwrap()
        );
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// The first flexible version, if the API has any.\n    pub const fn flexible_from(self) -> Option<i16> {\n        match self {\n");
    for (_, req, _) in &apis {
        let _ = writeln!(
            out,
            "            ApiKey::{} => {:?},",
            api_name(req),
            req.flexible.min()
        );
    }
    out.push_str("        }\n    }\n\n");
    out.push_str(
        "    /// Whether `version` is flexible (compact encodings, tagged fields).\n\
         \x20   pub fn is_flexible(self, version: i16) -> bool {\n\
         \x20       self.flexible_from().is_some_and(|f| version >= f)\n    }\n\n",
    );
    out.push_str(
        "    /// Whether `version` is marked unstable: its layout may still change, so it\n\
         \x20   /// must not be negotiated unless the application asks for it.\n\
         \x20   pub fn is_unstable(self, version: i16) -> bool {\n        match self {\n",
    );
    for (_, req, _) in &apis {
        if !req.unstable.is_empty() {
            let _ = writeln!(
                out,
                "            ApiKey::{} => {},",
                api_name(req),
                cond(req.unstable, VersionSet(!0)).replace("version >= ", "version == ")
            );
        }
    }
    out.push_str("            _ => false,\n        }\n    }\n\n");
    out.push_str("    /// The listener kinds that serve this API.\n    pub const fn listeners(self) -> &'static [Listener] {\n        match self {\n");
    for (_, req, _) in &apis {
        let ls: Vec<&str> = req
            .listeners
            .iter()
            .map(|l| match l.as_str() {
                "broker" => "Listener::Broker",
                "controller" => "Listener::Controller",
                "zkBroker" => "Listener::ZkBroker",
                other => panic!("unknown listener {other}"),
            })
            .collect();
        let _ = writeln!(
            out,
            "            ApiKey::{} => &[{}],",
            api_name(req),
            ls.join(", ")
        );
    }
    out.push_str("        }\n    }\n\n");
    out.push_str(
        "    /// Whether a client-facing broker listener serves this API.\n\
         \x20   pub fn reaches_broker(self) -> bool {\n        self.listeners().contains(&Listener::Broker)\n    }\n\n\
         \x20   /// The request header version that goes with `version` of this API.\n\
         \x20   pub fn request_header_version(self, version: i16) -> i16 {\n\
         \x20       if self.is_flexible(version) {\n            2\n\
         \x20       } else if self == ApiKey::ControlledShutdown && version == 0 {\n            0\n\
         \x20       } else {\n            1\n        }\n    }\n\n\
         \x20   /// The response header version that goes with `version` of this API.\n\
         \x20   ///\n    /// ApiVersions responses always use header v0, so that a client can read the\n\
         \x20   /// error a broker returns for a version it does not support.\n\
         \x20   pub fn response_header_version(self, version: i16) -> i16 {\n\
         \x20       if self != ApiKey::ApiVersions && self.is_flexible(version) {\n            1\n        } else {\n            0\n        }\n    }\n}\n\n",
    );
    out.push_str(
        "impl fmt::Display for ApiKey {\n    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {\n        f.write_str(self.name())\n    }\n}\n\n\
         /// An API key this library does not know.\n#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]\n\
         #[error(\"unknown API key {0}\")]\npub struct UnknownApiKey(pub i16);\n\n\
         impl TryFrom<i16> for ApiKey {\n    type Error = UnknownApiKey;\n\n    fn try_from(id: i16) -> Result<Self, Self::Error> {\n        match id {\n",
    );
    for (key, req, _) in &apis {
        let _ = writeln!(out, "            {key} => Ok(ApiKey::{}),", api_name(req));
    }
    out.push_str("            other => Err(UnknownApiKey(other)),\n        }\n    }\n}\n\n");

    out.push_str(
        "/// A request message, tied to its API key and response type.\n\
         pub trait Request: Message {\n    /// The API this request belongs to.\n    const API_KEY: ApiKey;\n\
         \x20   /// The matching response.\n    type Response: Message;\n}\n\n",
    );
    for (_, req, resp) in &apis {
        let _ = writeln!(
            out,
            "impl Request for {} {{\n    const API_KEY: ApiKey = ApiKey::{};\n    type Response = {};\n}}\n",
            req.name,
            api_name(req),
            resp.name
        );
    }

    for (enum_name, pick, what) in [
        ("RequestBody", 0usize, "request"),
        ("ResponseBody", 1usize, "response"),
    ] {
        let _ = writeln!(
            out,
            "/// Any {what} body, one variant per API.\n#[derive(Debug, Clone, PartialEq)]\n#[non_exhaustive]\npub enum {enum_name} {{"
        );
        for (_, req, resp) in &apis {
            let ty = if pick == 0 { &req.name } else { &resp.name };
            let _ = writeln!(out, "    /// A `{ty}`.\n    {}({ty}),", api_name(req));
        }
        out.push_str("}\n\n");
        let _ = writeln!(out, "impl {enum_name} {{");
        out.push_str("    /// The API this body belongs to.\n    pub fn api_key(&self) -> ApiKey {\n        match self {\n");
        for (_, req, _) in &apis {
            let _ = writeln!(
                out,
                "            Self::{n}(_) => ApiKey::{n},",
                n = api_name(req)
            );
        }
        out.push_str("        }\n    }\n\n");
        let _ = writeln!(
            out,
            "    /// Decodes a {what} body of `api_key` in `version` from the front of `buf`.\n\
             \x20   ///\n    /// On error the position is reported relative to `buf`'s start.\n\
             \x20   pub fn decode(api_key: ApiKey, version: i16, buf: &mut Bytes) -> Result<Self, DecodeError> {{\n\
             \x20       let start = buf.len();\n        let result = match api_key {{"
        );
        for (_, req, resp) in &apis {
            let ty = if pick == 0 { &req.name } else { &resp.name };
            let _ = writeln!(
                out,
                "            ApiKey::{} => <{ty} as Message>::decode(buf, version).map(Self::{}),",
                api_name(req),
                api_name(req)
            );
        }
        out.push_str("        };\n        result.map_err(|e| e.at(start, buf.len()))\n    }\n\n");
        let _ = writeln!(
            out,
            "    /// Appends the encoding of this body in `version` to `buf`.\n\
             \x20   pub fn encode(&self, version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {{\n        match self {{"
        );
        for (_, req, _) in &apis {
            let _ = writeln!(
                out,
                "            Self::{}(body) => body.encode(buf, version),",
                api_name(req)
            );
        }
        out.push_str("        }\n    }\n");
        if pick == 1 {
            // Quotas throttle through this one field, whatever the API, so
            // a client can account for throttling without knowing every
            // response type.
            out.push_str(
                "\n    /// How long the broker asks the client to hold back (quota\n\
                 \x20   /// throttling), in milliseconds; `None` for APIs without the field.\n\
                 \x20   pub fn throttle_time_ms(&self) -> Option<i32> {\n        match self {\n",
            );
            for (_, req, resp) in &apis {
                let has = resp.structs[0]
                    .fields
                    .iter()
                    .any(|f| f.name == "ThrottleTimeMs");
                let arm = if has {
                    "Some(body.throttle_time_ms)"
                } else {
                    "None"
                };
                let bind = if has { "body" } else { "_" };
                let _ = writeln!(out, "            Self::{}({bind}) => {arm},", api_name(req));
            }
            out.push_str("        }\n    }\n");
        }
        out.push_str("}\n\n");
        let _ = writeln!(
            out,
            "#[cfg(feature = \"proptest\")]\nimpl {enum_name} {{\n\
             \x20   /// A proptest strategy for {what} bodies of `api_key` that encode in `version`.\n\
             \x20   pub fn arbitrary(api_key: ApiKey, version: i16) -> proptest::strategy::BoxedStrategy<Self> {{\n\
             \x20       use proptest::strategy::Strategy;\n        match api_key {{"
        );
        for (_, req, resp) in &apis {
            let ty = if pick == 0 { &req.name } else { &resp.name };
            let _ = writeln!(
                out,
                "            ApiKey::{n} => <{ty} as crate::arbitrary::ArbitraryVersioned>::arbitrary(version).prop_map(Self::{n}).boxed(),",
                n = api_name(req)
            );
        }
        out.push_str("        }\n    }\n}\n\n");
        for (_, req, resp) in &apis {
            let ty = if pick == 0 { &req.name } else { &resp.name };
            let _ = writeln!(
                out,
                "impl From<{ty}> for {enum_name} {{\n    fn from(body: {ty}) -> Self {{\n        Self::{}(body)\n    }}\n}}\n",
                api_name(req)
            );
        }
    }
    out
}
