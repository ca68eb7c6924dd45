// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
// The eBPF exec source's kernel half: one program on the sched_process_exec tracepoint, which
// fires in the exec'ing task once an exec has succeeded, with the new program's mm, creds and
// comm in place. It writes one record per exec into a ring buffer: ids, times, the command line
// (read from the new mm, where the kernel has just copied it), the executable's and the
// working folder's paths, fds 0 and 1, the cgroup paths and whether the process is pid 1 of its
// pid namespace: everything the audit source reads from /proc afterwards, read here instead, at
// the exec, so a process gone by the time the agent looks costs nothing and hides nothing.
//
// Built with clang -target bpf (scripts/build-bpf.mjs) and loaded by native/bpf-reader.cc
// through libbpf, which relocates every kernel field access below (CO-RE) against the running
// kernel's BTF: the structs here name only the fields we read, not the kernel's layout. This
// file is also offered under the GPL, which is what lets the kernel grant the GPL-only helpers
// (bpf_probe_read_*).
//
// Record layout (shared with native/bpf-reader.cc, struct ExecHead there):
//   struct exec_head, then the strings region: for each of exe, cwd, stdin, stdout, the memory
//   controller's cgroup and the unified cgroup, in that order, `len[i]` bytes of path
//   components leaf first, each NUL-terminated (user space reverses them); then comm (`len[6]`
//   bytes, NUL-terminated) and the command line (`len[7]` bytes: the raw NUL-separated block).
#include <linux/bpf.h>
#include <linux/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;

#define SEC(name) __attribute__((section(name), used))
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name
#define CORE __attribute__((preserve_access_index))

// Helpers by number (enum bpf_func_id); their signatures are the kernel's.
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_probe_read_kernel)(void *dst, u32 size, const void *src) = (void *)BPF_FUNC_probe_read_kernel;
static long (*bpf_probe_read_kernel_str)(void *dst, u32 size, const void *src) = (void *)BPF_FUNC_probe_read_kernel_str;
static long (*bpf_probe_read_user)(void *dst, u32 size, const void *src) = (void *)BPF_FUNC_probe_read_user;
static u64 (*bpf_ktime_get_boot_ns)(void) = (void *)BPF_FUNC_ktime_get_boot_ns;
static long (*bpf_get_current_comm)(void *buf, u32 size) = (void *)BPF_FUNC_get_current_comm;
static u64 (*bpf_get_current_task)(void) = (void *)BPF_FUNC_get_current_task;
static u32 (*bpf_get_smp_processor_id)(void) = (void *)BPF_FUNC_get_smp_processor_id;
static long (*bpf_ringbuf_output)(void *ringbuf, void *data, u64 size, u64 flags) = (void *)BPF_FUNC_ringbuf_output;

// CO-RE questions libbpf answers at load time (enum bpf_field_info_kind, bpf_type_info_kind,
// bpf_enum_value_kind in libbpf's bpf_core_read.h).
#define FIELD_OFFSET(type, field) __builtin_preserve_field_info(((type *)0)->field, 0)
#define FIELD_EXISTS(type, field) __builtin_preserve_field_info(((type *)0)->field, 2)
#define TYPE_SIZE(type) __builtin_preserve_type_info(*(type *)0, 1)
#define ENUM_EXISTS(type, value) __builtin_preserve_enum_value(*(typeof(type) *)value, 0)
#define ENUM_VALUE(type, value) __builtin_preserve_enum_value(*(typeof(type) *)value, 1)

// Reads a kernel field (relocated) into dst; zero when the read fails.
#define READ(dst, src)                                                                    \
  do {                                                                                    \
    if (bpf_probe_read_kernel(&(dst), sizeof(dst), __builtin_preserve_access_index(&(src)))) \
      __builtin_memset(&(dst), 0, sizeof(dst));                                           \
  } while (0)

