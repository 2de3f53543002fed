/* The wire layout of every record the sensor's eBPF programs put in the ring buffer.
 *
 * Defined once, here; crates/sensor/src/wire.rs mirrors it with #[repr(C)] structs and both
 * sides assert the sizes. Rules: explicit ids, fixed-width integers only, no bool, no implicit
 * padding (every gap is an explicit `_pad` field), every record starts with `struct ng_header`.
 */
#ifndef NATIVEGUARD_EVENTS_H
#define NATIVEGUARD_EVENTS_H

#define NG_COMM_LEN 16
#define NG_NAME_LEN 64
#define NG_PATH_LEN 256
#define NG_ARGS_LEN 512

/* ng_header.kind */
#define NG_KIND_EXEC 1
#define NG_KIND_FORK 2
#define NG_KIND_EXIT 3
#define NG_KIND_SYSCALL 4

/* Where an address lies (syscall instruction pointer, or the region an mprotect/mmap acts on). */
#define NG_ORIGIN_UNKNOWN 0 /* no mapping found, or the mm lock was contended */
#define NG_ORIGIN_FILE 1    /* a file-backed mapping other than the executable: name says which */
#define NG_ORIGIN_MAIN 2    /* the process's own executable */
#define NG_ORIGIN_ANON 3    /* anonymous memory */
#define NG_ORIGIN_STACK 4   /* the main thread's stack */
#define NG_ORIGIN_HEAP 5    /* the brk heap */
#define NG_ORIGIN_VDSO 6    /* the vDSO */

/* ng_exec.exe_flags */
#define NG_EXE_MEMFD 1   /* the executed file is a memfd */
#define NG_EXE_DELETED 2 /* the executed file has no link left on disk */

struct ng_header {
	__u32 kind;
	__u32 size; /* sizeof the whole record */
	__u64 ktime_ns;
	__u32 pid;  /* thread-group id */
	__u32 tid;
	__u32 ppid; /* real parent's thread-group id */
	__u32 uid;
	__u32 gid;
	__u32 _pad0;
	__u64 cgroup_id;
	char comm[NG_COMM_LEN];
};

struct ng_exec {
	struct ng_header header;
	__u32 exec_syscall; /* syscall number of the exec (59 execve, 322 execveat), 0 if unknown */
	__u32 origin;       /* NG_ORIGIN_* of the exec syscall instruction */
	__u32 exe_flags;    /* NG_EXE_* */
	__u32 args_len;     /* valid bytes in args (NUL-separated argv) */
	__u32 old_tid;      /* the exec'ing thread before de_thread */
	__u32 _pad0;
	char origin_name[NG_NAME_LEN]; /* file name of the mapping holding the exec instruction */
	char exe_name[NG_NAME_LEN];    /* dentry name of the executed file (`memfd:x` for memfds) */
	char filename[NG_PATH_LEN];    /* the kernel's copy of the exec path (bprm->filename) */
	char args[NG_ARGS_LEN];
};

struct ng_fork {
	struct ng_header header; /* the parent */
	__u32 child_pid;
	__u32 _pad0;
};

struct ng_exit {
	struct ng_header header;
	__u32 exit_code; /* the task's exit_code (status << 8 | signal) */
	__u32 _pad0;
};

struct ng_syscall {
	struct ng_header header;
	__s64 nr;
	__u64 args[6];
	__u64 ip;           /* user instruction pointer after the syscall instruction */
	__u32 origin;       /* NG_ORIGIN_* of ip */
	__u32 region;       /* NG_ORIGIN_* of the region mprotect acts on; for mmap, ANON
	                     * (anonymous or a memfd) or FILE (an unlinked file), str holding the
	                     * mapped file's dentry name; for execveat, FILE when the path was
	                     * empty with AT_EMPTY_PATH and str holds the dentry name of the file
	                     * dirfd refers to; else UNKNOWN */
	__u32 str_len;      /* bytes read into str including the NUL, 0 when none */
	__u32 origin_ino;   /* low 32 bits of the inode number of origin_name's file, 0 for none */
	char origin_name[NG_NAME_LEN];
	char str[NG_PATH_LEN]; /* memfd name, opened path or exec path, when the syscall has one
	                        * (see region for mmap's and execveat's descriptor file) */
};

/* The sizes crates/sensor/src/wire.rs asserts too. */
_Static_assert(sizeof(struct ng_header) == 64, "ng_header layout");
_Static_assert(sizeof(struct ng_exec) == 984, "ng_exec layout");
_Static_assert(sizeof(struct ng_fork) == 72, "ng_fork layout");
_Static_assert(sizeof(struct ng_exit) == 72, "ng_exit layout");
_Static_assert(sizeof(struct ng_syscall) == 464, "ng_syscall layout");

#endif
