// Names of the syscalls an audit file watch (-p wa) reports, by audit arch and number: those
// that write to a file or change its attributes. Numbers from each architecture's syscall
// table (x86-64, i386, aarch64, arm: the generic table for aarch64).

const X86_64: Record<number, string> = {
  2: 'open', 76: 'truncate', 77: 'ftruncate', 82: 'rename', 83: 'mkdir', 84: 'rmdir', 85: 'creat', 86: 'link', 87: 'unlink',
  88: 'symlink', 90: 'chmod', 91: 'fchmod', 92: 'chown', 93: 'fchown', 94: 'lchown', 132: 'utime', 133: 'mknod',
  188: 'setxattr', 189: 'lsetxattr', 190: 'fsetxattr', 197: 'removexattr', 198: 'lremovexattr', 199: 'fremovexattr',
  235: 'utimes', 257: 'openat', 258: 'mkdirat', 259: 'mknodat', 260: 'fchownat', 261: 'futimesat', 263: 'unlinkat',
  264: 'renameat', 265: 'linkat', 266: 'symlinkat', 268: 'fchmodat', 280: 'utimensat', 316: 'renameat2', 437: 'openat2',
  452: 'fchmodat2',
};
const I386: Record<number, string> = {
  5: 'open', 8: 'creat', 9: 'link', 10: 'unlink', 14: 'mknod', 15: 'chmod', 16: 'lchown16', 38: 'rename', 39: 'mkdir',
  40: 'rmdir', 83: 'symlink', 92: 'truncate', 93: 'ftruncate', 94: 'fchmod', 95: 'fchown16', 182: 'chown16', 198: 'lchown',
  207: 'fchown', 212: 'chown', 226: 'setxattr', 227: 'lsetxattr', 228: 'fsetxattr', 235: 'removexattr', 236: 'lremovexattr',
  237: 'fremovexattr', 295: 'openat', 296: 'mkdirat', 297: 'mknodat', 298: 'fchownat', 301: 'unlinkat', 302: 'renameat',
  303: 'linkat', 304: 'symlinkat', 306: 'fchmodat', 320: 'utimensat', 353: 'renameat2', 437: 'openat2', 452: 'fchmodat2',
};
const GENERIC: Record<number, string> = {
  5: 'setxattr', 6: 'lsetxattr', 7: 'fsetxattr', 14: 'removexattr', 15: 'lremovexattr', 16: 'fremovexattr', 33: 'mknodat',
  34: 'mkdirat', 35: 'unlinkat', 36: 'symlinkat', 37: 'linkat', 38: 'renameat', 45: 'truncate', 46: 'ftruncate', 52: 'fchmod',
  53: 'fchmodat', 54: 'fchownat', 55: 'fchown', 56: 'openat', 88: 'utimensat', 276: 'renameat2', 437: 'openat2', 452: 'fchmodat2',
};
const ARM: Record<number, string> = {
  5: 'open', 8: 'creat', 9: 'link', 10: 'unlink', 14: 'mknod', 15: 'chmod', 38: 'rename', 39: 'mkdir', 40: 'rmdir',
  83: 'symlink', 92: 'truncate', 93: 'ftruncate', 94: 'fchmod', 182: 'chown', 207: 'fchown', 198: 'lchown', 226: 'setxattr',
  227: 'lsetxattr', 228: 'fsetxattr', 235: 'removexattr', 236: 'lremovexattr', 237: 'fremovexattr', 322: 'openat',
  323: 'mkdirat', 324: 'mknodat', 325: 'fchownat', 328: 'unlinkat', 329: 'renameat', 330: 'linkat', 331: 'symlinkat',
  333: 'fchmodat', 348: 'utimensat', 382: 'renameat2', 437: 'openat2', 452: 'fchmodat2',
};

const BY_ARCH: Record<number, Record<number, string>> = {
  0xc000003e: X86_64,
  0x40000003: I386,
  0xc00000b7: GENERIC,
  0x40000028: ARM,
};

export function syscallName(arch: number, nr: number): string {
  return BY_ARCH[arch]?.[nr] ?? `syscall ${nr}`;
}
