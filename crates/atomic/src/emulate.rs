//! Safe Linux emulations of native API abuse (ATT&CK T1106), one per behaviour a control should
//! see. Each only touches children it created, only ever executes `/bin/true`, reaps every
//! child, and takes well under a second. The system calls live in the private `sys` module.
//!
//! | name | what it does |
//! |---|---|
//! | `libc-exec` | fork + execve through glibc (the benign baseline) |
//! | `inline-syscall-exec` | fork, then execve through an inline `syscall` instruction |
//! | `anon-stub-exec` | execve from a stub in an anonymous page (mmap RW, copy, mprotect RX) |
//! | `memfd-exec` | memfd_create, write /bin/true into it, execveat(fd, "", AT_EMPTY_PATH) |
//! | `spawn-variants` | raw clone3, vfork (inline assembly) and posix_spawn (benign baseline) |
//! | `python-ctypes` | python3 ctypes calls libc `syscall()` for memfd_create + execveat |
//! | `ptrace-poke` | PTRACE_ATTACH a stopped child, PTRACE_POKEDATA a variable it checks, detach |
//! | `vm-writev` | process_vm_writev into a child's variable, which the child checks |
//! | `mprotect-rwx` | mprotect a page to read-write-execute and call a `ret` stub in it |

use crate::error::Error;
use crate::sys::{self, ChildExit, Create, ExecHow, ExecImage};
use std::ffi::CStr;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

/// The only program an emulation executes.
pub const TARGET: &str = "/bin/true";
const TARGET_C: &CStr = c"/bin/true";

/// One emulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulation {
    /// fork + execve through libc.
    LibcExec,
    /// execve through an inline `syscall` instruction.
    InlineSyscallExec,
    /// execve from a stub in an anonymous executable page.
    AnonStubExec,
    /// memfd_create + execveat(AT_EMPTY_PATH).
    MemfdExec,
    /// clone3, vfork and posix_spawn.
    SpawnVariants,
    /// python3 ctypes: libc syscall() for memfd_create + execveat.
    PythonCtypes,
    /// PTRACE_ATTACH + PTRACE_POKEDATA into a child.
    PtracePoke,
    /// process_vm_writev into a child.
    VmWritev,
    /// mprotect to RWX and a call into the page.
    MprotectRwx,
}

/// What an emulation did, step by step (printed by the CLI).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One line per step, e.g. `memfd_create("nativeguard-emulate") = fd 3`.
    pub steps: Vec<String>,
}

