//! Finds the interpreters the kernel loads to exec a program — the `#!` line of a script and
//! the ELF `PT_INTERP` (dynamic loader) of a binary — so the Landlock `$CMD_INTERP` token can
//! grant exactly those files the execute right the kernel needs.
//!
//! Bounded reads of untrusted headers: every offset is checked, the program-header count, the
//! interpreter path length and the `#!` chain depth are limited by named constants.

use crate::error::Error;
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Most program headers read from one ELF file.
pub const MAX_PROGRAM_HEADERS: usize = 512;
/// Longest `PT_INTERP` path accepted.
pub const MAX_INTERP_LEN: usize = 4096;
/// Longest `#!` line the kernel reads (`BINPRM_BUF_SIZE`).
pub const MAX_SHEBANG_LEN: usize = 256;
/// Deepest chain of script interpreters followed (the kernel stops at 4 too).
pub const MAX_CHAIN: usize = 4;

const PT_INTERP: u32 = 3;

/// Something to read bytes from at an offset: a file, or a slice in tests and fuzzing.
pub trait ReadAt {
    /// Fills `buf` from `offset`; an error when fewer bytes exist.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl ReadAt for File {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).ok();
        let bytes = start
            .and_then(|start| self.get(start..start.checked_add(buf.len())?))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// What the first bytes of an executable say about how the kernel runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loader {
    /// A script: the kernel execs this interpreter (first word of the `#!` line).
    Script(PathBuf),
    /// A dynamically linked ELF: the kernel maps this loader.
    Elf(PathBuf),
    /// A static ELF, or a format the kernel handles without another file.
    None,
}

/// A parse failure at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Offset of the field.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

fn fail(offset: u64, message: impl Into<String>) -> ParseError {
    ParseError {
        offset,
        message: message.into(),
    }
}

fn read<const N: usize>(
    source: &(impl ReadAt + ?Sized),
    offset: u64,
    what: &str,
) -> Result<[u8; N], ParseError> {
    let mut buf = [0u8; N];
    source
        .read_exact_at(offset, &mut buf)
        .map_err(|err| fail(offset, format!("reading {what}: {err}")))?;
    Ok(buf)
}

/// Reads the loader of one executable image.
pub fn parse_loader(source: &(impl ReadAt + ?Sized)) -> Result<Loader, ParseError> {
    let mut head = [0u8; 2];
    if source.read_exact_at(0, &mut head).is_err() {
        return Ok(Loader::None);
    }
    if &head == b"#!" {
        return parse_shebang(source);
    }
    let ident: [u8; 16] = match read(source, 0, "ELF identification") {
        Ok(ident) if ident.starts_with(b"\x7fELF") => ident,
        _ => return Ok(Loader::None),
    };
    let wide = match ident[4] {
        1 => false,
        2 => true,
        class => return Err(fail(4, format!("unknown ELF class {class}"))),
    };
    let little = match ident[5] {
        1 => true,
        2 => false,
        data => return Err(fail(5, format!("unknown ELF data encoding {data}"))),
    };
    let u16_at = |offset: u64, what: &str| -> Result<u64, ParseError> {
        let bytes = read::<2>(source, offset, what)?;
        Ok(u64::from(if little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        }))
    };
    let u32_at = |offset: u64, what: &str| -> Result<u64, ParseError> {
        let bytes = read::<4>(source, offset, what)?;
        Ok(u64::from(if little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        }))
    };
    let word_at = |offset: u64, what: &str| -> Result<u64, ParseError> {
        if wide {
            let bytes = read::<8>(source, offset, what)?;
            Ok(if little {
                u64::from_le_bytes(bytes)
            } else {
                u64::from_be_bytes(bytes)
            })
        } else {
            u32_at(offset, what)
        }
    };
    // Field offsets of Elf32_Ehdr / Elf64_Ehdr and Elf32_Phdr / Elf64_Phdr.
    let (phoff_at, phentsize_at, phnum_at) = if wide { (32, 54, 56) } else { (28, 42, 44) };
    let (p_offset_at, p_filesz_at, min_entry) = if wide { (8, 32, 56) } else { (4, 16, 32) };
    let phoff = word_at(phoff_at, "e_phoff")?;
    let entry_size = u16_at(phentsize_at, "e_phentsize")?;
    let count = u16_at(phnum_at, "e_phnum")?;
    if count > MAX_PROGRAM_HEADERS as u64 {
        return Err(fail(
            phnum_at,
            format!("{count} program headers exceed the limit of {MAX_PROGRAM_HEADERS}"),
        ));
    }
    if count > 0 && entry_size < min_entry {
        return Err(fail(
            phentsize_at,
            format!("program header size {entry_size} is too small"),
        ));
    }
    for index in 0..count {
        let header = index
            .checked_mul(entry_size)
            .and_then(|delta| phoff.checked_add(delta))
            .ok_or_else(|| fail(phoff_at, "program header offset overflows"))?;
        if u32_at(header, "p_type")? != u64::from(PT_INTERP) {
            continue;
        }
        let offset = word_at(header + p_offset_at, "p_offset")?;
        let size = word_at(header + p_filesz_at, "p_filesz")?;
        let len = usize::try_from(size)
            .ok()
            .filter(|&len| len <= MAX_INTERP_LEN)
            .ok_or_else(|| {
                fail(
                    header + p_filesz_at,
                    format!("interpreter path of {size} bytes exceeds {MAX_INTERP_LEN}"),
                )
            })?;
        let mut path = vec![0u8; len];
        source
            .read_exact_at(offset, &mut path)
            .map_err(|err| fail(offset, format!("reading the interpreter path: {err}")))?;
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        path.truncate(end);
        if path.is_empty() {
            return Err(fail(offset, "empty interpreter path"));
        }
        return Ok(Loader::Elf(PathBuf::from(OsString::from_vec(path))));
    }
    Ok(Loader::None)
}

