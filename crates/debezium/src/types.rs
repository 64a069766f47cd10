//! What the encoder knows about column types beyond their OID: enum labels, domain base types,
//! array element types and extension type names (citext, hstore, ltree, ...). Sources fill a
//! [`TypeRegistry`] from the catalog for every non-built-in OID they meet.

use std::collections::HashMap;

/// What kind of type a registry entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeKind {
    /// Base type known by name (extension types).
    Base,
    /// Enum with labels in sort order.
    Enum(Vec<String>),
    /// Domain over another type.
    Domain {
        /// Base type OID.
        base: u32,
        /// Base type modifier.
        typmod: i32,
    },
    /// Array of an element type.
    Array {
        /// Element OID.
        elem: u32,
    },
    /// Range type.
    Range,
    /// Composite or other types Debezium does not map.
    Other,
}

/// One type's catalog facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeInfo {
    /// OID.
    pub oid: u32,
    /// Schema.
    pub namespace: String,
    /// Name (`citext`, `hstore`, `mood`, ...).
    pub name: String,
    /// Kind.
    pub kind: TypeKind,
}

/// Types learned from the catalog.
#[derive(Clone, Debug, Default)]
pub struct TypeRegistry {
    map: HashMap<u32, TypeInfo>,
}

impl TypeRegistry {
    /// Add or replace.
    pub fn insert(&mut self, t: TypeInfo) {
        self.map.insert(t.oid, t);
    }
    /// Look up.
    pub fn get(&self, oid: u32) -> Option<&TypeInfo> {
        self.map.get(&oid)
    }
    /// Known already (built-in or registered).
    pub fn knows(&self, oid: u32) -> bool {
        builtin_name(oid).is_some() || builtin_array_elem(oid).is_some() || self.map.contains_key(&oid)
    }
}

/// Built-in (scalar or array) type tidemark knows without the catalog.
pub fn is_builtin(oid: u32) -> bool {
    builtin_name(oid).is_some() || builtin_array_elem(oid).is_some()
}

/// Names of the built-in scalar types tidemark maps.
pub fn builtin_name(oid: u32) -> Option<&'static str> {
    Some(match oid {
        16 => "bool",
        17 => "bytea",
        18 => "char",
        19 => "name",
        20 => "int8",
        21 => "int2",
        23 => "int4",
        24 => "regproc",
        25 => "text",
        26 => "oid",
        114 => "json",
        142 => "xml",
        600 => "point",
        650 => "cidr",
        700 => "float4",
        701 => "float8",
        774 => "macaddr8",
        790 => "money",
        829 => "macaddr",
        869 => "inet",
        1042 => "bpchar",
        1043 => "varchar",
        1082 => "date",
        1083 => "time",
        1114 => "timestamp",
        1184 => "timestamptz",
        1186 => "interval",
        1266 => "timetz",
        1560 => "bit",
        1562 => "varbit",
        1700 => "numeric",
        2950 => "uuid",
        3614 => "tsvector",
        3802 => "jsonb",
        3904 => "int4range",
        3906 => "numrange",
        3908 => "tsrange",
        3910 => "tstzrange",
        3912 => "daterange",
        3926 => "int8range",
        4451 => "int4multirange",
        28 => "xid",
        601 => "lseg",
        602 => "path",
        603 => "box",
        604 => "polygon",
        628 => "line",
        718 => "circle",
        _ => return None,
    })
}

/// Element OID of built-in array types.
pub fn builtin_array_elem(oid: u32) -> Option<u32> {
    Some(match oid {
        1000 => 16,
        1001 => 17,
        1002 => 18,
        1003 => 19,
        1016 => 20,
        1005 => 21,
        1007 => 23,
        1009 => 25,
        1028 => 26,
        199 => 114,
        143 => 142,
        1017 => 600,
        651 => 650,
        1021 => 700,
        1022 => 701,
        775 => 774,
        791 => 790,
        1040 => 829,
        1041 => 869,
        1014 => 1042,
        1015 => 1043,
        1182 => 1082,
        1183 => 1083,
        1115 => 1114,
        1185 => 1184,
        1187 => 1186,
        1270 => 1266,
        1561 => 1560,
        1563 => 1562,
        1231 => 1700,
        2951 => 2950,
        3807 => 3802,
        3905 => 3904,
        3907 => 3906,
        3909 => 3908,
        3911 => 3910,
        3913 => 3912,
        3927 => 3926,
        _ => return None,
    })
}