impl Emulation {
    /// Every emulation, in the order of the T1106 test file.
    pub const ALL: [Emulation; 9] = [
        Emulation::LibcExec,
        Emulation::InlineSyscallExec,
        Emulation::AnonStubExec,
        Emulation::MemfdExec,
        Emulation::SpawnVariants,
        Emulation::PythonCtypes,
        Emulation::PtracePoke,
        Emulation::VmWritev,
        Emulation::MprotectRwx,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Emulation::LibcExec => "libc-exec",
            Emulation::InlineSyscallExec => "inline-syscall-exec",
            Emulation::AnonStubExec => "anon-stub-exec",
            Emulation::MemfdExec => "memfd-exec",
            Emulation::SpawnVariants => "spawn-variants",
            Emulation::PythonCtypes => "python-ctypes",
            Emulation::PtracePoke => "ptrace-poke",
            Emulation::VmWritev => "vm-writev",
            Emulation::MprotectRwx => "mprotect-rwx",
        }
    }

    /// Looks an emulation up by its command-line name.
    pub fn from_name(name: &str) -> Option<Emulation> {
        Emulation::ALL.into_iter().find(|e| e.name() == name)
    }

    /// One line saying what it does.
    pub fn summary(self) -> &'static str {
        match self {
            Emulation::LibcExec => "fork + execve(/bin/true) through libc (benign baseline)",
            Emulation::InlineSyscallExec => {
                "fork, then execve(/bin/true) through an inline syscall instruction"
            }
            Emulation::AnonStubExec => {
                "execve(/bin/true) from a stub in an anonymous page (mmap RW, mprotect RX)"
            }
            Emulation::MemfdExec => "memfd_create + write /bin/true + execveat(AT_EMPTY_PATH)",
            Emulation::SpawnVariants => {
                "clone3, vfork and posix_spawn of /bin/true (benign baseline)"
            }
            Emulation::PythonCtypes => "python3 ctypes: syscall() memfd_create + execveat",
            Emulation::PtracePoke => "PTRACE_ATTACH + PTRACE_POKEDATA into its own stopped child",
            Emulation::VmWritev => "process_vm_writev into its own child's memory",
            Emulation::MprotectRwx => "mprotect a page to RWX and call a stub in it",
        }
    }

    /// Runs the emulation. `Err(Error::Blocked)` / `Err(Error::KilledBySeccomp)` mean a control
    /// refused a step; other errors are setup failures.
    pub fn run(self) -> Result<Report, Error> {
        let mut report = Report::default();
        match self {
            Emulation::LibcExec => exec_child(&mut report, Create::Fork, "execve", &ExecHow::Libc)?,
            Emulation::InlineSyscallExec => {
                require_x86_64("the inline syscall")?;
                exec_child(
                    &mut report,
                    Create::Fork,
                    "execve (inline syscall)",
                    &ExecHow::InlineSyscall,
                )?
            }
            Emulation::AnonStubExec => {
                let stub = sys::ExecStub::new()?;
                report.steps.push(format!(
                    "mmap(PROT_READ|PROT_WRITE) + copy + mprotect(PROT_READ|PROT_EXEC) = stub at {:#x}",
                    stub.address()
                ));
                exec_child(
                    &mut report,
                    Create::Fork,
                    "execve (anonymous stub)",
                    &ExecHow::Stub(&stub),
                )?
            }
            Emulation::MemfdExec => memfd_exec(&mut report)?,
            Emulation::SpawnVariants => spawn_variants(&mut report)?,
            Emulation::PythonCtypes => python_ctypes(&mut report)?,
            Emulation::PtracePoke => ptrace_poke(&mut report)?,
            Emulation::VmWritev => vm_writev(&mut report)?,
            Emulation::MprotectRwx => {
                let (address, value) = sys::call_rwx_stub()?;
                if value != 42 {
                    return Err(Error::Setup {
                        step: "call into the RWX page",
                        detail: format!("the stub returned {value}, expected 42"),
                    });
                }
                report.steps.push(format!(
                    "mmap(PROT_READ|PROT_WRITE) + mprotect(PROT_READ|PROT_WRITE|PROT_EXEC) at \
                     {address:#x}; called the stub: returned {value}"
                ));
            }
        }
        Ok(report)
    }
}

fn require_x86_64(what: &str) -> Result<(), Error> {
    if cfg!(target_arch = "x86_64") {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "{what} is written for x86_64; this is {}",
            std::env::consts::ARCH
        )))
    }
}

fn target_image() -> ExecImage {
    ExecImage::new(TARGET_C, &[c"true"])
}

/// Checks that a child which was meant to exec /bin/true did, and exited 0.
fn expect_true(step: &'static str, pid: i32, exit: ChildExit) -> Result<String, Error> {
    match exit {
        ChildExit::Exited(0) => Ok(format!("child {pid}: {TARGET} exited 0")),
        ChildExit::Signaled(libc::SIGSYS) => Err(Error::KilledBySeccomp { step }),
        ChildExit::Exited(code) => Err(Error::Setup {
            step,
            detail: format!("child {pid} exited {code}, expected {TARGET} to exit 0"),
        }),
        ChildExit::Signaled(signal) => Err(Error::Setup {
            step,
            detail: format!("child {pid} was killed by signal {signal}"),
        }),
    }
}

fn exec_child(
    report: &mut Report,
    create: Create,
    step: &'static str,
    how: &ExecHow<'_>,
) -> Result<(), Error> {
    let image = target_image();
    let (pid, exit) = sys::spawn_exec(create, step, &image, how)?;
    let creator = match create {
        Create::Fork => "fork",
        Create::Clone3 => "clone3",
    };
    report.steps.push(format!(
        "{creator} + {step} of {TARGET}: {}",
        expect_true(step, pid, exit)?
    ));
    Ok(())
}