// The kernel's types, as far as we read them.
struct qstr { const unsigned char *name; } CORE;
struct super_block { unsigned long s_magic; } CORE;
struct inode {
  unsigned long i_ino;
  struct super_block *i_sb;
} CORE;
// The inode's ctime: i_ctime_sec/i_ctime_nsec since 6.11; a struct timespec64 named __i_ctime
// (6.6–6.10) or i_ctime before that.
struct timespec64 { s64 tv_sec; long tv_nsec; } CORE;
struct inode___sec { s64 i_ctime_sec; u32 i_ctime_nsec; } CORE;
struct inode___ts66 { struct timespec64 __i_ctime; } CORE;
struct inode___ts { struct timespec64 i_ctime; } CORE;
struct hlist_bl_node { void *next, **pprev; } CORE;
struct dentry {
  struct hlist_bl_node d_hash;
  struct dentry *d_parent;
  struct qstr d_name;
} CORE;
struct vfsmount { struct dentry *mnt_root; } CORE;
struct mount {
  struct mount *mnt_parent;
  struct dentry *mnt_mountpoint;
  struct vfsmount mnt;
} CORE;
struct path { struct vfsmount *mnt; struct dentry *dentry; } CORE;
struct file { struct path f_path; struct inode *f_inode; } CORE;
struct fs_struct { struct path root, pwd; } CORE;
struct fdtable { unsigned int max_fds; struct file **fd; } CORE;
struct files_struct { struct fdtable *fdt; } CORE;
struct mm_struct { unsigned long arg_start, arg_end; } CORE;
typedef struct { u32 val; } kuid_t;
typedef struct { u32 val; } kgid_t;
struct cred { kuid_t uid; kgid_t gid; kuid_t euid; kgid_t egid; } CORE;
struct upid { int nr; } CORE;
struct pid { unsigned int level; struct upid numbers[1]; } CORE;
// kernfs_node's parent became the RCU pointer __parent in 6.15.
struct kernfs_node { const char *name; } CORE;
struct kernfs_node___new { struct kernfs_node *__parent; } CORE;
struct kernfs_node___old { struct kernfs_node *parent; } CORE;
struct cgroup_root { int hierarchy_id; } CORE;
struct cgroup { struct kernfs_node *kn; struct cgroup_root *root; } CORE;
struct cgroup_subsys_state { struct cgroup *cgroup; } CORE;
enum cgroup_subsys_id { memory_cgrp_id = 4 };
struct css_set { struct cgroup_subsys_state *subsys[14]; struct cgroup *dfl_cgrp; } CORE;
struct task_struct {
  int tgid;
  u64 start_boottime;
  struct task_struct *real_parent;
  struct pid *thread_pid;
  const struct cred *cred;
  struct mm_struct *mm;
  struct fs_struct *fs;
  struct files_struct *files;
  struct css_set *cgroups;
  kuid_t loginuid;
} CORE;
struct linux_binprm { struct file *file; } CORE;

#define SOCKFS_MAGIC 0x534F434B
#define PIPEFS_MAGIC 0x50495045
#define ANON_INODE_FS_MAGIC 0x09041934

enum { P_EXE, P_CWD, P_STDIN, P_STDOUT, P_CG_V1, P_CG_V2, P_PATHS, S_COMM = P_PATHS, S_ARGS, S_ALL };

// Per-path flags (exec_head.pflags[i]).
#define PF_SET 1         // the path was read (a missing fd, say, leaves it unset)
#define PF_TRUNCATED 2   // more components than we walk, or past the byte budget
#define PF_DELETED 4     // an unlinked file: d_path's " (deleted)"
#define PF_PSEUDO 8      // a file with no path (socket, pipe, anon inode, memfd): see magic/ino

// Record flags (exec_head.flags).
#define F_CTIME 1          // ctime_sec/ctime_nsec hold the executable's ctime
#define F_ARGV_TRUNCATED 2 // the command line was longer than we copy
#define F_ARGV_MISSING 4   // the command line could not be read
#define F_NS_KNOWN 8       // ns_init says whether pid 1 of its pid namespace
#define F_NS_INIT 16
#define F_LOGINUID 32      // the kernel keeps a login uid (CONFIG_AUDIT)

