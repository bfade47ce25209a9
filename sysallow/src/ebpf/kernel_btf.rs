//! The few facts the capability programs need from the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`): byte offsets of struct members, and the parameter names of a
//! function. aya 0.14 parses BTF but keeps its types private, so this reads the format itself
//! (include/uapi/linux/btf.h, Documentation/bpf/btf.rst): a header, then the type section
//! (each type a 12-byte `btf_type` plus kind-specific data), then the string section.

use std::collections::HashMap;

/// What is wrong with a BTF blob, or what it lacks.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("not BTF (magic {magic:#x}, expected 0xeb9f)")]
    Magic { magic: u16 },
    #[error("BTF truncated at byte {at}")]
    Truncated { at: usize },
    #[error("BTF type {id} has kind {kind}, which this reader does not know")]
    UnknownKind { id: u32, kind: u32 },
    #[error("the kernel's BTF has no struct {name}")]
    NoStruct { name: String },
    #[error("the kernel's struct {strukt} has no member {member}")]
    NoMember { strukt: String, member: String },
    #[error("the kernel's BTF has no function {name}")]
    NoFunction { name: String },
}

/// BTF kinds (include/uapi/linux/btf.h).
mod kind {
    pub const INT: u32 = 1;
    pub const PTR: u32 = 2;
    pub const ARRAY: u32 = 3;
    pub const STRUCT: u32 = 4;
    pub const UNION: u32 = 5;
    pub const ENUM: u32 = 6;
    pub const FWD: u32 = 7;
    pub const TYPEDEF: u32 = 8;
    pub const VOLATILE: u32 = 9;
    pub const CONST: u32 = 10;
    pub const RESTRICT: u32 = 11;
    pub const FUNC: u32 = 12;
    pub const FUNC_PROTO: u32 = 13;
    pub const VAR: u32 = 14;
    pub const DATASEC: u32 = 15;
    pub const FLOAT: u32 = 16;
    pub const DECL_TAG: u32 = 17;
    pub const TYPE_TAG: u32 = 18;
    pub const ENUM64: u32 = 19;
}

/// One type, with what this reader keeps of it.
#[derive(Clone, Debug)]
struct Type {
    name: u32,
    kind: u32,
    /// STRUCT/UNION: (name, type, bit offset); FUNC_PROTO: (name, type, 0).
    members: Vec<(u32, u32, u32)>,
    /// FUNC: its FUNC_PROTO; modifiers and typedefs: the type they refer to.
    refers: u32,
}

/// A parsed BTF blob.
pub struct KernelBtf {
    /// By id; id 0 is `void`.
    types: Vec<Type>,
    strings: Vec<u8>,
    /// Named structs and functions, by name (the first of a name).
    by_name: HashMap<(u32, String), u32>,
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, BtfError> {
    data.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(BtfError::Truncated { at })
}

impl KernelBtf {
    /// Parse a little-endian BTF blob (this host's; sysallow records on x86_64 only).
    pub fn parse(data: &[u8]) -> Result<Self, BtfError> {
        let magic = data
            .get(0..2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or(BtfError::Truncated { at: 0 })?;
        if magic != 0xeb9f {
            return Err(BtfError::Magic { magic });
        }
        let hdr_len = u32_at(data, 4)? as usize;
        let type_off = u32_at(data, 8)? as usize;
        let type_len = u32_at(data, 12)? as usize;
        let str_off = u32_at(data, 16)? as usize;
        let str_len = u32_at(data, 20)? as usize;
        let strings_at = hdr_len + str_off;
        let strings = data
            .get(strings_at..strings_at + str_len)
            .ok_or(BtfError::Truncated { at: strings_at })?
            .to_vec();
        let types_at = hdr_len + type_off;
        let end = types_at + type_len;
        if data.len() < end {
            return Err(BtfError::Truncated { at: end });
        }
        let void = Type {
            name: 0,
            kind: 0,
            members: Vec::new(),
            refers: 0,
        };
        let mut types = vec![void];
        let mut at = types_at;
        while at < end {
            let id = types.len() as u32;
            let name = u32_at(data, at)?;
            let info = u32_at(data, at + 4)?;
            let size_or_type = u32_at(data, at + 8)?;
            at += 12;
            let vlen = (info & 0xffff) as usize;
            let k = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 != 0;
            let mut members = Vec::new();
            match k {
                kind::INT | kind::VAR | kind::DECL_TAG => at += 4,
                kind::ARRAY => at += 12,
                kind::STRUCT | kind::UNION => {
                    for _ in 0..vlen {
                        let offset = u32_at(data, at + 8)?;
                        // With kind_flag, the low 24 bits are the bit offset (the high 8 a
                        // bitfield's size).
                        let bits = if kind_flag {
                            offset & 0xff_ffff
                        } else {
                            offset
                        };
                        members.push((u32_at(data, at)?, u32_at(data, at + 4)?, bits));
                        at += 12;
                    }
                }
                kind::ENUM => at += 8 * vlen,
                kind::ENUM64 | kind::DATASEC => at += 12 * vlen,
                kind::FUNC_PROTO => {
                    for _ in 0..vlen {
                        members.push((u32_at(data, at)?, u32_at(data, at + 4)?, 0));
                        at += 8;
                    }
                }
                kind::PTR
                | kind::FWD
                | kind::TYPEDEF
                | kind::VOLATILE
                | kind::CONST
                | kind::RESTRICT
                | kind::FUNC
                | kind::FLOAT
                | kind::TYPE_TAG => {}
                other => return Err(BtfError::UnknownKind { id, kind: other }),
            }
            types.push(Type {
                name,
                kind: k,
                members,
                refers: size_or_type,
            });
        }
        let mut btf = KernelBtf {
            types,
            strings,
            by_name: HashMap::new(),
        };
        let mut by_name = HashMap::new();
        for (id, ty) in btf.types.iter().enumerate() {
            if matches!(ty.kind, kind::STRUCT | kind::FUNC) && ty.name != 0 {
                by_name
                    .entry((ty.kind, btf.string(ty.name).to_owned()))
                    .or_insert(id as u32);
            }
        }
        btf.by_name = by_name;
        Ok(btf)
    }

    fn string(&self, offset: u32) -> &str {
        let rest = self.strings.get(offset as usize..).unwrap_or_default();
        let len = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..len]).unwrap_or("")
    }

