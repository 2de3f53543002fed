// SPDX-License-Identifier: GPL-2.0
/* nativeguard's eBPF sensor: host-wide System Call Analysis (D3-SCA).
 *
 * Programs (all BTF-typed, CO-RE relocated against the running kernel):
 *   tp_btf/sys_enter            the sensitive syscall set, filtered here, with the class of the
 *                               mapping holding the syscall instruction (bpf_find_vma)
 *   tp_btf/sched_process_exec   successful execs: the kernel's copy of the path, argv, memfd-ness
 *   tp_btf/sched_process_fork   new processes (threads are dropped)
 *   tp_btf/sched_process_exit   exits of thread-group leaders
 * Records go to one ring buffer (events.h); a failed reservation increments a per-CPU counter
 * that user space reports, so no loss is silent.
 *
 * Arguments are read through BPF_PROG(): aya 0.14 mis-relocates ctx->args[i].
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader: the sensor's own process, whose bpf() and reads are not reported. */
const volatile __u32 ng_self_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} ng_events SEC(".maps");

/* Index 0: records dropped because the ring buffer was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ng_lost SEC(".maps");

/* The origin of an exec syscall, kept from sys_enter until sched_process_exec (keyed by tid). */
struct pending_exec {
	__u32 nr;
	__u32 origin;
	char origin_name[NG_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending_exec);
} ng_pending_exec SEC(".maps");

/* x86_64 syscall numbers of the sensitive set. */
#define NR_open 2
#define NR_mmap 9
#define NR_mprotect 10
#define NR_execve 59
#define NR_ptrace 101
#define NR_personality 135
#define NR_init_module 175
#define NR_openat 257
#define NR_process_vm_readv 310
#define NR_process_vm_writev 311
#define NR_finit_module 313
#define NR_memfd_create 319
#define NR_bpf 321
#define NR_execveat 322

#define PROT_WRITE 0x2
#define PROT_EXEC 0x4
#define MAP_ANONYMOUS 0x20
#define O_ACCMODE 3
#define BPF_PROG_LOAD_CMD 5
#define AT_EMPTY_PATH 0x1000

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(&ng_lost, &zero);
	if (lost)
		*lost += 1;
}

static __always_inline void fill_header(struct ng_header *h, __u32 kind, __u32 size,
					struct task_struct *task)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	h->kind = kind;
	h->size = size;
	h->ktime_ns = bpf_ktime_get_boot_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	h->_pad0 = 0;
	h->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

struct vma_class {
	__u32 origin;
	__u32 ino;  /* low 32 bits of the mapping's file's inode number, 0 for no file */
	char *name; /* NG_NAME_LEN bytes, receives the mapping's file name */
};

static long classify_vma(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_class *out = data;
	struct file *file = vma->vm_file;
	struct mm_struct *mm = vma->vm_mm;

	if (file) {
		struct file *exe = BPF_CORE_READ(mm, exe_file);
		const unsigned char *name = BPF_CORE_READ(file, f_path.dentry, d_name.name);
		bpf_probe_read_kernel_str(out->name, NG_NAME_LEN, name);
		out->ino = (__u32)BPF_CORE_READ(file, f_inode, i_ino);
		if (exe && BPF_CORE_READ(exe, f_inode) == BPF_CORE_READ(file, f_inode))
			out->origin = NG_ORIGIN_MAIN;
		else
			out->origin = NG_ORIGIN_FILE;
		return 0;
	}
	unsigned long start = vma->vm_start, end = vma->vm_end;
	unsigned long stack = BPF_CORE_READ(mm, start_stack);
	unsigned long start_brk = BPF_CORE_READ(mm, start_brk), brk = BPF_CORE_READ(mm, brk);
	unsigned long vdso = (unsigned long)BPF_CORE_READ(mm, context.vdso);
	if (start <= stack && stack < end)
		out->origin = NG_ORIGIN_STACK;
	else if (start >= start_brk && end <= brk && brk > start_brk)
		out->origin = NG_ORIGIN_HEAP;
	else if (vdso && start == vdso)
		out->origin = NG_ORIGIN_VDSO;
	else
		out->origin = NG_ORIGIN_ANON;
	return 0;
}

static __always_inline __u32 classify_addr(struct task_struct *task, __u64 addr, char *name,
					   __u32 *ino)
{
	struct vma_class class = { .origin = NG_ORIGIN_UNKNOWN, .ino = 0, .name = name };
	bpf_find_vma(task, addr, classify_vma, &class, 0);
	if (ino)
		*ino = class.ino;
	return class.origin;
}

/* The file descriptor fd of task refers to, or 0. */
static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
	if (fd < 0 || fd >= max_fds)
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return 0;
	return file;
}