struct exec_head {
  u64 boot_ns;          // when, on the boot clock
  u64 start_boot_ns;    // when the process was forked, on the boot clock
  s64 ctime_sec;
  u32 ctime_nsec;
  s32 pid;              // tgid
  s32 ppid;             // the real parent's tgid
  u32 uid, euid, gid, egid, auid;
  u32 cg_v1_hierarchy;  // hierarchy id of the memory controller's cgroup (0: none)
  u16 flags;
  u16 len[S_ALL];
  u8 pflags[P_PATHS];
  u8 pad[2];
  u64 magic[2];         // stdin, stdout: the file system's magic number when PF_PSEUDO
  u64 ino[2];           // and the inode number
};

#define STR_PATHS 16384      // all paths together (budgets below sum to less)
#define NAME_MAX_READ 256    // one component, NUL included
#define MAX_COMPONENTS 64
#define ARGV_MAX 32768       // the agent keeps 32 KiB of argv at most
#define COMM_LEN 16

// Twice the paths' room before the command line: the verifier's bound on where the command line
// starts is looser than ours (it cannot follow every clamp), and the map value must cover it.
struct scratch {
  struct exec_head h;
  char str[2 * STR_PATHS + ARGV_MAX];
  // Where the walks write next. Kept here rather than in a register on purpose: loaded from
  // the map, it is just "some number" to the verifier, so every turn of a walk's loop looks
  // alike and is checked once, where a register's exact range would differ at each turn and
  // multiply the states (past the verifier's million instructions).
  u32 cursor;
};

// Sized by user space (bpfRingBytes, 1 MiB by default). Its pages are mapped into the agent
// whole (twice: the data area is mapped back to back so records never wrap), so its size counts
// twice in the agent's RSS.
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} nw_events SEC(".maps");

// One record being built per CPU (the program runs with migration disabled). Too big for a
// per-CPU array (32 KiB at most), so a plain array that user space sizes to the CPU count.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, struct scratch);
} nw_scratch SEC(".maps");

// [0]: execs lost because the ring buffer was full (or no scratch); read by user space.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} nw_lost SEC(".maps");

// off & (2 * STR_PATHS - 1), done where the verifier sees it: for an off already clamped to
// STR_PATHS, clang drops a plain & as a no-op, and the verifier (tracking another copy of the
// register) then cannot bound the access.
static __always_inline u32 verifier_bound(u32 off) {
  u64 x = off;
  asm volatile("%0 &= 32767" : "+r"(x));
  return (u32)x;
}

static __always_inline void count_lost(void) {
  u32 zero = 0;
  u64 *n = bpf_map_lookup_elem(&nw_lost, &zero);
  if (n) __sync_fetch_and_add(n, 1);
}

static __always_inline struct dentry *dentry_parent(struct dentry *d) {
  struct dentry *p;
  READ(p, d->d_parent);
  return p;
}

// What a walk starts from. The walks are global functions, which the verifier checks once
// each on their own, whatever the caller's state: inlined six times, the loops' states
// multiplied past the verifier's million instructions.
struct walk {
  u64 d, vm;            // the dentry and vfsmount (a file's path), or the cgroup
  u64 root_d, root_vm;  // the process's root
  u32 off, budget, which;
};

// Appends one path component at the cursor: 1 when appended, 0 when past the walk's budget (the
// path is then truncated), -1 when the name could not be read.
static __always_inline int put_name(struct scratch *s, u32 start, u32 budget, const void *name) {
  u32 off = s->cursor;
  if (off - start + NAME_MAX_READ > budget || off > STR_PATHS) return 0;
  long n = bpf_probe_read_kernel_str(&s->str[off & (STR_PATHS - 1)], NAME_MAX_READ, name);
  if (n <= 0) return -1;
  s->cursor = off + (u32)n;
  return 1;
}

// Records a finished walk's length and flags; returns the offset after it.
static __always_inline int end_walk(struct scratch *s, u32 start, u32 which, u8 pf, int turns) {
  if (turns == MAX_COMPONENTS) pf |= PF_TRUNCATED;
  u32 end = s->cursor;
  s->h.len[which] = (u16)(end - start);
  if (which < P_PATHS) s->h.pflags[which] = pf;
  return end;
}

