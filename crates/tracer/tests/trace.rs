//! End-to-end tests of the tracer on real processes (ptrace of our own children needs no root).
//!
//! The behaviours to trace are small programs inside this test binary: run with
//! `--ng-helper NAME` it performs one behaviour (memfd exec, an exec through an inline
//! `syscall` instruction, `int 0x80` calls, a syscall from an anonymous page, forks and
//! threads) and exits. The tests trace `current_exe() --ng-helper NAME` and check the events.
//! A custom harness (`harness = false`) so the helper mode runs before any test machinery.

use nativeguard_event::{Event, Value};
use nativeguard_tracer::{ChildExit, TraceResult, Tracer};
use std::ffi::OsString;

const HELPER_FLAG: &str = "--ng-helper";

#[cfg(target_arch = "x86_64")]
mod helpers {
    //! The traced behaviours. Each returns the process's exit code.
    use std::arch::asm;
    use std::ffi::CString;

    pub fn run(name: &str) -> i32 {
        match name {
            "memfd-exec" => memfd_exec(),
            "inline-exec" => inline_exec(),
            "int80" => int80_calls(),
            "anon-stub" => anonymous_stub(libc::MAP_PRIVATE),
            "shared-anon-stub" => anonymous_stub(libc::MAP_SHARED),
            "fork-thread" => fork_and_thread(),
            "getppid" => getppid_loop(),
            "trace-true" => trace_true_as_is(),
            "shm-stub" => shm_stub(),
            "thread-exec-over-leader" => thread_exec_over_leader(),
            "untraced-child" => untraced_child(),
            "int80-old-mmap" => int80_old_mmap(),
            "mem-open" => write_child_mem(MemOpen::Direct),
            "mem-creat" => write_child_mem(MemOpen::Creat),
            "mem-symlink" => write_child_mem(MemOpen::Symlink),
            "mem-reopen" => write_child_mem(MemOpen::Reopen),
            _ => 100,
        }
    }

    fn c(text: &str) -> CString {
        CString::new(text).unwrap_or_default()
    }

    fn true_path() -> CString {
        c("/bin/true")
    }

    /// memfd_create through libc, /bin/true copied in, execveat(fd, "", AT_EMPTY_PATH).
    fn memfd_exec() -> i32 {
        let image = match std::fs::read("/bin/true") {
            Ok(image) => image,
            Err(_) => return 101,
        };
        let name = c("ng-payload");
        // SAFETY: plain libc calls on valid, NUL-terminated buffers owned by this frame.
        unsafe {
            let fd = libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC);
            if fd < 0 {
                return 102;
            }
            if libc::write(fd, image.as_ptr().cast(), image.len()) != image.len() as isize {
                return 103;
            }
            let empty = c("");
            let argv = [name.as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null::<libc::c_char>()];
            libc::syscall(
                libc::SYS_execveat,
                fd,
                empty.as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
        }
        104
    }

    /// execve("/bin/true") through a `syscall` instruction in this binary.
    fn inline_exec() -> i32 {
        let path = true_path();
        let argv = [path.as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null::<libc::c_char>()];
        let ret: i64;
        // SAFETY: execve with valid NUL-terminated path and argv/envp arrays; on success the
        // process image is replaced, on failure it returns an error in rax.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") libc::SYS_execve => ret,
                in("rdi") path.as_ptr(),
                in("rsi") argv.as_ptr(),
                in("rdx") envp.as_ptr(),
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        let _ = ret;
        105
    }