fn memfd_exec(report: &mut Report) -> Result<(), Error> {
    let bytes = std::fs::read(TARGET).map_err(|e| Error::Setup {
        step: "read /bin/true",
        detail: e.to_string(),
    })?;
    let fd = sys::memfd_create(c"nativeguard-emulate")?;
    let mut file = std::fs::File::from(fd);
    file.write_all(&bytes).map_err(|e| Error::Setup {
        step: "write to the memfd",
        detail: e.to_string(),
    })?;
    report.steps.push(format!(
        "memfd_create(\"nativeguard-emulate\", MFD_CLOEXEC) = fd {}; wrote {} bytes of {TARGET}",
        file.as_raw_fd(),
        bytes.len()
    ));
    exec_child(
        report,
        Create::Fork,
        "execveat(AT_EMPTY_PATH)",
        &ExecHow::Execveat(file.as_raw_fd()),
    )
}

fn spawn_variants(report: &mut Report) -> Result<(), Error> {
    exec_child(report, Create::Clone3, "execve", &ExecHow::Libc)?;
    let image = target_image();
    let (pid, exit) = sys::vfork_exec(&image)?;
    match exit {
        ChildExit::Exited(0) => {}
        ChildExit::Exited(errno) => {
            // The vfork child exits with execve's errno (it cannot report it any other way).
            return Err(Error::Blocked {
                step: "execve (vfork child)",
                errno,
            });
        }
        other => {
            expect_true("execve (vfork child)", pid, other)?;
        }
    }
    report
        .steps
        .push(format!("vfork + execve({TARGET}): child {pid}: exited 0"));
    let (pid, exit) = sys::posix_spawn_exec(&image)?;
    report.steps.push(format!(
        "posix_spawn({TARGET}): {}",
        expect_true("posix_spawn", pid, exit)?
    ));
    Ok(())
}

fn ptrace_poke(report: &mut Report) -> Result<(), Error> {
    let address = sys::marker_address();
    let mut child = sys::MarkerChild::fork(sys::WaitFor::SelfStop)?;
    child.wait_stopped()?;
    sys::ptrace_attach(child.pid)?;
    sys::ptrace_poke(child.pid, address, sys::MAGIC)?;
    sys::ptrace_detach(child.pid)?;
    child.signal(libc::SIGCONT);
    let pid = child.pid;
    check_marker_child(report, &mut child, "ptrace")?;
    report.steps.insert(
        0,
        format!(
            "child {pid} stopped itself; PTRACE_ATTACH, PTRACE_POKEDATA {:#x} at {address:#x}, \
             PTRACE_DETACH, SIGCONT",
            sys::MAGIC
        ),
    );
    Ok(())
}

fn vm_writev(report: &mut Report) -> Result<(), Error> {
    let address = sys::marker_address();
    let mut child = sys::MarkerChild::fork(sys::WaitFor::Pipe)?;
    sys::vm_write(child.pid, address, sys::MAGIC)?;
    child.release();
    report.steps.push(format!(
        "process_vm_writev(child {}, {:#x} -> {address:#x})",
        child.pid,
        sys::MAGIC
    ));
    check_marker_child(report, &mut child, "process_vm_writev")
}

fn check_marker_child(
    report: &mut Report,
    child: &mut sys::MarkerChild,
    step: &'static str,
) -> Result<(), Error> {
    let pid = child.pid;
    match child.reap()? {
        ChildExit::Exited(sys::MARKER_SEEN) => {
            report.steps.push(format!(
                "child {pid} saw the value written into it and exited 0"
            ));
            Ok(())
        }
        ChildExit::Exited(sys::MARKER_UNCHANGED) => Err(Error::Setup {
            step,
            detail: format!("child {pid} did not see the value written into its memory"),
        }),
        other => Err(Error::Setup {
            step,
            detail: format!("child {pid} ended unexpectedly: {other:?}"),
        }),
    }
}

