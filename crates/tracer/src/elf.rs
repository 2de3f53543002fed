//! Whether an executable is dynamically linked: the direct-syscall rule only applies to
//! programs that normally reach the kernel through libc (a static program always calls from
//! its own binary). The header bytes come from a file the traced program may have written,
//! so the reader is total and bounded.

/// Most bytes of an executable read to find its program headers.
pub const MAX_ELF_HEADER_BYTES: usize = 64 << 10;

/// `Some(true)` when the ELF image has a `PT_INTERP` program header (it names a dynamic
/// loader), `Some(false)` when it has none, `None` when the bytes are not a little-endian
/// ELF32/ELF64 header whose program headers lie within them.
pub fn is_dynamic(bytes: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if bytes.get(..4)? != b"\x7fELF" || *bytes.get(5)? != 1 {
        return None;
    }
    let field = |at: usize, len: usize| bytes.get(at..at.checked_add(len)?);
    let u16_at = |at: usize| Some(u16::from_le_bytes(field(at, 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(field(at, 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(field(at, 8)?.try_into().ok()?));
    // (program header offset, entry size, entry count) for ELF32 / ELF64.
    let (phoff, phentsize, phnum) = match bytes.get(4)? {
        1 => (u64::from(u32_at(28)?), u16_at(42)?, u16_at(44)?),
        2 => (u64_at(32)?, u16_at(54)?, u16_at(56)?),
        _ => return None,
    };
    let phoff = usize::try_from(phoff).ok()?;
    if phentsize < 4 {
        return None;
    }
    for index in 0..usize::from(phnum) {
        let at = phoff.checked_add(index.checked_mul(usize::from(phentsize))?)?;
        if u32_at(at)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

/// Reads the head of an executable and tells its linkage: `dynamic`, `static` or `unknown`
/// (the `ImageLinkage` field's values).
pub fn linkage_of(path: &str) -> &'static str {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|file| {
        file.take(MAX_ELF_HEADER_BYTES as u64)
            .read_to_end(&mut bytes)
    });
    match read.ok().and_then(|_| is_dynamic(&bytes)) {
        Some(true) => "dynamic",
        Some(false) => "static",
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_dynamic_from_static_and_garbage() {
        assert_eq!(linkage_of("/bin/true"), "dynamic");
        assert_eq!(linkage_of("/etc/passwd"), "unknown");
        assert_eq!(linkage_of("/nonexistent/x"), "unknown");
        // A minimal ELF64 header with one PT_LOAD program header: static.
        let mut elf = vec![0u8; 64 + 56];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(is_dynamic(&elf), Some(false));
        elf[64..68].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(is_dynamic(&elf), Some(true));
        // Program headers past the end, huge counts, truncation: no answer, no panic.
        elf[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(is_dynamic(&elf), None);
        assert_eq!(is_dynamic(&elf[..10]), None);
        assert_eq!(is_dynamic(b""), None);
    }

    #[test]
    fn headers_beyond_the_read_bound_are_unknown_not_static() {
        let mut elf = vec![0u8; MAX_ELF_HEADER_BYTES + 4096];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        let phoff = MAX_ELF_HEADER_BYTES as u64 + 64;
        elf[32..40].copy_from_slice(&phoff.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&1u16.to_le_bytes());
        let at = phoff as usize;
        elf[at..at + 4].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(is_dynamic(&elf), Some(true));
        let file = tempfile::Builder::new()
            .prefix("ng-elf-")
            .tempfile()
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(file.path(), &elf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(linkage_of(&file.path().display().to_string()), "unknown");
    }

    #[test]
    fn reads_elf32_headers() {
        let mut elf = vec![0u8; 52 + 32];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 1;
        elf[5] = 1;
        elf[28..32].copy_from_slice(&52u32.to_le_bytes());
        elf[42..44].copy_from_slice(&32u16.to_le_bytes());
        elf[44..46].copy_from_slice(&1u16.to_le_bytes());
        elf[52..56].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(is_dynamic(&elf), Some(true));
    }
}
