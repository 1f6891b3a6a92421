"""The syscall deny-list, as one list of names and as a classic BPF program for `bwrap --seccomp FD`.

Hand-assembled rather than built with libseccomp, so the sandbox needs no C library
beyond bwrap itself. The filter allows by default and refuses what a test program has
no business doing: debugging other processes, mounting, new namespaces, kernel
keyrings and modules, eBPF, perf, userfaultfd, io_uring, and every socket family but
AF_UNIX. Refused calls fail with an errno (EPERM, EAFNOSUPPORT for sockets), so the
program sees an ordinary exception; a syscall from a foreign ABI (32-bit calls on
x86_64) kills the process.
"""

from __future__ import annotations

import errno
import platform
import struct

# Refused with EPERM. Grouped by why.
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",            # reading other processes
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",  # the filesystem tree
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "open_by_handle_at", "name_to_handle_at",
    "unshare", "setns",                                                   # namespaces
    "bpf", "perf_event_open", "userfaultfd",                              # kernel attack surface
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key",                                   # kernel keyrings
    "init_module", "finit_module", "delete_module",                       # modules and kexec
    "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog",          # the host itself
    "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
)
SOCKET_CALLS = ("socket", "socketpair")  # allowed for AF_UNIX only, else EAFNOSUPPORT
AF_UNIX = 1
# clone() with any CLONE_NEW* flag is refused (EPERM); clone3 answers ENOSYS, so libc falls back to clone.
CLONE_NAMESPACE_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET

# Syscall numbers per architecture (from the kernel's syscall tables).
_X86_64 = dict(
    ptrace=101, process_vm_readv=310, process_vm_writev=311, kcmp=312, mount=165, umount2=166,
    pivot_root=155, chroot=161, move_mount=429, open_tree=428, fsopen=430, fsconfig=431, fsmount=432,
    fspick=433, mount_setattr=442, open_by_handle_at=304, name_to_handle_at=303, unshare=272, setns=308,
    bpf=321, perf_event_open=298, userfaultfd=323, io_uring_setup=425, io_uring_enter=426,
    io_uring_register=427, keyctl=250, add_key=248, request_key=249, init_module=175, finit_module=313,
    delete_module=176, kexec_load=246, kexec_file_load=320, reboot=169, swapon=167, swapoff=168, acct=163,
    quotactl=179, syslog=103, settimeofday=164, clock_settime=227, adjtimex=159, clock_adjtime=305,
    socket=41, socketpair=53, clone=56, clone3=435,
)
_AARCH64 = dict(
    ptrace=117, process_vm_readv=270, process_vm_writev=271, kcmp=272, mount=40, umount2=39,
    pivot_root=41, chroot=51, move_mount=429, open_tree=428, fsopen=430, fsconfig=431, fsmount=432,
    fspick=433, mount_setattr=442, open_by_handle_at=265, name_to_handle_at=264, unshare=97, setns=268,
    bpf=280, perf_event_open=241, userfaultfd=282, io_uring_setup=425, io_uring_enter=426,
    io_uring_register=427, keyctl=219, add_key=217, request_key=218, init_module=105, finit_module=273,
    delete_module=106, kexec_load=104, kexec_file_load=294, reboot=142, swapon=224, swapoff=225, acct=89,
    quotactl=60, syslog=116, settimeofday=170, clock_settime=112, adjtimex=171, clock_adjtime=266,
    socket=198, socketpair=199, clone=220, clone3=435,
)
# machine -> (AUDIT_ARCH_* value, syscall table, lowest number of a foreign ABI sharing the arch or None)
ARCHES = {
    "x86_64": (0xC000003E, _X86_64, 0x40000000),  # x32 calls carry bit 30
    "aarch64": (0xC00000B7, _AARCH64, None),
}

RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000
_LD_ABS_W, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (arg0's low word on little-endian)


class SeccompUnsupported(RuntimeError):
    """No syscall table for this machine's architecture: the deny-list cannot be built."""


def machine() -> str:
    return platform.machine().lower().replace("amd64", "x86_64").replace("arm64", "aarch64")


def filter_program(arch: str | None = None) -> bytes:
    """The deny-list as an array of struct sock_filter, the format `bwrap --seccomp` reads."""
    arch = arch or machine()
    if arch not in ARCHES:
        raise SeccompUnsupported(f"the seccomp deny-list has no syscall table for architecture {arch!r} "
                                 f"(supported: {', '.join(ARCHES)})")
    audit_arch, table, foreign_abi = ARCHES[arch]
    eperm, enosys, eafnosupport = (RET_ERRNO | code for code in (errno.EPERM, errno.ENOSYS, errno.EAFNOSUPPORT))
    code: list[tuple] = [  # (opcode, k, jump-if-true label, jump-if-false label); None falls through
        (_LD_ABS_W, _ARCH, None, None),
        (_JEQ, audit_arch, None, "kill"),
        (_LD_ABS_W, _NR, None, None),
    ]
    if foreign_abi is not None:
        code.append((_JGE, foreign_abi, "eperm", None))
    code += [(_JEQ, table[name], "eperm", None) for name in DENIED]
    code += [(_JEQ, table[name], "socket", None) for name in SOCKET_CALLS]
    code += [(_JEQ, table["clone"], "clone", None), (_JEQ, table["clone3"], "enosys", None),
             (_RET, RET_ALLOW, None, None),
             "socket", (_LD_ABS_W, _ARG0, None, None), (_JEQ, AF_UNIX, "allow", None),
             (_RET, eafnosupport, None, None),
             "clone", (_LD_ABS_W, _ARG0, None, None), (_JSET, CLONE_NAMESPACE_FLAGS, "eperm", "allow"),
             "allow", (_RET, RET_ALLOW, None, None),
             "eperm", (_RET, eperm, None, None),
             "enosys", (_RET, enosys, None, None),
             "kill", (_RET, RET_KILL_PROCESS, None, None)]
    return _assemble(code)


def _assemble(code: list) -> bytes:
    """Resolve labels (strings in the list) into BPF's relative jump offsets and pack the program."""
    labels, program = {}, []
    for entry in code:
        if isinstance(entry, str):
            labels[entry] = len(program)
        else:
            program.append(entry)
    out = bytearray()
    for pc, (op, k, if_true, if_false) in enumerate(program):
        jt, jf = (0 if label is None else labels[label] - pc - 1 for label in (if_true, if_false))
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise AssertionError(f"seccomp: jump out of range at instruction {pc}")
        out += struct.pack("=HBBI", op, jt, jf, k)
    return bytes(out)