// Appends the components of (d, vm) leaf first, up to the process's root or the root of the
// mount tree, as __d_path would walk them; returns the new offset.
__attribute__((noinline)) int walk_path(struct scratch *s, struct walk *w) {
  if (!s || !w) return 0;
  u32 start = w->off, budget = w->budget, which = w->which & 7;
  if (start > STR_PATHS) return start;
  s->cursor = start;
  struct dentry *d = (struct dentry *)w->d;
  struct vfsmount *vm = (struct vfsmount *)w->vm;
  u8 pf = PF_SET;
  u64 mnt_off = FIELD_OFFSET(struct mount, mnt);
  struct mount *m = (struct mount *)((char *)vm - mnt_off);
  int i;
  for (i = 0; i < MAX_COMPONENTS; i++) {
    if ((u64)d == w->root_d && (u64)vm == w->root_vm) break;
    struct dentry *mnt_root;
    READ(mnt_root, vm->mnt_root);
    struct dentry *parent = dentry_parent(d);
    if (d == mnt_root) {
      struct mount *up;
      READ(up, m->mnt_parent);
      if (!up || up == m) break;  // the root of the mount tree (or of a detached one)
      READ(d, m->mnt_mountpoint);
      m = up;
      vm = (struct vfsmount *)((char *)up + mnt_off);
      continue;
    }
    if (!parent) break;
    if (parent == d) {
      // A dentry that is its own parent but no mount's root: a file without a path in any
      // mount (alloc_file_pseudo). d_path asks its d_dname; user space does the same from
      // the magic number, inode number and name given here.
      if (i == 0) pf |= PF_PSEUDO;
      else break;
    }
    const unsigned char *name;
    READ(name, d->d_name.name);
    int put = put_name(s, start, budget, name);
    if (put == 0) pf |= PF_TRUNCATED;
    if (put <= 0 || (pf & PF_PSEUDO)) break;
    d = parent;
  }
  return end_walk(s, start, which, pf, i);
}

// A cgroup's kernfs path, leaf first (the root's name is empty and is left out).
__attribute__((noinline)) int walk_cgroup(struct scratch *s, struct walk *w) {
  if (!s || !w) return 0;
  u32 start = w->off, budget = w->budget, which = w->which & 7;
  if (start > STR_PATHS) return start;
  s->cursor = start;
  u8 pf = PF_SET;
  struct kernfs_node *kn;
  struct cgroup *cg = (struct cgroup *)w->d;
  READ(kn, cg->kn);
  int i;
  for (i = 0; i < MAX_COMPONENTS && kn; i++) {
    struct kernfs_node *parent;
    if (FIELD_EXISTS(struct kernfs_node___new, __parent)) {
      READ(parent, ((struct kernfs_node___new *)kn)->__parent);
    } else {
      READ(parent, ((struct kernfs_node___old *)kn)->parent);
    }
    if (!parent) break;  // the hierarchy's root
    const char *name;
    READ(name, kn->name);
    int put = put_name(s, start, budget, name);
    if (put == 0) pf |= PF_TRUNCATED;
    if (put <= 0) break;
    kn = parent;
  }
  return end_walk(s, start, which, pf, i);
}

static __always_inline u32 put_path(struct scratch *s, u32 off, u32 budget, int which, void *d, void *vm,
                                    void *root_d, void *root_vm) {
  struct walk w = {(u64)d, (u64)vm, (u64)root_d, (u64)root_vm, off, budget, (u32)which};
  int r = walk_path(s, &w);
  return r < 0 ? off : (u32)r;
}

static __always_inline u32 put_cgroup(struct scratch *s, u32 off, u32 budget, int which, struct cgroup *cg) {
  struct walk w = {(u64)cg, 0, 0, 0, off, budget, (u32)which};
  int r = walk_cgroup(s, &w);
  return r < 0 ? off : (u32)r;
}

