//! Syscall argument decoding against tracee memory the traced program controls: the first
//! bytes choose the call, ABI and arguments, the rest is the memory at 0x1000. Decoding never
//! panics and strings stay within the bound.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nativeguard_event::linux::SyscallOrigin;
use nativeguard_tracer::decode::{decode, Sensitive, Tracee, MAX_STRING_BYTES};
use nativeguard_tracer::procfs::{exe_name, ExeName};

const CALLS: [Sensitive; 18] = [
    Sensitive::Execve,
    Sensitive::Execveat,
    Sensitive::MemfdCreate,
    Sensitive::Ptrace,
    Sensitive::ProcessVmWritev,
    Sensitive::ProcessVmReadv,
    Sensitive::Mprotect,
    Sensitive::PkeyMprotect,
    Sensitive::Mmap,
    Sensitive::OldMmap,
    Sensitive::Mremap,
    Sensitive::InitModule,
    Sensitive::FinitModule,
    Sensitive::Bpf,
    Sensitive::Open,
    Sensitive::Openat,
    Sensitive::Openat2,
    Sensitive::Personality,
];

struct Memory<'a>(&'a [u8]);

impl Tracee for Memory<'_> {
    fn pid(&self) -> u32 {
        7
    }
    fn read(&mut self, address: u64, buf: &mut [u8]) -> usize {
        let Some(offset) = address.checked_sub(0x1000) else {
            return 0;
        };
        let Ok(offset) = usize::try_from(offset) else {
            return 0;
        };
        let Some(bytes) = self.0.get(offset..) else {
            return 0;
        };
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        n
    }
    fn fd_target(&mut self, fd: i32) -> Option<ExeName> {
        (fd == 3).then(|| exe_name("/memfd:x (deleted)"))
    }
    fn cwd(&mut self) -> Option<String> {
        Some("/tmp".into())
    }
    fn memory_region(&mut self, _: u64) -> (SyscallOrigin, Option<String>) {
        (SyscallOrigin::Anonymous, None)
    }
    fn exe(&self) -> Option<String> {
        Some("/usr/bin/x".into())
    }
    fn is_descendant(&mut self, pid: u32) -> bool {
        pid % 2 == 0
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 + 6 * 8 {
        return;
    }
    let call = CALLS[usize::from(data[0]) % CALLS.len()];
    let arch = if data[1] & 1 == 0 { "x86_64" } else { "i386" };
    let mut args = [0u64; 6];
    for (i, arg) in args.iter_mut().enumerate() {
        let raw: [u8; 8] = data[2 + i * 8..10 + i * 8].try_into().unwrap_or_default();
        *arg = u64::from_le_bytes(raw);
    }
    let mut memory = Memory(&data[50..]);
    let decoded = decode(call, arch, &args, &mut memory);
    for (_, value) in &decoded.fields {
        assert!(value.len() <= MAX_STRING_BYTES + 3);
    }
});