/* The dentry name of file (`memfd:x` for a memfd) into out; returns the bytes read (with the
 * NUL). Used for what an execveat(fd, "", AT_EMPTY_PATH) runs and what an executable file mmap
 * maps: by the time user space reads /proc the descriptor may be closed (CLOEXEC at exec). */
static __always_inline long file_name(struct file *file, char *out)
{
	if (!file)
		return 0;
	const unsigned char *name = BPF_CORE_READ(file, f_path.dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(out, NG_PATH_LEN, name);
	return n > 0 ? n : 0;
}

/* Whether a file holds code that is on no disk: a memfd or an unlinked file. */
static __always_inline int is_memfd_file(struct file *file)
{
	char prefix[6] = {};
	const unsigned char *name = BPF_CORE_READ(file, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel(prefix, sizeof(prefix), name))
		return 0;
	return prefix[0] == 'm' && prefix[1] == 'e' && prefix[2] == 'm' && prefix[3] == 'f' &&
	       prefix[4] == 'd' && prefix[5] == ':';
}

/* Whether this syscall belongs to the sensitive set; decided before any work is done. */
static __always_inline int is_sensitive(long id, struct pt_regs *regs)
{
	switch (id) {
	case NR_execve:
	case NR_execveat:
	case NR_memfd_create:
	case NR_process_vm_readv:
	case NR_process_vm_writev:
	case NR_init_module:
	case NR_finit_module:
	case NR_personality:
		return 1;
	case NR_ptrace: {
		long req = PT_REGS_PARM1_CORE_SYSCALL(regs);
		/* POKETEXT, POKEDATA, POKEUSER, SETREGS, SETFPREGS, ATTACH, SETREGSET, SEIZE */
		return req == 4 || req == 5 || req == 6 || req == 13 || req == 15 || req == 16 ||
		       req == 0x4205 || req == 0x4206;
	}
	case NR_mprotect:
		return (PT_REGS_PARM3_CORE_SYSCALL(regs) & PROT_EXEC) != 0;
	case NR_mmap: /* file mappings: only a memfd's or an unlinked file's (see ng_sys_enter) */
		return (PT_REGS_PARM3_CORE_SYSCALL(regs) & PROT_EXEC) != 0;
	case NR_bpf:
		return PT_REGS_PARM1_CORE_SYSCALL(regs) == BPF_PROG_LOAD_CMD;
	case NR_open:
		return (PT_REGS_PARM2_CORE_SYSCALL(regs) & O_ACCMODE) != 0;
	case NR_openat:
		return (PT_REGS_PARM3_CORE_SYSCALL(regs) & O_ACCMODE) != 0;
	}
	return 0;
}

/* For open/openat for writing: only /proc/<x>/mem is reported. */
static __always_inline int is_proc_mem(const char *s, long len)
{
	/* len counts the NUL: "/proc/1/mem" is 12 */
	if (len < 12 || len > NG_PATH_LEN)
		return 0;
	if (s[0] != '/' || s[1] != 'p' || s[2] != 'r' || s[3] != 'o' || s[4] != 'c' || s[5] != '/')
		return 0;
	long i = (len - 5) & (NG_PATH_LEN - 1);
	if (i > NG_PATH_LEN - 5)
		return 0;
	return s[i] == '/' && s[i + 1] == 'm' && s[i + 2] == 'e' && s[i + 3] == 'm';
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ng_sys_enter, struct pt_regs *regs, long id)
{
	if (!is_sensitive(id, regs))
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == ng_self_tgid)
		return 0;

	struct task_struct *task = bpf_get_current_task_btf();
	/* An executable mapping of a file on disk is a library load: not reported. A memfd's or an
	 * unlinked file's is code with no file behind it (fileless loading); an unknown descriptor
	 * is reported too (fail closed). */
	struct file *mapped = 0;
	int mapped_memfd = 0;
	if (id == NR_mmap && !(PT_REGS_PARM4_CORE_SYSCALL(regs) & MAP_ANONYMOUS)) {
		mapped = fd_file(task, (int)PT_REGS_PARM5_CORE_SYSCALL(regs));
		if (mapped) {
			mapped_memfd = is_memfd_file(mapped);
			if (!mapped_memfd && BPF_CORE_READ(mapped, f_inode, __i_nlink) != 0)
				return 0;
		}
	}
	struct ng_syscall *e = bpf_ringbuf_reserve(&ng_events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	fill_header(&e->header, NG_KIND_SYSCALL, sizeof(*e), task);
	e->nr = id;
	e->args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	e->args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	e->args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	e->args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	e->args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
	e->args[5] = BPF_CORE_READ(regs, r9); /* libbpf 1.1 has no PARM6 macro */
	e->ip = BPF_CORE_READ(regs, ip);
	e->region = NG_ORIGIN_UNKNOWN;
	e->str_len = 0;
	e->origin_ino = 0;
	e->origin_name[0] = 0;
	e->str[0] = 0;
	e->origin = classify_addr(task, e->ip, e->origin_name, &e->origin_ino);

	const char *user_str = 0;
	switch (id) {
	case NR_execve:
	case NR_memfd_create:
	case NR_open:
		user_str = (const char *)e->args[0];
		break;
	case NR_execveat:
	case NR_openat:
		user_str = (const char *)e->args[1];
		break;
	case NR_mprotect:
		e->region = classify_addr(task, e->args[0], e->str, 0);
		e->str[0] = 0;
		break;
	}
	if (user_str) {
		/* May fail in a fresh child (page not faulted in): the exec event has the kernel's copy. */
		long n = bpf_probe_read_user_str(e->str, sizeof(e->str), user_str);
		e->str_len = n > 0 ? n : 0;
	}
	if (id == NR_execveat && e->str_len <= 1 && (e->args[4] & AT_EMPTY_PATH)) {
		e->str_len = file_name(fd_file(task, (int)e->args[0]), e->str);
		e->region = NG_ORIGIN_FILE;
	}
	if (id == NR_mmap) {
		e->region = NG_ORIGIN_ANON;
		if (mapped) {
			e->str_len = file_name(mapped, e->str);
			e->region = mapped_memfd ? NG_ORIGIN_ANON : NG_ORIGIN_FILE;
		}
	}
	if ((id == NR_open || id == NR_openat) && !is_proc_mem(e->str, e->str_len)) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	if (id == NR_execve || id == NR_execveat) {
		struct pending_exec pending = { .nr = id, .origin = e->origin };
		__builtin_memcpy(pending.origin_name, e->origin_name, NG_NAME_LEN);
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		bpf_map_update_elem(&ng_pending_exec, &tid, &pending, BPF_ANY);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(ng_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct ng_exec *e = bpf_ringbuf_reserve(&ng_events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	struct task_struct *task = bpf_get_current_task_btf();
	fill_header(&e->header, NG_KIND_EXEC, sizeof(*e), task);
	e->old_tid = old_pid;
	e->_pad0 = 0;
	e->exec_syscall = 0;
	e->origin = NG_ORIGIN_UNKNOWN;
	e->origin_name[0] = 0;
	__u32 key = old_pid;
	struct pending_exec *pending = bpf_map_lookup_elem(&ng_pending_exec, &key);
	if (pending) {
		e->exec_syscall = pending->nr;
		e->origin = pending->origin;
		__builtin_memcpy(e->origin_name, pending->origin_name, NG_NAME_LEN);
		bpf_map_delete_elem(&ng_pending_exec, &key);
	}
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	struct file *file = BPF_CORE_READ(bprm, file);
	bpf_probe_read_kernel_str(e->exe_name, sizeof(e->exe_name),
				  BPF_CORE_READ(file, f_path.dentry, d_name.name));
	e->exe_flags = 0;
	if (e->exe_name[0] == 'm' && e->exe_name[1] == 'e' && e->exe_name[2] == 'm' &&
	    e->exe_name[3] == 'f' && e->exe_name[4] == 'd' && e->exe_name[5] == ':')
		e->exe_flags |= NG_EXE_MEMFD;
	if (BPF_CORE_READ(file, f_inode, __i_nlink) == 0)
		e->exe_flags |= NG_EXE_DELETED;

	/* argv was just copied by the kernel to the new stack, so these pages are present. */
	unsigned long arg_start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(task, mm, arg_end);
	unsigned long len = arg_end - arg_start;
	if (len > NG_ARGS_LEN)
		len = NG_ARGS_LEN;
	e->args_len = 0;
	if (len > 0 && bpf_probe_read_user(e->args, len, (void *)arg_start) == 0)
		e->args_len = len;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(ng_fork, struct task_struct *parent, struct task_struct *child)
{
	/* Threads share the parent's thread group: only new processes are reported. */
	if (child->tgid == parent->tgid)
		return 0;
	struct ng_fork *e = bpf_ringbuf_reserve(&ng_events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	fill_header(&e->header, NG_KIND_FORK, sizeof(*e), bpf_get_current_task_btf());
	e->child_pid = child->tgid;
	e->_pad0 = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ng_exit, struct task_struct *p)
{
	if (p->pid != p->tgid)
		return 0;
	struct ng_exit *e = bpf_ringbuf_reserve(&ng_events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	fill_header(&e->header, NG_KIND_EXIT, sizeof(*e), bpf_get_current_task_btf());
	e->exit_code = p->exit_code;
	e->_pad0 = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
