//! The few facts the capability programs need from the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`): byte offsets of struct members, and the parameter names of a
//! function. aya 0.14 parses BTF but keeps its types private, so this reads the format itself
//! (include/uapi/linux/btf.h, Documentation/bpf/btf.rst): a header, then the type section
//! (each type a 12-byte `btf_type` plus kind-specific data), then the string section.

/// Where the running kernel's BTF is.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// What is wrong with a BTF blob, or what it lacks.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("reading the kernel's BTF ({VMLINUX})")]
    Read(#[source] std::io::Error),
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

/// A parsed BTF blob: the bytes, and where each type starts. Nothing else is kept (the
/// kernel's BTF holds ~100k types; a struct per type would cost several MiB of the recorder's
/// memory for the handful of facts it needs).
pub struct KernelBtf {
    data: Vec<u8>,
    /// Byte offset of each type's `btf_type`, by id; id 0 (`void`) has none.
    types: Vec<u32>,
    strings_at: usize,
    strings_len: usize,
}

/// The kinds a type can be looked up by name as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named {
    Struct,
    Typedef,
    Func,
}

impl Named {
    fn kind(self) -> u32 {
        match self {
            Named::Struct => kind::STRUCT,
            Named::Typedef => kind::TYPEDEF,
            Named::Func => kind::FUNC,
        }
    }
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, BtfError> {
    data.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(BtfError::Truncated { at })
}

/// The length of kind `k`'s data after its 12-byte `btf_type`, with `vlen` entries.
fn extra_len(id: u32, k: u32, vlen: usize) -> Result<usize, BtfError> {
    Ok(match k {
        kind::INT | kind::VAR | kind::DECL_TAG => 4,
        kind::ARRAY => 12,
        kind::STRUCT | kind::UNION | kind::ENUM64 | kind::DATASEC => 12 * vlen,
        kind::ENUM | kind::FUNC_PROTO => 8 * vlen,
        kind::PTR
        | kind::FWD
        | kind::TYPEDEF
        | kind::VOLATILE
        | kind::CONST
        | kind::RESTRICT
        | kind::FUNC
        | kind::FLOAT
        | kind::TYPE_TAG => 0,
        other => return Err(BtfError::UnknownKind { id, kind: other }),
    })
}

impl KernelBtf {
    /// The running kernel's BTF.
    pub fn vmlinux() -> Result<Self, BtfError> {
        Self::parse(std::fs::read(VMLINUX).map_err(BtfError::Read)?)
    }

    /// Parse a little-endian BTF blob (this host's; sysallow records on x86_64 only).
    pub fn parse(data: Vec<u8>) -> Result<Self, BtfError> {
        let magic = data
            .get(0..2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or(BtfError::Truncated { at: 0 })?;
        if magic != 0xeb9f {
            return Err(BtfError::Magic { magic });
        }
        let hdr_len = u32_at(&data, 4)? as usize;
        let type_off = u32_at(&data, 8)? as usize;
        let type_len = u32_at(&data, 12)? as usize;
        let str_off = u32_at(&data, 16)? as usize;
        let str_len = u32_at(&data, 20)? as usize;
        let strings_at = hdr_len + str_off;
        if data.len() < strings_at + str_len {
            return Err(BtfError::Truncated {
                at: strings_at + str_len,
            });
        }
        let types_at = hdr_len + type_off;
        let end = types_at + type_len;
        if data.len() < end {
            return Err(BtfError::Truncated { at: end });
        }
        let mut types = vec![0];
        let mut at = types_at;
        while at < end {
            let id = types.len() as u32;
            let info = u32_at(&data, at + 4)?;
            types.push(at as u32);
            at += 12 + extra_len(id, (info >> 24) & 0x1f, (info & 0xffff) as usize)?;
        }
        if at != end {
            return Err(BtfError::Truncated { at: end });
        }
        Ok(KernelBtf {
            data,
            types,
            strings_at,
            strings_len: str_len,
        })
    }

    fn string(&self, offset: u32) -> &str {
        let offset = offset as usize;
        if offset >= self.strings_len {
            return "";
        }
        let rest = &self.data[self.strings_at + offset..self.strings_at + self.strings_len];
        let len = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..len]).unwrap_or("")
    }