    /// One i386 system call through `int 0x80` (rbx is reserved by LLVM: swap it in and out).
    ///
    /// # Safety
    /// The caller passes arguments valid for the i386 call `number`.
    unsafe fn int80(number: u32, first: u32, second: u32) -> i32 {
        let ret: i32;
        // SAFETY: the kernel's compat entry reads eax/ebx/ecx; r8-r11 may be zeroed.
        unsafe {
            asm!(
                "xchg {first:r}, rbx",
                "int 0x80",
                "xchg {first:r}, rbx",
                first = inout(reg) u64::from(first) => _,
                inlateout("eax") number => ret,
                in("ecx") second,
                lateout("r8") _,
                lateout("r9") _,
                lateout("r10") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// A fresh private read-write page below 2 GiB (MAP_32BIT), which an i386 pointer can
    /// reach.
    fn low_page() -> Option<*mut libc::c_void> {
        // SAFETY: a new anonymous mapping; nothing else is touched.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        (page != libc::MAP_FAILED).then_some(page)
    }

    /// i386 personality(0xffffffff) and memfd_create("ng-i386", 0) from a 64-bit process.
    fn int80_calls() -> i32 {
        const I386_PERSONALITY: u32 = 136;
        const I386_MEMFD_CREATE: u32 = 356;
        // SAFETY: a fresh private mapping below 2 GiB (MAP_32BIT) so that an i386 pointer can
        // reach the name; the calls get valid arguments.
        unsafe {
            let Some(page) = low_page() else {
                return 106;
            };
            let name = b"ng-i386\0";
            std::ptr::copy_nonoverlapping(name.as_ptr(), page.cast::<u8>(), name.len());
            let persona = int80(I386_PERSONALITY, 0xffff_ffff, 0);
            let fd = int80(I386_MEMFD_CREATE, page as u64 as u32, 0);
            if persona < 0 || fd < 0 {
                return 107;
            }
        }
        0
    }

    /// memfd_create from a `syscall` instruction in a SysV shared memory segment attached
    /// with SHM_EXEC (read, write and execute at once, without mmap or mprotect).
    fn shm_stub() -> i32 {
        // mov eax, 319 (memfd_create); syscall; ret — arguments already in rdi, rsi.
        const STUB: [u8; 8] = [0xb8, 0x3f, 0x01, 0x00, 0x00, 0x0f, 0x05, 0xc3];
        const SHM_EXEC: i32 = 0o100000;
        let name = c("ng-shm");
        // SAFETY: a private segment, attached, filled with STUB (C calling convention: args
        // in rdi/rsi, result in rax, ret), called once, then detached and removed.
        unsafe {
            let id = libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600);
            if id < 0 {
                return 160;
            }
            let page = libc::shmat(id, std::ptr::null(), SHM_EXEC);
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            if page as isize == -1 {
                return 161;
            }
            std::ptr::copy_nonoverlapping(STUB.as_ptr(), page.cast::<u8>(), STUB.len());
            let stub: extern "C" fn(*const libc::c_char, u32) -> i64 = std::mem::transmute(page);
            let fd = stub(name.as_ptr(), 0);
            libc::shmdt(page);
            if fd < 0 {
                return 162;
            }
        }
        0
    }

    /// The main thread starts a slow execve (of a file no loader accepts, with 5 MB of
    /// arguments to copy) while a second thread, as soon as the main one is about to call,
    /// execs `/bin/sh -c 'exec /bin/true'`: the second exec kills the main thread inside
    /// its call.
    fn thread_exec_over_leader() -> i32 {
        use std::sync::atomic::{AtomicBool, Ordering};
        static CALLING: AtomicBool = AtomicBool::new(false);
        let Some(garbage) = std::env::args().nth(3) else {
            return 150;
        };
        std::thread::spawn(|| {
            while !CALLING.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
            let sh = c("/bin/sh");
            let (dash_c, script) = (c("-c"), c("exec /bin/true"));
            let argv = [
                sh.as_ptr(),
                dash_c.as_ptr(),
                script.as_ptr(),
                std::ptr::null(),
            ];
            let envp = [std::ptr::null::<libc::c_char>()];
            // SAFETY: valid NUL-terminated strings and arrays.
            unsafe { libc::execve(sh.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        });
        let path = c(&garbage);
        let chunk = c(&"a".repeat(128 * 1024 - 1));
        let mut argv = vec![chunk.as_ptr(); 40];
        argv.push(std::ptr::null());
        let envp = [std::ptr::null::<libc::c_char>()];
        // Room for the arguments: execve takes a quarter of the stack limit, at most 6 MB.
        let mut stack = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit on a local struct; execve with valid strings and arrays.
        unsafe {
            libc::getrlimit(libc::RLIMIT_STACK, &mut stack);
            stack.rlim_cur = stack.rlim_max.min(32 << 20);
            if libc::setrlimit(libc::RLIMIT_STACK, &stack) != 0 {
                return 151;
            }
            CALLING.store(true, Ordering::SeqCst);
            // Each call fails (ENOEXEC) after copying the arguments; call again until the
            // other thread's exec ends this thread, most likely inside a call.
            for _ in 0..1000 {
                libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            }
        }
        // The other thread's exec should have ended this one first.
        152
    }

    /// A child cloned with CLONE_UNTRACED calls memfd_create("ng-untraced"); the parent
    /// waits for it. Returns 0 when the child's call succeeded, 140 + its exit code else.
    fn untraced_child() -> i32 {
        let name = c("ng-untraced");
        // SAFETY: clone without CLONE_VM and without a new stack behaves as fork: the child
        // runs on a copy of this single-threaded process, makes one call and _exits.
        unsafe {
            let pid = libc::syscall(
                libc::SYS_clone,
                libc::CLONE_UNTRACED | libc::SIGCHLD,
                0,
                0,
                0,
                0,
            );
            if pid == 0 {
                let fd = libc::memfd_create(name.as_ptr(), 0);
                libc::_exit(if fd >= 0 { 0 } else { 1 });
            }
            if pid < 0 {
                return 139;
            }
            let mut status = 0;
            libc::waitpid(pid as i32, &mut status, 0);
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                0
            } else {
                140 + libc::WEXITSTATUS(status)
            }
        }
    }

    /// i386's old mmap (number 90) through `int 0x80`: one argument, a pointer to
    /// struct mmap_arg_struct asking for an anonymous RWX page; ecx and edx are zero.
    fn int80_old_mmap() -> i32 {
        const I386_OLD_MMAP: u32 = 90;
        // SAFETY: a private RW page below 4 GiB holds the struct; the call maps a new page
        // and touches nothing else.
        unsafe {
            let Some(page) = low_page() else {
                return 130;
            };
            let rwx = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u32;
            let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u32;
            let args: [u32; 6] = [0, 4096, rwx, flags, u32::MAX, 0];
            std::ptr::copy_nonoverlapping(args.as_ptr(), page.cast::<u32>(), 6);
            let ret: i32;
            asm!(
                "xchg {first:r}, rbx",
                "int 0x80",
                "xchg {first:r}, rbx",
                first = inout(reg) page as u64 => _,
                inlateout("eax") I386_OLD_MMAP => ret,
                in("ecx") 0u32,
                in("edx") 0u32,
                lateout("r8") _,
                lateout("r9") _,
                lateout("r10") _,
                lateout("r11") _,
                options(nostack),
            );
            if (-4095..0).contains(&ret) {
                return 131;
            }
        }
        0
    }

    /// memfd_create from a `syscall` instruction in an anonymous page made executable.
    /// `sharing` is MAP_PRIVATE or MAP_SHARED (shared anonymous memory, which the maps
    /// name `/dev/zero (deleted)`).
    fn anonymous_stub(sharing: i32) -> i32 {
        // mov eax, 319 (memfd_create); syscall; ret — arguments already in rdi, rsi.
        const STUB: [u8; 8] = [0xb8, 0x3f, 0x01, 0x00, 0x00, 0x0f, 0x05, 0xc3];
        let name = c("ng-anon");
        // SAFETY: the page is mapped RW, filled with STUB, then made R-X before the call;
        // STUB follows the C calling convention (args in rdi/rsi, result in rax, ret).
        unsafe {
            let page = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                sharing | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if page == libc::MAP_FAILED {
                return 108;
            }
            std::ptr::copy_nonoverlapping(STUB.as_ptr(), page.cast::<u8>(), STUB.len());
            if libc::mprotect(page, 4096, libc::PROT_READ | libc::PROT_EXEC) != 0 {
                return 109;
            }
            let stub: extern "C" fn(*const libc::c_char, u32) -> i64 = std::mem::transmute(page);
            if stub(name.as_ptr(), 0) < 0 {
                return 110;
            }
        }
        0
    }

    /// A thread that calls memfd_create, then a fork whose child execs /bin/true.
    fn fork_and_thread() -> i32 {
        let thread = std::thread::spawn(|| {
            let name = c("ng-thread");
            // SAFETY: valid NUL-terminated name.
            unsafe { libc::memfd_create(name.as_ptr(), 0) }
        });
        if thread.join().unwrap_or(-1) < 0 {
            return 111;
        }
        let path = true_path();
        let argv = [path.as_ptr(), std::ptr::null()];
        // SAFETY: the child only calls execv and _exit; the parent waits for it.
        unsafe {
            let pid = libc::fork();
            if pid == 0 {
                libc::execv(path.as_ptr(), argv.as_ptr());
                libc::_exit(112);
            }
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
                return 113;
            }
        }
        0
    }

    /// How [`write_child_mem`] opens the child's `/proc/PID/mem` for writing.
    #[derive(Clone, Copy)]
    pub enum MemOpen {
        /// `open("/proc/PID/mem", O_RDWR)`.
        Direct,
        /// `creat("/proc/PID/mem", 0600)`: O_CREAT|O_WRONLY|O_TRUNC, a distinct syscall.
        Creat,
        /// `open` of a symlink to `/proc/PID/mem`.
        Symlink,
        /// `open("/proc/self/fd/N", O_RDWR)` of a read-only descriptor of `/proc/PID/mem`.
        Reopen,
    }

    /// Forks a child that waits, opens its `/proc/PID/mem` for writing (as `how` says),
    /// writes one byte of its memory back unchanged, and ends it.
    pub fn write_child_mem(how: MemOpen) -> i32 {
        static TARGET: u8 = 7;
        // SAFETY: the child only pauses; the parent makes plain libc calls on buffers it
        // owns, then kills and reaps the child.
        unsafe {
            let child = libc::fork();
            if child == 0 {
                loop {
                    libc::pause();
                }
            }
            if child < 0 {
                return 120;
            }
            let mem = c(&format!("/proc/{child}/mem"));
            let fd = match how {
                MemOpen::Direct => libc::open(mem.as_ptr(), libc::O_RDWR),
                MemOpen::Creat => libc::syscall(libc::SYS_creat, mem.as_ptr(), 0o600) as i32,
                MemOpen::Symlink => {
                    let link = std::env::temp_dir().join(format!("ng-memlink-{}", libc::getpid()));
                    let link = c(&link.display().to_string());
                    libc::unlink(link.as_ptr());
                    if libc::symlink(mem.as_ptr(), link.as_ptr()) != 0 {
                        return 121;
                    }
                    let fd = libc::open(link.as_ptr(), libc::O_RDWR);
                    libc::unlink(link.as_ptr());
                    fd
                }
                MemOpen::Reopen => {
                    let read_only = libc::open(mem.as_ptr(), libc::O_RDONLY);
                    if read_only < 0 {
                        return 122;
                    }
                    libc::open(
                        c(&format!("/proc/self/fd/{read_only}")).as_ptr(),
                        libc::O_RDWR,
                    )
                }
            };
            let byte = [TARGET];
            let written = if fd >= 0 {
                libc::pwrite(fd, byte.as_ptr().cast(), 1, &TARGET as *const u8 as i64)
            } else {
                -1
            };
            libc::kill(child, libc::SIGKILL);
            libc::waitpid(child, std::ptr::null_mut(), 0);
            if fd < 0 {
                return 123;
            }
            if written != 1 {
                return 124;
            }
        }
        0
    }

    /// 10,000 getppid() calls: none of them may stop under the detection filter.
    fn getppid_loop() -> i32 {
        let mut sum = 0i64;
        for _ in 0..10_000 {
            // SAFETY: getppid has no arguments.
            sum += unsafe { libc::syscall(libc::SYS_getppid) };
        }
        i32::from(sum == 0)
    }

    /// Traces /bin/true from this process (used unprivileged) and reports its origin.
    fn trace_true_as_is() -> i32 {
        let mut origin = None;
        let result = nativeguard_tracer::Tracer::new(["/bin/true"]).run(|event| {
            if event.get_str("EventType") == Some("process_creation") {
                origin = event.get_str("SyscallOrigin").map(str::to_string);
            }
        });
        match (result, origin.as_deref()) {
            (Ok(result), Some("libc")) if result.exit.success() => 0,
            (result, origin) => {
                eprintln!("unprivileged trace: {result:?}, origin {origin:?}");
                114
            }
        }
    }
}

fn helper_command(name: &str) -> Vec<OsString> {
    let exe = std::env::current_exe().unwrap_or_default();
    vec![exe.into(), HELPER_FLAG.into(), name.into()]
}

fn trace(command: Vec<OsString>) -> (TraceResult, Vec<Event>) {
    let mut events = Vec::new();
    let result = Tracer::new(command)
        .run(|event| events.push(event))
        .unwrap_or_else(|err| panic!("trace failed: {err}"));
    (result, events)
}

fn trace_helper(name: &str) -> (TraceResult, Vec<Event>) {
    trace(helper_command(name))
}

fn of_type<'a>(events: &'a [Event], kind: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| e.get_str("EventType") == Some(kind))
        .collect()
}

