//! `/proc/PID/maps`: which mapping holds an address, to classify where a syscall came from.
//!
//! The text comes from the kernel, but a traced program controls mapping names (file names,
//! `[anon:...]` names), so the parser is total and bounded: a bad line is skipped and counted,
//! never a panic; at most [`MAX_MAPPINGS`] mappings and [`MAX_MAPS_BYTES`] bytes are kept.

use nativeguard_event::linux::SyscallOrigin;

/// Most mappings kept from one maps file (the kernel's default `vm.max_map_count` is 65,530).
pub const MAX_MAPPINGS: usize = 65_536;
/// Most bytes of one maps file read.
pub const MAX_MAPS_BYTES: usize = 16 << 20;

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
    /// The path or pseudo-name (`[stack]`, `[vdso]`), `None` for anonymous memory.
    pub path: Option<String>,
}

/// The mappings of one process, sorted by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maps {
    mappings: Vec<Mapping>,
    skipped_lines: usize,
}

impl Maps {
    /// Parses the text of a maps file. Lines that do not parse are skipped and counted.
    pub fn parse(text: &str) -> Maps {
        let mut cut = text.len().min(MAX_MAPS_BYTES);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let text = &text[..cut];
        let mut maps = Maps::default();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if maps.mappings.len() == MAX_MAPPINGS {
                maps.skipped_lines += 1;
                continue;
            }
            match parse_line(line) {
                Some(mapping) => maps.mappings.push(mapping),
                None => maps.skipped_lines += 1,
            }
        }
        // The kernel prints in address order; sort anyway so lookup never depends on it.
        maps.mappings.sort_by_key(|m| m.start);
        maps
    }

    /// The mapping containing `address`.
    pub fn find(&self, address: u64) -> Option<&Mapping> {
        let index = self.mappings.partition_point(|m| m.start <= address);
        let candidate = self.mappings.get(index.checked_sub(1)?)?;
        (address < candidate.end).then_some(candidate)
    }

    /// Where a syscall whose instruction lies at `address` came from, given the process's
    /// executable path.
    pub fn classify(&self, address: u64, exe: Option<&str>) -> (SyscallOrigin, Option<String>) {
        match self.find(address) {
            Some(mapping) => (
                SyscallOrigin::classify(mapping.path.as_deref(), exe),
                mapping.path.clone(),
            ),
            None => (SyscallOrigin::Unknown, None),
        }
    }

    /// The parsed mappings, by address.
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// How many lines did not parse (or were beyond [`MAX_MAPPINGS`]).
    pub fn skipped_lines(&self) -> usize {
        self.skipped_lines
    }
}