    /// (name, kind, vlen, kind_flag, size-or-type) of type `id`.
    fn header(&self, id: u32) -> Option<(u32, u32, usize, bool, u32)> {
        let at = *self.types.get(id as usize)? as usize;
        if id == 0 {
            return None;
        }
        let name = u32_at(&self.data, at).ok()?;
        let info = u32_at(&self.data, at + 4).ok()?;
        let refers = u32_at(&self.data, at + 8).ok()?;
        Some((
            name,
            (info >> 24) & 0x1f,
            (info & 0xffff) as usize,
            info >> 31 != 0,
            refers,
        ))
    }

    /// The id of the first type of kind `named` called `name`.
    #[cfg(test)]
    pub fn type_id(&self, name: &str, named: Named) -> Option<u32> {
        self.type_ids(&[(name, named)])[0]
    }

    /// The id of the first type of each (name, kind), in one pass over the types.
    pub fn type_ids(&self, wanted: &[(&str, Named)]) -> Vec<Option<u32>> {
        let mut found = vec![None; wanted.len()];
        for id in 1..self.types.len() as u32 {
            let Some((name, k, ..)) = self.header(id) else {
                continue;
            };
            if name == 0 || !matches!(k, kind::STRUCT | kind::TYPEDEF | kind::FUNC) {
                continue;
            }
            let name = self.string(name);
            for (slot, (w, named)) in found.iter_mut().zip(wanted) {
                if slot.is_none() && named.kind() == k && *w == name {
                    *slot = Some(id);
                }
            }
        }
        found
    }

    /// The byte offset of `member` in `struct strukt`, looking into anonymous struct and
    /// union members (`task_struct` wraps fields in them under some configurations).
    #[cfg(test)]
    pub fn member_offset(&self, strukt: &str, member: &str) -> Result<u32, BtfError> {
        let id = self
            .type_id(strukt, Named::Struct)
            .ok_or_else(|| BtfError::NoStruct {
                name: strukt.to_owned(),
            })?;
        self.struct_member_offset(id, strukt, member)
    }

    /// `member_offset` for the struct of id `id` (named `strukt`, for the error).
    pub fn struct_member_offset(
        &self,
        id: u32,
        strukt: &str,
        member: &str,
    ) -> Result<u32, BtfError> {
        self.find_member(id, member, 0)
            .map(|bits| bits / 8)
            .ok_or_else(|| BtfError::NoMember {
                strukt: strukt.to_owned(),
                member: member.to_owned(),
            })
    }

    /// The members of struct or union `id`: (name, type, bit offset).
    fn members(&self, id: u32) -> Vec<(u32, u32, u32)> {
        let Some((_, k, vlen, kind_flag, _)) = self.header(id) else {
            return Vec::new();
        };
        if !matches!(k, kind::STRUCT | kind::UNION) {
            return Vec::new();
        }
        let at = self.types[id as usize] as usize + 12;
        (0..vlen)
            .filter_map(|i| {
                let m = at + 12 * i;
                let offset = u32_at(&self.data, m + 8).ok()?;
                // With kind_flag, the low 24 bits are the bit offset (the high 8 a bitfield's
                // size).
                let bits = if kind_flag {
                    offset & 0xff_ffff
                } else {
                    offset
                };
                Some((
                    u32_at(&self.data, m).ok()?,
                    u32_at(&self.data, m + 4).ok()?,
                    bits,
                ))
            })
            .collect()
    }

    fn find_member(&self, id: u32, member: &str, depth: u32) -> Option<u32> {
        for (name, member_type, bits) in self.members(id) {
            if name != 0 {
                if self.string(name) == member {
                    return Some(bits);
                }
                continue;
            }
            // An anonymous struct or union: its members are the outer struct's.
            let inner = self.resolve(member_type);
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
            match self.header(id) {
                Some((
                    _,
                    kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG,
                    _,
                    _,
                    refers,
                )) => id = refers,
                _ => break,
            }
        }
        id
    }