fn syscalls<'a>(events: &'a [Event], name: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| e.get_str("SYSCALL") == Some(name))
        .collect()
}

fn int_field(event: &Event, name: &str) -> Option<i64> {
    match event.get(name) {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    }
}

fn dump(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| format!("{e:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the default Linux rules (the ones `nativeguard trace` uses) over the events and
/// returns (rule id, level) of every alert.
fn alerts(events: &[Event]) -> Vec<(String, String)> {
    use nativeguard_sigma::{Pipeline, RuleSetBuilder};
    let mut builder = RuleSetBuilder::new(Pipeline::linux());
    for rule in nativeguard_rules::LINUX {
        let errors = builder.add_file(rule.path, rule.text);
        assert!(errors.is_empty(), "{}: {errors:?}", rule.path);
    }
    let (rules, errors) = builder.build();
    assert!(errors.is_empty(), "{errors:?}");
    let mut engine = std::sync::Arc::new(rules).engine();
    let mut detections = Vec::new();
    for event in events {
        engine.evaluate(event, &mut detections);
    }
    detections
        .iter()
        .map(|d| (d.rule.id.clone(), d.rule.level.as_str().to_string()))
        .collect()
}

const FILELESS_EXEC: &str = "d9df4ebb-6ea0-4190-821e-745541353d4f";
const DIRECT_SYSCALL: &str = "e325d8e1-c0e6-4d16-be67-bf6bf64dfb1f";
const ANONYMOUS_SYSCALL: &str = "e506ed97-ef61-41c2-8656-f4f09a41ce5c";

fn has_alert(alerts: &[(String, String)], id: &str) -> bool {
    alerts.iter().any(|(rule, _)| rule == id)
}

fn own_image() -> String {
    std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn traces_bin_true_with_libc_origin() {
    let (result, events) = trace(vec!["/bin/true".into()]);
    assert_eq!(result.exit, ChildExit::Code(0));
    let creations = of_type(&events, "process_creation");
    assert_eq!(creations.len(), 1, "{}", dump(&events));
    let created = creations[0];
    let true_image = std::fs::canonicalize("/bin/true").unwrap_or_default();
    assert_eq!(created.get_str("Image"), true_image.to_str());
    assert_eq!(created.get_str("CommandLine"), Some("/bin/true"));
    assert_eq!(created.get_str("SyscallOrigin"), Some("libc"));
    assert_eq!(created.get_str("ExecSyscall"), Some("execve"));
    assert_eq!(created.get_str("ParentImage"), Some(own_image().as_str()));
    assert_eq!(
        int_field(created, "ParentProcessId"),
        Some(i64::from(std::process::id()))
    );
    assert_eq!(created.get("ExeIsMemfd"), Some(&Value::Bool(false)));
    let execs = syscalls(&events, "execve");
    assert_eq!(execs.len(), 1, "{}", dump(&events));
    assert_eq!(execs[0].get_str("TargetPath"), Some("/bin/true"));
    assert_eq!(int_field(execs[0], "exit"), Some(0));
    assert_eq!(execs[0].get_str("arch"), Some("x86_64"));
    assert_eq!(
        execs[0].get("SyscallBypassesLibc"),
        Some(&Value::Bool(false))
    );
}

fn traces_memfd_exec() {
    let (result, events) = trace_helper("memfd-exec");
    assert_eq!(result.exit, ChildExit::Code(0), "{}", dump(&events));
    let memfd = syscalls(&events, "memfd_create");
    assert_eq!(memfd.len(), 1, "{}", dump(&events));
    assert_eq!(memfd[0].get_str("MemfdName"), Some("ng-payload"));
    assert_eq!(memfd[0].get_str("MemfdFlags"), Some("MFD_CLOEXEC"));
    assert_eq!(memfd[0].get_str("SyscallOrigin"), Some("libc"));
    assert!(int_field(memfd[0], "exit").is_some_and(|fd| fd >= 0));
    let execveat = syscalls(&events, "execveat");
    assert_eq!(execveat.len(), 1, "{}", dump(&events));
    assert_eq!(execveat[0].get_str("TargetPath"), Some("memfd:ng-payload"));
    assert_eq!(execveat[0].get_str("ExecFlags"), Some("AT_EMPTY_PATH"));
    let created: Vec<_> = of_type(&events, "process_creation")
        .into_iter()
        .filter(|e| e.get_str("ExecSyscall") == Some("execveat"))
        .collect();
    assert_eq!(created.len(), 1, "{}", dump(&events));
    assert_eq!(created[0].get_str("Image"), Some("memfd:ng-payload"));
    assert_eq!(created[0].get("ExeIsMemfd"), Some(&Value::Bool(true)));
    assert_eq!(
        created[0].get_str("ParentImage"),
        Some(own_image().as_str())
    );
    assert_eq!(created[0].get_str("ExecFilename"), Some("/dev/fd/3"));
    let raised = alerts(&events);
    assert!(has_alert(&raised, FILELESS_EXEC), "{raised:?}");
}

fn inline_syscall_exec_has_main_origin() {
    let (result, events) = trace_helper("inline-exec");
    assert_eq!(result.exit, ChildExit::Code(0), "{}", dump(&events));
    let helper = of_type(&events, "process_creation");
    // The helper itself (exec'd by the tracer through libc), then /bin/true.
    assert_eq!(helper.len(), 2, "{}", dump(&events));
    assert_eq!(helper[0].get_str("SyscallOrigin"), Some("libc"));
    assert_eq!(helper[1].get_str("SyscallOrigin"), Some("main"));
    assert_eq!(helper[1].get_str("CommandLine"), Some("/bin/true"));
    let exec = syscalls(&events, "execve");
    assert_eq!(exec.len(), 2, "{}", dump(&events));
    assert_eq!(exec[1].get_str("SyscallOrigin"), Some("main"));
    assert_eq!(exec[1].get("SyscallBypassesLibc"), Some(&Value::Bool(true)));
    assert_eq!(exec[1].get_str("exe"), Some(own_image().as_str()));
    assert_eq!(
        exec[1].get_str("SyscallOriginPath"),
        Some(own_image().as_str())
    );
    assert_eq!(exec[1].get_str("ImageLinkage"), Some("dynamic"));
    let raised = alerts(&events);
    assert!(has_alert(&raised, DIRECT_SYSCALL), "{raised:?}");
}

fn int80_calls_are_decoded_as_i386() {
    let (result, events) = trace_helper("int80");
    assert_eq!(result.exit, ChildExit::Code(0), "{}", dump(&events));
    let personality = syscalls(&events, "personality");
    assert_eq!(personality.len(), 1, "{}", dump(&events));
    assert_eq!(personality[0].get_str("arch"), Some("i386"));
    assert_eq!(int_field(personality[0], "syscall"), Some(136));
    assert_eq!(personality[0].get_str("Personality"), Some("query"));
    assert_eq!(personality[0].get_str("SyscallOrigin"), Some("main"));
    let memfd = syscalls(&events, "memfd_create");
    assert_eq!(memfd.len(), 1, "{}", dump(&events));
    assert_eq!(memfd[0].get_str("arch"), Some("i386"));
    assert_eq!(int_field(memfd[0], "syscall"), Some(356));
    assert_eq!(memfd[0].get_str("MemfdName"), Some("ng-i386"));
    // An i386 call from the program's own code is still a direct syscall.
    let raised = alerts(&events);
    assert!(has_alert(&raised, DIRECT_SYSCALL), "{raised:?}");
}

/// Traces a helper that runs memfd_create (named `memfd_name`) from code it placed in memory
/// with no file behind it, and checks that the call's origin is anonymous memory, the
/// anonymous-syscall rule fires, and, when the helper made the code executable with mprotect,
/// that mprotect's region is anonymous too.
fn syscall_from_memory_without_a_file(helper: &str, memfd_name: &str, mprotects: bool) {
    let (result, events) = trace_helper(helper);
    assert_eq!(result.exit, ChildExit::Code(0), "{}", dump(&events));
    let memfd = syscalls(&events, "memfd_create");
    assert_eq!(memfd.len(), 1, "{}", dump(&events));
    assert_eq!(memfd[0].get_str("MemfdName"), Some(memfd_name));
    assert_eq!(
        memfd[0].get_str("SyscallOrigin"),
        Some("anonymous"),
        "{}",
        dump(&events)
    );
    if mprotects {
        let mprotect: Vec<_> = syscalls(&events, "mprotect")
            .into_iter()
            .filter(|e| e.get_str("Prot") == Some("r-x"))
            .collect();
        assert_eq!(mprotect.len(), 1, "{}", dump(&events));
        assert_eq!(mprotect[0].get_str("MemoryRegion"), Some("anonymous"));
    }
    let raised = alerts(&events);
    assert!(has_alert(&raised, ANONYMOUS_SYSCALL), "{raised:?}");
}

fn syscall_from_anonymous_memory() {
    syscall_from_memory_without_a_file("anon-stub", "ng-anon", true);
}

fn follows_forks_and_threads() {
    let (result, events) = trace_helper("fork-thread");
    assert_eq!(result.exit, ChildExit::Code(0), "{}", dump(&events));
    let creations = of_type(&events, "process_creation");
    assert_eq!(creations.len(), 2, "{}", dump(&events));
    let helper_pid = int_field(creations[0], "ProcessId");
    let child = creations[1];
    assert_eq!(child.get_str("CommandLine"), Some("/bin/true"));
    assert_eq!(int_field(child, "ParentProcessId"), helper_pid);
    assert_eq!(child.get_str("ParentImage"), Some(own_image().as_str()));
    assert_ne!(int_field(child, "ProcessId"), helper_pid);
    let memfd = syscalls(&events, "memfd_create");
    assert_eq!(memfd.len(), 1, "{}", dump(&events));
    assert_eq!(int_field(memfd[0], "ProcessId"), helper_pid);
    assert_eq!(memfd[0].get_str("MemfdName"), Some("ng-thread"));
    assert!(result.stats.processes >= 2);
}

fn reports_exit_codes_and_signals() {
    let sh = |script: &str| vec!["/bin/sh".into(), "-c".into(), script.into()];
    assert_eq!(trace(sh("exit 3")).0.exit, ChildExit::Code(3));
    assert_eq!(trace(sh("kill -9 $$")).0.exit, ChildExit::Signal(9));
    // Signals reach the traced program: the trap handler runs and sets the code.
    assert_eq!(
        trace(sh("trap 'exit 7' USR1; kill -USR1 $$; sleep 5"))
            .0
            .exit,
        ChildExit::Code(7)
    );
}

fn untraced_calls_do_not_stop() {
    let (result, _) = trace_helper("getppid");
    assert_eq!(result.exit, ChildExit::Code(0));
    // 10,000 getppid calls; the helper's own start-up makes a few dozen PROT_EXEC mmaps.
    assert!(result.stats.stops < 500, "{:?}", result.stats);
}

fn on_started_runs_once_before_the_first_event() {
    let events = std::cell::Cell::new(0);
    let mut started_after = Vec::new();
    let result = Tracer::new(["/bin/true"])
        .run_with(
            || started_after.push(events.get()),
            |_| events.set(events.get() + 1),
        )
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(result.exit, ChildExit::Code(0));
    assert_eq!(started_after, [0], "called once, before any event");
    assert!(events.get() >= 2, "{} events", events.get());
}

fn learns_a_profile() {
    let mut events = Vec::new();
    let result = Tracer::new(["/bin/true"])
        .learn(true)
        .run(|event| events.push(event))
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(result.exit, ChildExit::Code(0));
    // Learning stops on every call but still reports the same events.
    assert_eq!(of_type(&events, "process_creation").len(), 1);
    assert_eq!(syscalls(&events, "execve").len(), 1);
    assert!(result.stats.stops > 20, "{:?}", result.stats);
    let Some(learned) = result.learned else {
        panic!("no profile learned");
    };
    let policy = learned.to_policy();
    let allowed: Vec<&str> = policy
        .rules
        .iter()
        .flat_map(|r| r.names.iter().map(String::as_str))
        .collect();
    for needed in ["execve", "exit_group", "mmap", "openat", "close"] {
        assert!(
            allowed.contains(&needed),
            "{needed} missing from {allowed:?}"
        );
    }
    for unused in ["socket", "ptrace", "memfd_create", "read_ahead_nonexistent"] {
        assert!(!allowed.contains(&unused), "{unused} in {allowed:?}");
    }
    // Nothing from the tracer's own start-up code (the seccomp filter install before exec) leaks in.
    assert!(!allowed.contains(&"seccomp"), "{allowed:?}");
}

const PROC_MEM_WRITE: &str = "24f90518-1264-47cb-bdf7-709a3eb2fa9c";

/// Traces a helper that opens its child's /proc/PID/mem for writing and checks that the open
/// is reported (and raises the /proc/PID/mem rule), whichever way the file was named.
fn child_mem_write_is_reported(helper: &str) {
    let (result, events) = trace_helper(helper);
    assert_eq!(result.exit, ChildExit::Code(0), "{}", dump(&events));
    let opens: Vec<_> = events
        .iter()
        .filter(|e| {
            e.get_str("TargetPath").is_some_and(|p| p.ends_with("/mem"))
                && e.get_str("TargetIsSelf") == Some("false")
        })
        .collect();
    assert_eq!(opens.len(), 1, "{helper}: {}", dump(&events));
    let raised = alerts(&events);
    assert!(has_alert(&raised, PROC_MEM_WRITE), "{helper}: {raised:?}");
}

fn child_mem_write_by_path_is_reported() {
    child_mem_write_is_reported("mem-open");
}

fn child_mem_write_through_creat_is_reported() {
    child_mem_write_is_reported("mem-creat");
}

fn child_mem_write_through_a_symlink_is_reported() {
    child_mem_write_is_reported("mem-symlink");
}

fn child_mem_write_through_a_reopened_fd_is_reported() {
    child_mem_write_is_reported("mem-reopen");
}

fn int80_old_mmap_of_rwx_memory_is_reported() {
    let (result, events) = trace_helper("int80-old-mmap");
    assert_eq!(result.exit, ChildExit::Code(0), "{}", dump(&events));
    let rwx: Vec<_> = syscalls(&events, "mmap")
        .into_iter()
        .filter(|e| e.get_str("arch") == Some("i386"))
        .collect();
    assert_eq!(rwx.len(), 1, "{}", dump(&events));
    assert_eq!(rwx[0].get_str("Prot"), Some("rwx"));
    assert_eq!(rwx[0].get_str("MemoryRegion"), Some("anonymous"));
}

fn a_child_cloned_untraced_cannot_make_a_trapped_call() {
    // CLONE_UNTRACED is open to any program, and ptrace cannot follow such a child. It keeps
    // the filter, whose trace verdict without a tracer is ENOSYS: every call the trace would
    // report fails for it (its memfd_create here: the helper exits 140 + 1).
    let (result, events) = trace_helper("untraced-child");
    assert_eq!(result.exit, ChildExit::Code(141), "{}", dump(&events));
    assert!(
        syscalls(&events, "memfd_create").is_empty(),
        "{}",
        dump(&events)
    );
}

fn a_call_cut_short_by_another_threads_exec_is_reported() {
    // The main thread's execve is in progress when another thread's exec kills it: it is
    // reported without a result, like any call a tracee is killed in.
    let garbage = tempfile::Builder::new()
        .prefix("ng-noexec-")
        .tempfile()
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(garbage.path(), [0u8; 64]).unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(garbage.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    let garbage = garbage.into_temp_path();
    let path = garbage.display().to_string();
    let mut command = helper_command("thread-exec-over-leader");
    command.push(path.clone().into());
    let (result, events) = trace(command);
    assert_eq!(result.exit, ChildExit::Code(0), "{}", dump(&events));
    let creations = of_type(&events, "process_creation");
    assert_eq!(creations.len(), 3, "{}", dump(&events));
    let attempts: Vec<_> = syscalls(&events, "execve")
        .into_iter()
        .filter(|e| e.get_str("TargetPath") == Some(path.as_str()))
        .collect();
    assert!(!attempts.is_empty(), "{}", dump(&events));
    // Every attempt but the one the exec cut short failed with ENOEXEC.
    let cut_short = attempts.iter().filter(|e| e.get("exit").is_none()).count();
    assert_eq!(cut_short, 1, "{}", dump(&events));
}

/// `SigIgn` of a `/proc/PID/status` text, as a bit set (bit n-1 for signal n).
fn ignored_signals(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no SigIgn in {status}"))
}

fn overlapping_traces_leave_interrupts_as_they_were() {
    // SIGINT is not ignored by this process: every command starts with it at its default,
    // and it is back at its default once the traces end, however they overlap.
    let sigint_bit = 1u64 << (libc::SIGINT - 1);
    let status = tempfile::Builder::new()
        .prefix("ng-sigign-")
        .tempfile()
        .unwrap_or_else(|e| panic!("{e}"));
    let script = format!(
        "cat /proc/self/status > '{}'; sleep 0.4",
        status.path().display()
    );
    let first = std::thread::spawn(|| {
        Tracer::new(["/bin/sleep", "0.3"])
            .run(|_| {})
            .map(|result| result.exit)
    });
    std::thread::sleep(std::time::Duration::from_millis(100));
    let second = Tracer::new(["/bin/sh".to_string(), "-c".to_string(), script]).run(|_| {});
    let first = first
        .join()
        .unwrap_or_else(|_| panic!("first trace panicked"));
    assert_eq!(first.ok(), Some(ChildExit::Code(0)));
    assert_eq!(second.ok().map(|r| r.exit), Some(ChildExit::Code(0)));
    // SAFETY: reading the disposition by setting the default, which it should be anyway.
    let left = unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
    let text = std::fs::read_to_string(status.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ignored_signals(&text) & sigint_bit,
        0,
        "the second command started with SIGINT ignored"
    );
    assert_eq!(left, libc::SIG_DFL, "SIGINT left ignored after both traces");
}

fn syscall_from_shared_anonymous_memory() {
    // MAP_SHARED | MAP_ANONYMOUS memory is anonymous too (its maps name is
    // `/dev/zero (deleted)`): made executable and run, it is flagged like private memory.
    syscall_from_memory_without_a_file("shared-anon-stub", "ng-anon", true);
}

fn syscall_from_executable_shared_memory() {
    // SysV shared memory attached with SHM_EXEC is anonymous memory (no file on disk behind
    // it), like an anonymous mapping or a memfd: code run from it is flagged alike.
    syscall_from_memory_without_a_file("shm-stub", "ng-shm", false);
}

fn traces_without_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: already unprivileged, so every test here ran without root");
        return;
    }
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().unwrap_or_default();
    let output = std::process::Command::new(&exe)
        .args([HELPER_FLAG, "trace-true"])
        .uid(65534)
        .gid(65534)
        .output();
    match output {
        Ok(output) if output.status.code() == Some(0) => {}
        Ok(output) if output.status.code() == Some(126) || output.status.code() == Some(127) => {
            eprintln!(
                "skipped: nobody cannot execute {} ({})",
                exe.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(output) => panic!(
            "unprivileged trace failed: {:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(err) => eprintln!("skipped: cannot run the helper as nobody: {err}"),
    }
}

type Test = (&'static str, fn());

const TESTS: &[Test] = &[
    (
        "traces_bin_true_with_libc_origin",
        traces_bin_true_with_libc_origin,
    ),
    ("traces_memfd_exec", traces_memfd_exec),
    (
        "inline_syscall_exec_has_main_origin",
        inline_syscall_exec_has_main_origin,
    ),
    (
        "int80_calls_are_decoded_as_i386",
        int80_calls_are_decoded_as_i386,
    ),
    (
        "syscall_from_anonymous_memory",
        syscall_from_anonymous_memory,
    ),
    ("follows_forks_and_threads", follows_forks_and_threads),
    (
        "reports_exit_codes_and_signals",
        reports_exit_codes_and_signals,
    ),
    ("untraced_calls_do_not_stop", untraced_calls_do_not_stop),
    (
        "on_started_runs_once_before_the_first_event",
        on_started_runs_once_before_the_first_event,
    ),
    ("learns_a_profile", learns_a_profile),
    ("traces_without_root", traces_without_root),
    (
        "syscall_from_shared_anonymous_memory",
        syscall_from_shared_anonymous_memory,
    ),
    (
        "syscall_from_executable_shared_memory",
        syscall_from_executable_shared_memory,
    ),
    (
        "overlapping_traces_leave_interrupts_as_they_were",
        overlapping_traces_leave_interrupts_as_they_were,
    ),
    (
        "a_call_cut_short_by_another_threads_exec_is_reported",
        a_call_cut_short_by_another_threads_exec_is_reported,
    ),
    (
        "a_child_cloned_untraced_cannot_make_a_trapped_call",
        a_child_cloned_untraced_cannot_make_a_trapped_call,
    ),
    (
        "int80_old_mmap_of_rwx_memory_is_reported",
        int80_old_mmap_of_rwx_memory_is_reported,
    ),
    (
        "child_mem_write_by_path_is_reported",
        child_mem_write_by_path_is_reported,
    ),
    (
        "child_mem_write_through_creat_is_reported",
        child_mem_write_through_creat_is_reported,
    ),
    (
        "child_mem_write_through_a_symlink_is_reported",
        child_mem_write_through_a_symlink_is_reported,
    ),
    (
        "child_mem_write_through_a_reopened_fd_is_reported",
        child_mem_write_through_a_reopened_fd_is_reported,
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(HELPER_FLAG) {
        #[cfg(target_arch = "x86_64")]
        std::process::exit(helpers::run(args.get(2).map_or("", String::as_str)));
        #[cfg(not(target_arch = "x86_64"))]
        std::process::exit(100);
    }
    if !cfg!(target_arch = "x86_64") {
        eprintln!("skipped: the traced helpers are x86_64 programs");
        return;
    }
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-'));
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in TESTS {
        if filter.is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        match std::panic::catch_unwind(test) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