    /// The byte offset of `member` in `struct strukt`, looking into anonymous struct and
    /// union members (`task_struct` wraps fields in them under some configurations).
    pub fn member_offset(&self, strukt: &str, member: &str) -> Result<u32, BtfError> {
        let id = self
            .by_name
            .get(&(kind::STRUCT, strukt.to_owned()))
            .copied()
            .ok_or_else(|| BtfError::NoStruct {
                name: strukt.to_owned(),
            })?;
        self.find_member(id, member, 0)
            .map(|bits| bits / 8)
            .ok_or_else(|| BtfError::NoMember {
                strukt: strukt.to_owned(),
                member: member.to_owned(),
            })
    }

    fn find_member(&self, id: u32, member: &str, depth: u32) -> Option<u32> {
        let ty = self.types.get(id as usize)?;
        for (name, member_type, bits) in &ty.members {
            if *name != 0 {
                if self.string(*name) == member {
                    return Some(*bits);
                }
                continue;
            }
            // An anonymous struct or union: its members are the outer struct's.
            let inner = self.resolve(*member_type);
            if depth < 8
                && let Some(found) = self.find_member(inner, member, depth + 1)
            {
                return Some(bits + found);
            }
        }
        None
    }

    /// `id` past typedefs and modifiers.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.types.get(id as usize) {
                Some(ty)
                    if matches!(
                        ty.kind,
                        kind::TYPEDEF
                            | kind::VOLATILE
                            | kind::CONST
                            | kind::RESTRICT
                            | kind::TYPE_TAG
                    ) =>
                {
                    id = ty.refers
                }
                _ => break,
            }
        }
        id
    }

    /// The parameter names of function `name`, in order.
    pub fn function_params(&self, name: &str) -> Result<Vec<String>, BtfError> {
        let no = || BtfError::NoFunction {
            name: name.to_owned(),
        };
        let id = self
            .by_name
            .get(&(kind::FUNC, name.to_owned()))
            .copied()
            .ok_or_else(no)?;
        let proto = self.types.get(id as usize).ok_or_else(no)?.refers;
        let proto = self.types.get(proto as usize).ok_or_else(no)?;
        Ok(proto
            .members
            .iter()
            .map(|(n, _, _)| self.string(*n).to_owned())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob with `struct s { int a; union { int b; }; }` where `b` is at byte 8, and
    /// `int f(int x, int opts)`.
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0s\0a\0b\0f\0x\0opts\0";
        let name = |s: &str| -> u32 {
            let needle = [s.as_bytes(), b"\0"].concat();
            strings
                .windows(needle.len())
                .enumerate()
                .find(|(i, w)| *w == needle.as_slice() && (*i == 0 || strings[i - 1] == 0))
                .map(|(i, _)| i as u32)
                .unwrap_or(u32::MAX)
        };
        let mut types = Vec::new();
        let mut put = |words: &[u32]| {
            for w in words {
                types.extend_from_slice(&w.to_le_bytes());
            }
        };
        // 1: int
        put(&[name("int"), kind::INT << 24, 4, 32]);
        // 2: union { int b; }
        put(&[0, kind::UNION << 24 | 1, 4, name("b"), 1, 0]);
        // 3: struct s { int a; <anon union> at bit 64 }
        put(&[
            name("s"),
            kind::STRUCT << 24 | 2,
            12,
            name("a"),
            1,
            0,
            0,
            2,
            64,
        ]);
        // 4: proto int (int x, int opts)
        put(&[
            0,
            kind::FUNC_PROTO << 24 | 2,
            1,
            name("x"),
            1,
            name("opts"),
            1,
        ]);
        // 5: func f
        put(&[name("f"), kind::FUNC << 24, 4]);
        let mut data = Vec::new();
        for w in [0xeb9f_u32 | 1 << 16, 24, 0, types.len() as u32] {
            data.extend_from_slice(&w.to_le_bytes());
        }
        data.extend_from_slice(&(types.len() as u32).to_le_bytes());
        data.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        data.extend_from_slice(&types);
        data.extend_from_slice(strings);
        data
    }

    #[test]
    fn finds_members_through_anonymous_unions_and_function_params() {
        let btf = KernelBtf::parse(&blob()).unwrap();
        assert_eq!(btf.member_offset("s", "a").unwrap(), 0);
        assert_eq!(btf.member_offset("s", "b").unwrap(), 8);
        assert!(matches!(
            btf.member_offset("s", "c"),
            Err(BtfError::NoMember { .. })
        ));
        assert!(matches!(
            btf.member_offset("t", "a"),
            Err(BtfError::NoStruct { .. })
        ));
        assert_eq!(btf.function_params("f").unwrap(), ["x", "opts"]);
    }

    #[test]
    fn refuses_what_is_not_btf_or_cut_short() {
        assert!(matches!(
            KernelBtf::parse(b"\x00\x00rest"),
            Err(BtfError::Magic { .. })
        ));
        let mut cut = blob();
        cut.truncate(30);
        assert!(matches!(
            KernelBtf::parse(&cut),
            Err(BtfError::Truncated { .. })
        ));
    }
}