static __always_inline u32 put_file(struct scratch *s, u32 off, u32 budget, int which, struct file *f,
                                    struct dentry *root_d, struct vfsmount *root_vm, int fd_slot) {
  if (!f) return off;
  struct dentry *d;
  struct vfsmount *vm;
  READ(d, f->f_path.dentry);
  READ(vm, f->f_path.mnt);
  if (!d || !vm) return off;
  off = put_path(s, off, budget, which, d, vm, root_d, root_vm);
  u8 pf = s->h.pflags[which & 7];
  if (!(pf & PF_PSEUDO)) {
    // d_unlinked(): unhashed and not its own parent.
    void **pprev;
    READ(pprev, d->d_hash.pprev);
    if (!pprev) s->h.pflags[which & 7] = pf | PF_DELETED;
  } else if (fd_slot >= 0) {
    struct inode *ino;
    READ(ino, f->f_inode);
    if (ino) {
      unsigned long magic, num;
      struct super_block *sb;
      READ(sb, ino->i_sb);
      READ(num, ino->i_ino);
      magic = 0;
      if (sb) READ(magic, sb->s_magic);
      s->h.magic[fd_slot & 1] = magic;
      s->h.ino[fd_slot & 1] = num;
    }
  }
  return off;
}

SEC("tp_btf/sched_process_exec")
int nw_exec(u64 *ctx) {
  struct linux_binprm *bprm = (struct linux_binprm *)ctx[2];
  u32 cpu = bpf_get_smp_processor_id();
  struct scratch *s = bpf_map_lookup_elem(&nw_scratch, &cpu);
  if (!s) {
    count_lost();
    return 0;
  }
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  struct exec_head *h = &s->h;
  __builtin_memset(h, 0, sizeof(*h));
  h->boot_ns = bpf_ktime_get_boot_ns();
  READ(h->pid, t->tgid);
  READ(h->start_boot_ns, t->start_boottime);
  struct task_struct *parent;
  READ(parent, t->real_parent);
  if (parent) READ(h->ppid, parent->tgid);
  const struct cred *cred;
  READ(cred, t->cred);
  h->uid = h->euid = h->gid = h->egid = h->auid = 0xffffffff;
  if (cred) {
    READ(h->uid, cred->uid.val);
    READ(h->euid, cred->euid.val);
    READ(h->gid, cred->gid.val);
    READ(h->egid, cred->egid.val);
  }
  if (FIELD_EXISTS(struct task_struct, loginuid)) {
    READ(h->auid, t->loginuid.val);
    h->flags |= F_LOGINUID;
  }

  // Pid 1 of its own pid namespace: the number at its deepest level.
  struct pid *tp;
  READ(tp, t->thread_pid);
  if (tp) {
    unsigned int level;
    READ(level, tp->level);
    if (level < 64) {
      int nr = 0;
      const char *at = (const char *)tp + FIELD_OFFSET(struct pid, numbers) + (u64)level * TYPE_SIZE(struct upid) +
                       FIELD_OFFSET(struct upid, nr);
      if (bpf_probe_read_kernel(&nr, sizeof(nr), at) == 0) {
        h->flags |= F_NS_KNOWN;
        if (nr == 1) h->flags |= F_NS_INIT;
      }
    }
  }

  // The executable's ctime.
  struct file *exe = 0;
  READ(exe, bprm->file);
  struct inode *exe_inode = 0;
  if (exe) READ(exe_inode, exe->f_inode);
  if (exe_inode) {
    if (FIELD_EXISTS(struct inode___sec, i_ctime_sec)) {
      READ(h->ctime_sec, ((struct inode___sec *)exe_inode)->i_ctime_sec);
      READ(h->ctime_nsec, ((struct inode___sec *)exe_inode)->i_ctime_nsec);
      // Since 6.13 the top bit flags a ctime someone has queried (multigrain timestamps).
      h->ctime_nsec &= ~(1u << 31);
    } else if (FIELD_EXISTS(struct inode___ts66, __i_ctime)) {
      struct timespec64 ts;
      READ(ts, ((struct inode___ts66 *)exe_inode)->__i_ctime);
      h->ctime_sec = ts.tv_sec;
      h->ctime_nsec = (u32)ts.tv_nsec;
    } else {
      struct timespec64 ts;
      READ(ts, ((struct inode___ts *)exe_inode)->i_ctime);
      h->ctime_sec = ts.tv_sec;
      h->ctime_nsec = (u32)ts.tv_nsec;
    }
    h->flags |= F_CTIME;
  }

  // Paths, relative to the process's root as /proc shows them to a process sharing it.
  struct fs_struct *fs;
  READ(fs, t->fs);
  struct dentry *root_d = 0;
  struct vfsmount *root_vm = 0;
  u32 off = 0;
  if (fs) {
    READ(root_d, fs->root.dentry);
    READ(root_vm, fs->root.mnt);
  }
  off = put_file(s, off, 4096, P_EXE, exe, root_d, root_vm, -1);
  if (fs) {
    struct dentry *d;
    struct vfsmount *vm;
    READ(d, fs->pwd.dentry);
    READ(vm, fs->pwd.mnt);
    if (d && vm) off = put_path(s, off, 4096, P_CWD, d, vm, root_d, root_vm);
  }
  struct files_struct *files;
  READ(files, t->files);
  if (files) {
    struct fdtable *fdt;
    READ(fdt, files->fdt);
    if (fdt) {
      unsigned int max_fds;
      struct file **fd;
      READ(max_fds, fdt->max_fds);
      READ(fd, fdt->fd);
      if (fd && max_fds >= 2) {
        struct file *f0, *f1;
        if (bpf_probe_read_kernel(&f0, sizeof(f0), &fd[0])) f0 = 0;
        if (bpf_probe_read_kernel(&f1, sizeof(f1), &fd[1])) f1 = 0;
        off = put_file(s, off, 1536, P_STDIN, f0, root_d, root_vm, 0);
        off = put_file(s, off, 1536, P_STDOUT, f1, root_d, root_vm, 1);
      }
    }
  }

  // Cgroups: the memory controller's (cgroup v1, where the kubelet's cgroupfs driver puts pods
  // on hybrid nodes) unless it lives on the unified hierarchy, and the unified one.
  struct css_set *cset;
  READ(cset, t->cgroups);
  if (cset) {
    struct cgroup *dfl;
    READ(dfl, cset->dfl_cgrp);
    if (ENUM_EXISTS(enum cgroup_subsys_id, memory_cgrp_id)) {
      u32 id = ENUM_VALUE(enum cgroup_subsys_id, memory_cgrp_id);
      struct cgroup_subsys_state *css = 0;
      if (id < 14) READ(css, cset->subsys[id]);
      struct cgroup *cg = 0;
      if (css) READ(cg, css->cgroup);
      struct cgroup_root *root = 0, *dfl_root = 0;
      if (cg) READ(root, cg->root);
      if (dfl) READ(dfl_root, dfl->root);
      if (cg && root && root != dfl_root) {
        READ(h->cg_v1_hierarchy, root->hierarchy_id);
        off = put_cgroup(s, off, 2048, P_CG_V1, cg);
      }
    }
    if (dfl) off = put_cgroup(s, off, 2048, P_CG_V2, dfl);
  }

  // comm and the command line, after the paths.
  if (off > STR_PATHS) off = STR_PATHS;
  off = verifier_bound(off);
  bpf_get_current_comm(&s->str[off], COMM_LEN);
  h->len[S_COMM] = COMM_LEN;
  off += COMM_LEN;
  struct mm_struct *mm;
  READ(mm, t->mm);
  if (mm) {
    unsigned long a0, a1;
    READ(a0, mm->arg_start);
    READ(a1, mm->arg_end);
    u64 len = a1 > a0 ? a1 - a0 : 0;
    if (len > ARGV_MAX) {
      len = ARGV_MAX;
      h->flags |= F_ARGV_TRUNCATED;
    }
    u32 at = verifier_bound(off);
    if (len > 0 && at + len <= sizeof(s->str)) {
      if (bpf_probe_read_user(&s->str[at], (u32)len, (const void *)a0)) {
        h->flags |= F_ARGV_MISSING;
        len = 0;
      }
    } else if (len > 0) {
      h->flags |= F_ARGV_MISSING;
      len = 0;
    }
    h->len[S_ARGS] = (u16)len;
    off = at + (u32)len;
  } else {
    h->flags |= F_ARGV_MISSING;
  }
  u64 size = sizeof(struct exec_head) + (u64)off;
  if (size > sizeof(struct scratch)) size = sizeof(struct scratch);
  if (bpf_ringbuf_output(&nw_events, s, size, 0)) count_lost();
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