    /// The parameter names of function `name`, in order.
    #[cfg(test)]
    pub fn function_params(&self, name: &str) -> Result<Vec<String>, BtfError> {
        let no = || BtfError::NoFunction {
            name: name.to_owned(),
        };
        let id = self.type_id(name, Named::Func).ok_or_else(no)?;
        self.params_of(id).ok_or_else(no)
    }

    /// The parameter names of the function of id `id`.
    pub fn params_of(&self, id: u32) -> Option<Vec<String>> {
        let (_, _, _, _, proto) = self.header(id)?;
        let (_, k, vlen, _, _) = self.header(proto)?;
        if k != kind::FUNC_PROTO {
            return None;
        }
        let at = self.types[proto as usize] as usize + 12;
        Some(
            (0..vlen)
                .map(|i| {
                    u32_at(&self.data, at + 8 * i)
                        .map(|n| self.string(n).to_owned())
                        .unwrap_or_default()
                })
                .collect(),
        )
    }
}

/// A BTF blob in which each of `named` (id, kind, name) has the same id as in the kernel's
/// BTF and every other id is an unnamed pointer: all that aya 0.14 reads of a BTF to load a
/// `tp_btf` or fexit program (`Btf::id_by_type_name_kind` for its attach target), at a
/// fraction of the memory aya's parse of the kernel's whole BTF takes (it keeps every type).
pub fn attach_targets_only(named: &[(u32, Named, &str)]) -> Vec<u8> {
    let mut strings = vec![0u8];
    let mut names = std::collections::BTreeMap::new();
    for (id, kind, name) in named {
        names.insert(*id, (*kind, strings.len() as u32));
        strings.extend_from_slice(name.as_bytes());
        strings.push(0);
    }
    let last = names.keys().next_back().copied().unwrap_or(0);
    let mut types = Vec::with_capacity(12 * last as usize);
    for id in 1..=last {
        let (info, name) = match names.get(&id) {
            Some((named, name)) => (named.kind() << 24, *name),
            None => (kind::PTR << 24, 0),
        };
        for word in [name, info, 0] {
            types.extend_from_slice(&word.to_le_bytes());
        }
    }
    let mut blob = Vec::with_capacity(24 + types.len() + strings.len());
    // magic, version 1, flags 0; hdr_len; type_off, type_len; str_off, str_len.
    for word in [
        0xeb9f_u32 | 1 << 16,
        24,
        0,
        types.len() as u32,
        types.len() as u32,
        strings.len() as u32,
    ] {
        blob.extend_from_slice(&word.to_le_bytes());
    }
    blob.extend_from_slice(&types);
    blob.extend_from_slice(&strings);
    blob
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
        let btf = KernelBtf::parse(blob()).unwrap();
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
        assert_eq!(btf.type_id("f", Named::Func), Some(5));
        assert_eq!(btf.type_id("s", Named::Func), None);
    }

    #[test]
    fn a_blob_of_attach_targets_keeps_their_ids() {
        let blob =
            attach_targets_only(&[(3, Named::Typedef, "btf_trace_x"), (7, Named::Func, "g")]);
        let btf = KernelBtf::parse(blob.clone()).unwrap();
        assert_eq!(btf.type_id("btf_trace_x", Named::Typedef), Some(3));
        assert_eq!(btf.type_id("g", Named::Func), Some(7));
        // And aya reads it the same way.
        let aya = aya::Btf::parse(&blob, aya::Endianness::default()).unwrap();
        assert_eq!(
            aya.id_by_type_name_kind("btf_trace_x", aya_obj::btf::BtfKind::Typedef)
                .unwrap(),
            3
        );
        assert_eq!(
            aya.id_by_type_name_kind("g", aya_obj::btf::BtfKind::Func)
                .unwrap(),
            7
        );
    }

    #[test]
    fn refuses_what_is_not_btf_or_cut_short() {
        assert!(matches!(
            KernelBtf::parse(b"\x00\x00rest".to_vec()),
            Err(BtfError::Magic { .. })
        ));
        let mut cut = blob();
        cut.truncate(30);
        assert!(matches!(
            KernelBtf::parse(cut),
            Err(BtfError::Truncated { .. })
        ));
    }
}