/// The FFI script: memfd_create and execveat through libc's `syscall()`, from python3's ctypes.
/// argv: memfd_create number, execveat number, target path. Its last stdout line is
/// `ok <pid>` or `blocked <step> <errno>`.
const PYTHON_SCRIPT: &str = r#"
import ctypes, os, sys
nr_memfd, nr_execveat, target = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
fd = libc.syscall(ctypes.c_long(nr_memfd), ctypes.c_char_p(b"nativeguard-py"), ctypes.c_long(1))
if fd < 0:
    print("blocked memfd_create", ctypes.get_errno()); sys.exit(0)
with open(target, "rb") as f:
    data = f.read()
view = memoryview(data)
while view:
    view = view[os.write(fd, view):]
print("memfd_create = fd", fd, "; wrote", len(data), "bytes of", target, flush=True)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    argv = (ctypes.c_char_p * 2)(b"true", None)
    envp = (ctypes.c_char_p * 1)(None)
    libc.syscall(ctypes.c_long(nr_execveat), ctypes.c_long(fd), ctypes.c_char_p(b""), argv, envp,
                 ctypes.c_long(0x1000))
    os.write(w, str(ctypes.get_errno()).encode())
    os._exit(127)
os.close(w)
failed = os.read(r, 16)
_, status = os.waitpid(pid, 0)
if failed:
    print("blocked execveat", int(failed)); sys.exit(0)
if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 31:
    print("sigsys execveat"); sys.exit(0)
code = os.waitstatus_to_exitcode(status)
print("child", pid, "exit", code)
print("ok" if code == 0 else "exit", pid)
"#;

/// The first `python3` in `PATH` that this user can execute, preferring a real interpreter
/// (an ELF file) over wrapper scripts such as pyenv shims, which cost a second of start-up.
fn find_python() -> Option<std::path::PathBuf> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    let executable: Vec<std::path::PathBuf> = std::env::split_paths(&path)
        .map(|dir| dir.join("python3"))
        .filter(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .collect();
    let is_elf = |candidate: &std::path::PathBuf| {
        let mut magic = [0u8; 4];
        std::fs::File::open(candidate)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok_and(|()| magic == *b"\x7fELF")
    };
    executable
        .iter()
        .find(|c| is_elf(c))
        .or(executable.first())
        .cloned()
}

fn python_ctypes(report: &mut Report) -> Result<(), Error> {
    let python = find_python()
        .ok_or_else(|| Error::Unsupported("python3 is not installed (not found in PATH)".into()))?;
    // -I -S: isolated mode without site packages (faster, ignores the user's environment).
    let output = Command::new(&python)
        .args(["-I", "-S", "-c"])
        .arg(PYTHON_SCRIPT)
        .arg(libc::SYS_memfd_create.to_string())
        .arg(libc::SYS_execveat.to_string())
        .arg(TARGET)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.raw_os_error() {
            // A control refusing to execute the interpreter is a block, not a setup problem.
            Some(errno @ (libc::EPERM | libc::EACCES)) => Error::Blocked {
                step: "execve python3",
                errno,
            },
            _ => Error::Setup {
                step: "start python3",
                detail: format!("{}: {e}", python.display()),
            },
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or("");
    let words: Vec<&str> = last.split_whitespace().collect();
    report
        .steps
        .push(format!("{} -I -S -c <ctypes script>", python.display()));
    report.steps.extend(
        stdout
            .lines()
            .filter(|l| !l.starts_with("ok "))
            .map(|l| format!("python3: {l}")),
    );
    match words.as_slice() {
        ["ok", _] if output.status.success() => Ok(()),
        ["blocked", "memfd_create", errno] => Err(Error::Blocked {
            step: "memfd_create (python3 ctypes syscall())",
            errno: errno.parse().unwrap_or(0),
        }),
        ["blocked", "execveat", errno] => Err(Error::Blocked {
            step: "execveat (python3 ctypes syscall())",
            errno: errno.parse().unwrap_or(0),
        }),
        ["sigsys", _] => Err(Error::KilledBySeccomp {
            step: "execveat (python3 ctypes syscall())",
        }),
        _ if output.status.signal() == Some(libc::SIGSYS) => Err(Error::KilledBySeccomp {
            step: "python3 ctypes script",
        }),
        _ => Err(Error::Setup {
            step: "python3 ctypes script",
            detail: format!(
                "{}; stderr: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }),
    }
}