fn parse_shebang(source: &(impl ReadAt + ?Sized)) -> Result<Loader, ParseError> {
    let mut line = Vec::with_capacity(MAX_SHEBANG_LEN);
    for offset in 2..MAX_SHEBANG_LEN as u64 {
        let mut byte = [0u8; 1];
        if source.read_exact_at(offset, &mut byte).is_err() || byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    let word: Vec<u8> = line
        .iter()
        .copied()
        .skip_while(|b| *b == b' ' || *b == b'\t')
        .take_while(|b| *b != b' ' && *b != b'\t' && *b != 0)
        .collect();
    if word.is_empty() {
        return Err(fail(2, "#! line names no interpreter"));
    }
    Ok(Loader::Script(PathBuf::from(OsString::from_vec(word))))
}

/// Every interpreter the kernel loads to exec `program`, canonical, in load order: the script
/// interpreters (following chains up to [`MAX_CHAIN`]), then the ELF loader of the final
/// binary.
pub fn interpreters(program: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut found = Vec::new();
    let mut current = program.to_path_buf();
    for _ in 0..=MAX_CHAIN {
        let file = File::open(&current).map_err(|source| Error::Read {
            path: current.clone(),
            source,
        })?;
        let loader = parse_loader(&file).map_err(|err| Error::Executable {
            path: current.clone(),
            offset: err.offset,
            message: err.message,
        })?;
        match loader {
            Loader::None => return Ok(found),
            Loader::Elf(path) => {
                let canonical =
                    std::fs::canonicalize(&path).map_err(|source| Error::Read { path, source })?;
                found.push(canonical);
                return Ok(found);
            }
            Loader::Script(path) => {
                let canonical =
                    std::fs::canonicalize(&path).map_err(|source| Error::Read { path, source })?;
                found.push(canonical.clone());
                current = canonical;
            }
        }
    }
    Err(Error::Executable {
        path: program.to_path_buf(),
        offset: 0,
        message: format!("more than {MAX_CHAIN} nested #! interpreters"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf64(interp: &[u8]) -> Vec<u8> {
        let mut image = vec![0u8; 64 + 2 * 56];
        image[..4].copy_from_slice(b"\x7fELF");
        image[4] = 2;
        image[5] = 1;
        image[32..40].copy_from_slice(&64u64.to_le_bytes());
        image[54..56].copy_from_slice(&56u16.to_le_bytes());
        image[56..58].copy_from_slice(&2u16.to_le_bytes());
        // First header PT_LOAD, second PT_INTERP pointing past the headers.
        image[64..68].copy_from_slice(&1u32.to_le_bytes());
        let second = 64 + 56;
        image[second..second + 4].copy_from_slice(&PT_INTERP.to_le_bytes());
        let at = image.len() as u64;
        image[second + 8..second + 16].copy_from_slice(&at.to_le_bytes());
        image[second + 32..second + 40].copy_from_slice(&(interp.len() as u64).to_le_bytes());
        image.extend_from_slice(interp);
        image
    }

    #[test]
    fn finds_pt_interp() {
        let image = elf64(b"/lib64/ld-linux-x86-64.so.2\0");
        assert_eq!(
            parse_loader(&image[..]),
            Ok(Loader::Elf("/lib64/ld-linux-x86-64.so.2".into()))
        );
    }

    #[test]
    fn truncated_and_oversized_headers_are_errors_not_panics() {
        let image = elf64(b"/lib/ld.so\0");
        for len in 0..image.len() {
            let _ = parse_loader(&image[..len]);
        }
        let mut many = elf64(b"/x\0");
        many[56..58].copy_from_slice(&((MAX_PROGRAM_HEADERS + 1) as u16).to_le_bytes());
        let err = parse_loader(&many[..]).unwrap_err();
        assert!(err.message.contains("exceed the limit"), "{err:?}");
        let mut long = elf64(b"/x\0");
        long[64 + 56 + 32..64 + 56 + 40]
            .copy_from_slice(&((MAX_INTERP_LEN + 1) as u64).to_le_bytes());
        let err = parse_loader(&long[..]).unwrap_err();
        assert!(err.message.contains(&MAX_INTERP_LEN.to_string()), "{err:?}");
    }

    #[test]
    fn reads_shebang_interpreter() {
        assert_eq!(
            parse_loader(&b"#!/bin/sh -e\necho"[..]),
            Ok(Loader::Script("/bin/sh".into()))
        );
        assert_eq!(
            parse_loader(&b"#! /usr/bin/env python3\n"[..]),
            Ok(Loader::Script("/usr/bin/env".into()))
        );
        assert!(parse_loader(&b"#!\n"[..]).is_err());
        assert_eq!(parse_loader(&b"plain text"[..]), Ok(Loader::None));
    }

    #[test]
    fn the_running_test_binary_has_the_systems_loader() {
        let exe = std::env::current_exe().unwrap();
        let found = interpreters(&exe).unwrap();
        let expected = std::fs::canonicalize(match std::env::consts::ARCH {
            "x86_64" => "/lib64/ld-linux-x86-64.so.2",
            "aarch64" => "/lib/ld-linux-aarch64.so.1",
            other => {
                eprintln!("skipped: no known loader path for {other}");
                return;
            }
        });
        match expected {
            Ok(expected) => assert_eq!(found, [expected]),
            Err(err) => eprintln!("skipped: the system loader is not at its usual path ({err})"),
        }
    }
}