/// `start-end perms offset dev inode [path]`; the path may contain spaces.
fn parse_line(line: &str) -> Option<Mapping> {
    let mut rest = line;
    let mut field = || -> Option<&str> {
        let trimmed = rest.trim_start_matches(' ');
        let end = trimmed.find(' ').unwrap_or(trimmed.len());
        let (word, tail) = trimmed.split_at(end);
        rest = tail;
        (!word.is_empty()).then_some(word)
    };
    let range = field()?;
    let perms = field()?;
    let _offset = field()?;
    let _device = field()?;
    let _inode = field()?;
    let (start, end) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    if end < start {
        return None;
    }
    let perms = perms.as_bytes();
    if perms.len() < 3 {
        return None;
    }
    let path = rest.trim_start_matches(' ');
    Some(Mapping {
        start,
        end,
        read: perms[0] == b'r',
        write: perms[1] == b'w',
        execute: perms[2] == b'x',
        path: (!path.is_empty()).then(|| path.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
55d0c8a00000-55d0c8a02000 r--p 00000000 08:01 1048602                    /usr/bin/true
55d0c8a02000-55d0c8a06000 r-xp 00002000 08:01 1048602                    /usr/bin/true
55d0c9b7e000-55d0c9b9f000 rw-p 00000000 00:00 0                          [heap]
7f3a1c000000-7f3a1c001000 rwxp 00000000 00:00 0 
7f3a1c200000-7f3a1c228000 r--p 00000000 08:01 1055000                    /usr/lib/x86_64-linux-gnu/libc.so.6
7f3a1c228000-7f3a1c3bd000 r-xp 00028000 08:01 1055000                    /usr/lib/x86_64-linux-gnu/libc.so.6
7f3a1c400000-7f3a1c401000 r-xp 00000000 00:01 77                         /memfd:stage two (deleted)
7ffd4d8e0000-7ffd4d901000 rw-p 00000000 00:00 0                          [stack]
7ffd4d9b2000-7ffd4d9b4000 r-xp 00000000 00:00 0                          [vdso]
";

    #[test]
    fn parses_and_finds_mappings() {
        let maps = Maps::parse(SAMPLE);
        assert_eq!(maps.mappings().len(), 9);
        assert_eq!(maps.skipped_lines(), 0);
        let exe = Some("/usr/bin/true");
        let origin = |address| maps.classify(address, exe).0;
        assert_eq!(origin(0x55d0c8a02100), SyscallOrigin::MainBinary);
        assert_eq!(origin(0x7f3a1c228010), SyscallOrigin::Libc);
        assert_eq!(origin(0x7f3a1c000010), SyscallOrigin::Anonymous);
        assert_eq!(origin(0x7f3a1c400010), SyscallOrigin::Anonymous);
        assert_eq!(origin(0x7ffd4d9b2010), SyscallOrigin::Vdso);
        assert_eq!(origin(0x7ffd4d8e0010), SyscallOrigin::Stack);
        assert_eq!(origin(0x55d0c9b7e000), SyscallOrigin::Heap);
        // Between mappings, before the first, at an end (exclusive): nothing.
        assert_eq!(origin(0x55d0c8a06000), SyscallOrigin::Unknown);
        assert_eq!(origin(0x1000), SyscallOrigin::Unknown);
        let memfd = maps.find(0x7f3a1c400000).and_then(|m| m.path.as_deref());
        assert_eq!(memfd, Some("/memfd:stage two (deleted)"));
        assert!(maps
            .find(0x7f3a1c000000)
            .is_some_and(|m| m.write && m.execute));
    }

    #[test]
    fn bad_lines_are_skipped_and_counted() {
        let text = "zz-10 r-xp 0 0 0 /x\n10-5 r-xp 0 0 0 /backwards\n10-20 r\n\
                    1000-2000 r-xp 00000000 08:01 1 /ok\n1000-2000\n";
        let maps = Maps::parse(text);
        assert_eq!(maps.mappings().len(), 1);
        assert_eq!(maps.skipped_lines(), 4);
        assert_eq!(
            maps.find(0x1800).and_then(|m| m.path.as_deref()),
            Some("/ok")
        );
    }

    #[test]
    fn mapping_count_is_bounded() {
        let mut text = String::new();
        for i in 0..(MAX_MAPPINGS as u64 + 10) {
            text.push_str(&format!(
                "{:x}-{:x} r--p 0 0 0\n",
                i * 0x1000,
                i * 0x1000 + 0x1000
            ));
        }
        let maps = Maps::parse(&text);
        assert_eq!(maps.mappings().len(), MAX_MAPPINGS);
        assert_eq!(maps.skipped_lines(), 10);
    }

    #[test]
    fn byte_count_is_bounded() {
        let line = "1000-2000 r-xp 00000000 08:01 1 /x\n";
        let total = MAX_MAPS_BYTES / line.len() + 100;
        let maps = Maps::parse(&line.repeat(total));
        let seen = maps.mappings().len() + maps.skipped_lines();
        assert!(seen <= MAX_MAPS_BYTES / line.len() + 1, "{seen} lines read");
        assert!(seen < total);
    }
}
