//! The T1106 behaviours the live tests run, each in a child process (the sensor ignores its own
//! process). Everything a child needs is prepared before `fork`, and the child only makes
//! system calls and `_exit`s, so forking from the multi-threaded test harness is safe.
#![allow(dead_code)] // each test binary uses a subset

use std::ffi::CString;

/// Forks; the child runs `body` and exits with its return value. Returns the child's pid.
pub fn spawn_child(body: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `body`, which makes raw system calls, then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = body();
        // SAFETY: leaving the child without running the parent's destructors or atexit hooks.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Waits for a child and returns its exit status (or 128 + signal).
pub fn wait(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer; pid is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

/// argv/envp arrays that outlive the fork.
pub struct ExecArgs {
    pub path: CString,
    _args: Vec<CString>,
    pub argv: Vec<*const libc::c_char>,
    pub envp: Vec<*const libc::c_char>,
}

impl ExecArgs {
    pub fn new(path: &str, args: &[&str]) -> ExecArgs {
        let path = CString::new(path).unwrap();
        let args: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
        let mut argv: Vec<_> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        ExecArgs {
            path,
            _args: args,
            argv,
            envp: vec![std::ptr::null()],
        }
    }
}

/// A plain libc exec of `/bin/true` (fork + execve through glibc): the benign baseline.
pub fn libc_exec() -> i32 {
    let args = ExecArgs::new("/bin/true", &["true", "ng-libc-exec"]);
    spawn_child(move || {
        // SAFETY: path, argv and envp are NUL-terminated arrays alive across the call.
        unsafe { libc::execve(args.path.as_ptr(), args.argv.as_ptr(), args.envp.as_ptr()) };
        127
    })
}

/// execve made with an inline `syscall` instruction in this (dynamically linked) test binary.
pub fn inline_syscall_exec() -> i32 {
    let args = ExecArgs::new("/bin/true", &["true", "ng-inline-exec"]);
    spawn_child(move || {
        let ret: i64;
        // SAFETY: execve(path, argv, envp) with valid pointers; only returns on failure.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") 59i64 => ret,
                in("rdi") args.path.as_ptr(),
                in("rsi") args.argv.as_ptr(),
                in("rdx") args.envp.as_ptr(),
                lateout("rcx") _, lateout("r11") _,
                options(nostack)
            );
        }
        if ret < 0 {
            126
        } else {
            127
        }
    })
}

/// memfd_create called from a stub in an anonymous RWX page (shellcode-like):
/// `mov eax, 319; syscall; ret`, called as `fn(name, flags) -> fd`.
pub fn anonymous_stub_memfd() -> i32 {
    let name = CString::new("ng-anon-stub").unwrap();
    spawn_child(move || {
        const STUB: [u8; 8] = [0xb8, 0x3f, 0x01, 0x00, 0x00, 0x0f, 0x05, 0xc3];
        // SAFETY: a fresh private anonymous mapping; the stub is copied in, then called with
        // the C ABI (rdi = name, rsi = flags), which is what memfd_create takes.
        unsafe {
            let page = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if page == libc::MAP_FAILED {
                return 1;
            }
            std::ptr::copy_nonoverlapping(STUB.as_ptr(), page as *mut u8, STUB.len());
            let stub: extern "C" fn(*const libc::c_char, libc::c_uint) -> libc::c_int =
                std::mem::transmute(page);
            let fd = stub(name.as_ptr(), libc::MFD_CLOEXEC);
            if fd < 0 {
                2
            } else {
                0
            }
        }
    })
}

/// Fileless exec: /bin/true copied into a memfd and run with execveat(AT_EMPTY_PATH).
pub fn memfd_exec() -> i32 {
    let image = std::fs::read("/bin/true").unwrap();
    let name = CString::new("ng-memfd-exec").unwrap();
    let args = ExecArgs::new("", &["ng-memfd-exec"]);
    spawn_child(move || {
        // SAFETY: plain system calls on buffers alive across each call.
        unsafe {
            let fd = libc::memfd_create(name.as_ptr(), 0);
            if fd < 0 {
                return 1;
            }
            if libc::write(fd, image.as_ptr().cast(), image.len()) != image.len() as isize {
                return 2;
            }
            libc::syscall(
                libc::SYS_execveat,
                fd,
                args.path.as_ptr(),
                args.argv.as_ptr(),
                args.envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
        }
        127
    })
}

static mut TARGET_WORD: u64 = 0x1111;

/// A tracer child that writes a word into its own traced child with PTRACE_POKEDATA.
/// Returns the tracer's pid.
pub fn ptrace_poke_child() -> i32 {
    spawn_child(|| {
        // SAFETY: raw ptrace/wait calls on our own child; TARGET_WORD has the same address in
        // the forked tracee, which stops itself before the tracer writes.
        unsafe {
            let tracee = libc::fork();
            if tracee == 0 {
                libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
                libc::raise(libc::SIGSTOP);
                libc::_exit(0);
            }
            let mut status = 0;
            libc::waitpid(tracee, &mut status, 0);
            let address = std::ptr::addr_of_mut!(TARGET_WORD);
            let ok = libc::ptrace(libc::PTRACE_POKEDATA, tracee, address, 0x2222usize) == 0;
            libc::kill(tracee, libc::SIGKILL);
            libc::waitpid(tracee, &mut status, 0);
            if ok {
                0
            } else {
                3
            }
        }
    })
}

/// A child that writes into its own child's memory with process_vm_writev.
/// Returns the writer's pid.
pub fn vm_writev_child() -> i32 {
    spawn_child(|| {
        // SAFETY: raw calls on our own child; the iovecs point at live buffers.
        unsafe {
            let target = libc::fork();
            if target == 0 {
                libc::pause();
                libc::_exit(0);
            }
            let value: u64 = 0x3333;
            let local = libc::iovec {
                iov_base: &value as *const u64 as *mut _,
                iov_len: 8,
            };
            let remote = libc::iovec {
                iov_base: std::ptr::addr_of_mut!(TARGET_WORD).cast(),
                iov_len: 8,
            };
            let written = libc::process_vm_writev(target, &local, 1, &remote, 1, 0);
            libc::kill(target, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(target, &mut status, 0);
            if written == 8 {
                0
            } else {
                4
            }
        }
    })
}

/// mmap an anonymous RW page, then mprotect it to RWX.
pub fn mprotect_rwx() -> i32 {
    spawn_child(|| {
        // SAFETY: a fresh private anonymous mapping of our own.
        unsafe {
            let page = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if page == libc::MAP_FAILED {
                return 1;
            }
            let rc = libc::mprotect(
                page,
                4096,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
            );
            if rc == 0 {
                0
            } else {
                5
            }
        }
    })
}
