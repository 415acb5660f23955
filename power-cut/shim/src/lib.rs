//! Test only. Loaded with `LD_PRELOAD` into a process, this library records every operation that
//! decides what a file holds after a power cut — writes, truncates, syncs, renames, links and
//! unlinks — on files under the directory named by `POWER_CUT_DIR`, appending them to the log
//! named by `POWER_CUT_LOG`. Each call goes through to the C library unchanged; the log is
//! written after the call returns, with what it really did.
//!
//! Writes to a file named `.power-cut-mark` in the directory are not file operations: they are
//! logged as marks (a phase starts, a commit was acknowledged), in order with the rest.
//!
//! The `-shm` file is not recorded: SQLite rebuilds it when the first connection opens.
//!
//! Record: kind (u8), fd (i32), a (u64), b (u64), length (u32), bytes, all little-endian.
//! Kinds: 1 open (a = flags, b = 1 if the file existed, bytes = path), 2 close, 3 write
//! (a = offset, bytes = data), 4 truncate (a = length), 5 sync, 6 rename (bytes = from NUL to),
//! 7 unlink (bytes = path), 8 link (bytes = from NUL to), 9 mark (bytes = text).

#![allow(unsafe_code, unused_unsafe, clippy::missing_safety_doc, missing_docs)]

use libc::{c_char, c_int, c_uint, c_void, mode_t, off_t, size_t, ssize_t};
use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::{Mutex, OnceLock};

const OPEN: u8 = 1;
const CLOSE: u8 = 2;
const WRITE: u8 = 3;
const TRUNCATE: u8 = 4;
const SYNC: u8 = 5;
const RENAME: u8 = 6;
const UNLINK: u8 = 7;
const LINK: u8 = 8;
const MARK: u8 = 9;

/// One C library function, found past this library.
macro_rules! real {
    ($name:ident : fn($($arg:ty),*) -> $ret:ty) => {{
        static F: OnceLock<usize> = OnceLock::new();
        let address = *F.get_or_init(|| {
            let name = concat!(stringify!($name), "\0");
            let f = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
            assert!(!f.is_null(), "power-cut shim: no {}", stringify!($name));
            f as usize
        });
        #[allow(unused_unsafe)]
        unsafe { std::mem::transmute::<usize, unsafe extern "C" fn($($arg),*) -> $ret>(address) }
    }};
}

struct Recorder {
    dir: Vec<u8>,
    log: c_int,
    /// Recorded descriptors: whether each was opened with `O_APPEND`.
    fds: HashMap<c_int, bool>,
    marks: Option<c_int>,
}

static RECORDER: Mutex<Option<Recorder>> = Mutex::new(None);
static STARTED: OnceLock<bool> = OnceLock::new();

fn with<R>(f: impl FnOnce(&mut Recorder) -> R) -> Option<R> {
    let on = *STARTED.get_or_init(|| {
        let (Some(dir), Some(log)) = (
            std::env::var_os("POWER_CUT_DIR"),
            std::env::var_os("POWER_CUT_LOG"),
        ) else {
            return false;
        };
        use std::os::unix::ffi::OsStrExt;
        let log = std::ffi::CString::new(log.as_bytes()).expect("log path");
        let open = real!(open: fn(*const c_char, c_int, mode_t) -> c_int);
        let fd = unsafe {
            open(
                log.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
                0o644,
            )
        };
        assert!(fd >= 0, "power-cut shim: cannot open the log");
        let mut dir = dir.as_bytes().to_vec();
        while dir.len() > 1 && dir.ends_with(b"/") {
            dir.pop();
        }
        *RECORDER.lock().unwrap() = Some(Recorder {
            dir,
            log: fd,
            fds: HashMap::new(),
            marks: None,
        });
        true
    });
    if !on {
        return None;
    }
    let mut guard = RECORDER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    guard.as_mut().map(f)
}

impl Recorder {
    fn watched(&self, path: &[u8]) -> bool {
        let path = path.strip_suffix(b"/").unwrap_or(path);
        (path == self.dir.as_slice()
            || (path.starts_with(&self.dir) && path.get(self.dir.len()) == Some(&b'/')))
            && !path.ends_with(b"-shm")
    }

    fn record(&self, kind: u8, fd: c_int, a: u64, b: u64, bytes: &[u8]) {
        let mut out = Vec::with_capacity(25 + bytes.len());
        out.push(kind);
        out.extend_from_slice(&fd.to_le_bytes());
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
        out.extend_from_slice(
            &u32::try_from(bytes.len())
                .expect("record size")
                .to_le_bytes(),
        );
        out.extend_from_slice(bytes);
        let write = real!(write: fn(c_int, *const c_void, size_t) -> ssize_t);
        let mut done = 0;
        while done < out.len() {
            let n = unsafe { write(self.log, out[done..].as_ptr().cast(), out.len() - done) };
            assert!(n > 0, "power-cut shim: cannot write the log");
            done += n as usize;
        }
    }
}

unsafe fn bytes<'a>(path: *const c_char) -> &'a [u8] {
    if path.is_null() {
        b""
    } else {
        unsafe { CStr::from_ptr(path) }.to_bytes()
    }
}

/// The absolute path `path` names from `dirfd`, when it can be told without a system call.
unsafe fn absolute(dirfd: c_int, path: *const c_char) -> Option<Vec<u8>> {
    let p = unsafe { bytes(path) };
    if p.starts_with(b"/") {
        Some(p.to_vec())
    } else if dirfd == libc::AT_FDCWD {
        let cwd = std::env::current_dir().ok()?;
        use std::os::unix::ffi::OsStrExt;
        let mut full = cwd.as_os_str().as_bytes().to_vec();
        full.push(b'/');
        full.extend_from_slice(p);
        Some(full)
    } else {
        None
    }
}

fn exists(path: &[u8]) -> bool {
    let Ok(c) = std::ffi::CString::new(path) else {
        return false;
    };
    unsafe { libc::access(c.as_ptr(), libc::F_OK) == 0 }
}

fn opened(fd: c_int, path: Option<Vec<u8>>, flags: c_int, existed: bool) {
    if fd < 0 {
        return;
    }
    let Some(path) = path else { return };
    with(|r| {
        if !r.watched(&path) {
            return;
        }
        if path.ends_with(b"/.power-cut-mark") {
            r.marks = Some(fd);
            return;
        }
        r.fds.insert(fd, flags & libc::O_APPEND != 0);
        r.record(OPEN, fd, flags as u32 as u64, u64::from(existed), &path);
    });
}

unsafe fn do_open(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
    at: bool,
    name64: bool,
) -> c_int {
    let full = unsafe { absolute(dirfd, path) };
    let existed = full.as_deref().is_some_and(exists);
    let fd = unsafe {
        match (at, name64) {
            (false, false) => {
                real!(open: fn(*const c_char, c_int, mode_t) -> c_int)(path, flags, mode)
            }
            (false, true) => {
                real!(open64: fn(*const c_char, c_int, mode_t) -> c_int)(path, flags, mode)
            }
            (true, false) => real!(openat: fn(c_int, *const c_char, c_int, mode_t) -> c_int)(
                dirfd, path, flags, mode,
            ),
            (true, true) => real!(openat64: fn(c_int, *const c_char, c_int, mode_t) -> c_int)(
                dirfd, path, flags, mode,
            ),
        }
    };
    opened(fd, full, flags, existed);
    fd
}

// The C declarations are variadic (`mode` only with O_CREAT); on the platforms this runs on a
// fixed third argument reads the same register.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    unsafe { do_open(libc::AT_FDCWD, path, flags, mode, false, false) }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    unsafe { do_open(libc::AT_FDCWD, path, flags, mode, false, true) }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    unsafe { do_open(dirfd, path, flags, mode, true, false) }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat64(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    unsafe { do_open(dirfd, path, flags, mode, true, true) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    with(|r| {
        if r.marks == Some(fd) {
            r.marks = None;
        } else if r.fds.remove(&fd).is_some() {
            r.record(CLOSE, fd, 0, 0, b"");
        }
    });
    unsafe { real!(close: fn(c_int) -> c_int)(fd) }
}

fn wrote(fd: c_int, offset: Option<i64>, buf: *const c_void, n: ssize_t) {
    if n <= 0 {
        return;
    }
    with(|r| {
        let data = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), n as usize) };
        if r.marks == Some(fd) {
            r.record(MARK, fd, 0, 0, data);
        } else if r.fds.contains_key(&fd) {
            let offset = offset.expect("the offset of a recorded write");
            r.record(WRITE, fd, offset as u64, 0, data);
        }
    });
}

/// Where a `write` on `fd` will land, for a recorded descriptor.
fn position(fd: c_int) -> Option<i64> {
    with(|r| r.fds.get(&fd).copied())
        .flatten()
        .map(|append| unsafe {
            if append {
                let mut st: libc::stat = std::mem::zeroed();
                libc::fstat(fd, &mut st);
                st.st_size
            } else {
                libc::lseek(fd, 0, libc::SEEK_CUR)
            }
        })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    let at = position(fd);
    let n = unsafe { real!(write: fn(c_int, *const c_void, size_t) -> ssize_t)(fd, buf, count) };
    wrote(fd, at, buf, n);
    n
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwrite(
    fd: c_int,
    buf: *const c_void,
    count: size_t,
    offset: off_t,
) -> ssize_t {
    let n = unsafe {
        real!(pwrite: fn(c_int, *const c_void, size_t, off_t) -> ssize_t)(fd, buf, count, offset)
    };
    wrote(fd, Some(offset), buf, n);
    n
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwrite64(
    fd: c_int,
    buf: *const c_void,
    count: size_t,
    offset: off_t,
) -> ssize_t {
    let n = unsafe {
        real!(pwrite64: fn(c_int, *const c_void, size_t, off_t) -> ssize_t)(fd, buf, count, offset)
    };
    wrote(fd, Some(offset), buf, n);
    n
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, count: c_int) -> ssize_t {
    let mut at = position(fd);
    let n =
        unsafe { real!(writev: fn(c_int, *const libc::iovec, c_int) -> ssize_t)(fd, iov, count) };
    let mut left = n.max(0);
    for i in 0..count.max(0) as usize {
        if left == 0 {
            break;
        }
        let v = unsafe { &*iov.add(i) };
        let take = (v.iov_len as ssize_t).min(left);
        wrote(fd, at, v.iov_base, take);
        at = at.map(|a| a + take as i64);
        left -= take;
    }
    n
}

fn truncated(fd: c_int, length: off_t, rc: c_int) {
    if rc == 0 {
        with(|r| {
            if r.fds.contains_key(&fd) {
                r.record(TRUNCATE, fd, length as u64, 0, b"");
            }
        });
    }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ftruncate(fd: c_int, length: off_t) -> c_int {
    let rc = unsafe { real!(ftruncate: fn(c_int, off_t) -> c_int)(fd, length) };
    truncated(fd, length, rc);
    rc
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ftruncate64(fd: c_int, length: off_t) -> c_int {
    let rc = unsafe { real!(ftruncate64: fn(c_int, off_t) -> c_int)(fd, length) };
    truncated(fd, length, rc);
    rc
}

fn synced(fd: c_int, rc: c_int) {
    if rc == 0 {
        with(|r| {
            if r.fds.contains_key(&fd) {
                r.record(SYNC, fd, 0, 0, b"");
            }
        });
    }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fsync(fd: c_int) -> c_int {
    let rc = unsafe { real!(fsync: fn(c_int) -> c_int)(fd) };
    synced(fd, rc);
    rc
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdatasync(fd: c_int) -> c_int {
    let rc = unsafe { real!(fdatasync: fn(c_int) -> c_int)(fd) };
    synced(fd, rc);
    rc
}

fn pair(kind: u8, from: Option<Vec<u8>>, to: Option<Vec<u8>>, rc: c_int) {
    if rc != 0 {
        return;
    }
    with(|r| {
        let (Some(from), Some(to)) = (from, to) else {
            return;
        };
        assert!(
            r.watched(&from) == r.watched(&to),
            "power-cut shim: a rename or link across the recorded directory's edge"
        );
        if r.watched(&from) {
            let mut both = from;
            both.push(0);
            both.extend_from_slice(&to);
            r.record(kind, -1, 0, 0, &both);
        }
    });
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rename(from: *const c_char, to: *const c_char) -> c_int {
    let (f, t) = unsafe { (absolute(libc::AT_FDCWD, from), absolute(libc::AT_FDCWD, to)) };
    let rc = unsafe { real!(rename: fn(*const c_char, *const c_char) -> c_int)(from, to) };
    pair(RENAME, f, t, rc);
    rc
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn renameat(
    fd1: c_int,
    from: *const c_char,
    fd2: c_int,
    to: *const c_char,
) -> c_int {
    let (f, t) = unsafe { (absolute(fd1, from), absolute(fd2, to)) };
    let rc = unsafe {
        real!(renameat: fn(c_int, *const c_char, c_int, *const c_char) -> c_int)(fd1, from, fd2, to)
    };
    pair(RENAME, f, t, rc);
    rc
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn renameat2(
    fd1: c_int,
    from: *const c_char,
    fd2: c_int,
    to: *const c_char,
    flags: c_uint,
) -> c_int {
    let (f, t) = unsafe { (absolute(fd1, from), absolute(fd2, to)) };
    let rc = unsafe {
        real!(renameat2: fn(c_int, *const c_char, c_int, *const c_char, c_uint) -> c_int)(
            fd1, from, fd2, to, flags,
        )
    };
    pair(RENAME, f, t, rc);
    rc
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn link(from: *const c_char, to: *const c_char) -> c_int {
    let (f, t) = unsafe { (absolute(libc::AT_FDCWD, from), absolute(libc::AT_FDCWD, to)) };
    let rc = unsafe { real!(link: fn(*const c_char, *const c_char) -> c_int)(from, to) };
    pair(LINK, f, t, rc);
    rc
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn linkat(
    fd1: c_int,
    from: *const c_char,
    fd2: c_int,
    to: *const c_char,
    flags: c_int,
) -> c_int {
    let (f, t) = unsafe { (absolute(fd1, from), absolute(fd2, to)) };
    let rc = unsafe {
        real!(linkat: fn(c_int, *const c_char, c_int, *const c_char, c_int) -> c_int)(
            fd1, from, fd2, to, flags,
        )
    };
    pair(LINK, f, t, rc);
    rc
}

fn unlinked(path: Option<Vec<u8>>, rc: c_int) {
    if rc != 0 {
        return;
    }
    with(|r| {
        if let Some(path) = path.filter(|p| r.watched(p)) {
            r.record(UNLINK, -1, 0, 0, &path);
        }
    });
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unlink(path: *const c_char) -> c_int {
    let p = unsafe { absolute(libc::AT_FDCWD, path) };
    let rc = unsafe { real!(unlink: fn(*const c_char) -> c_int)(path) };
    unlinked(p, rc);
    rc
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    let p = unsafe { absolute(dirfd, path) };
    let rc =
        unsafe { real!(unlinkat: fn(c_int, *const c_char, c_int) -> c_int)(dirfd, path, flags) };
    unlinked(p, rc);
    rc
}

/// Copies between descriptors in the kernel would bypass the record: refuse them on recorded
/// files, so that the caller falls back to reads and writes (`std::io::copy` does).
fn refuse_kernel_copy(fd: c_int) -> bool {
    with(|r| r.fds.contains_key(&fd)).unwrap_or(false)
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn copy_file_range(
    fd_in: c_int,
    off_in: *mut i64,
    fd_out: c_int,
    off_out: *mut i64,
    len: size_t,
    flags: c_uint,
) -> ssize_t {
    if refuse_kernel_copy(fd_out) {
        unsafe { *libc::__errno_location() = libc::EXDEV };
        return -1;
    }
    unsafe {
        real!(copy_file_range: fn(c_int, *mut i64, c_int, *mut i64, size_t, c_uint) -> ssize_t)(
            fd_in, off_in, fd_out, off_out, len, flags,
        )
    }
}
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendfile(
    out_fd: c_int,
    in_fd: c_int,
    offset: *mut off_t,
    count: size_t,
) -> ssize_t {
    if refuse_kernel_copy(out_fd) {
        unsafe { *libc::__errno_location() = libc::EINVAL };
        return -1;
    }
    unsafe {
        real!(sendfile: fn(c_int, c_int, *mut off_t, size_t) -> ssize_t)(
            out_fd, in_fd, offset, count,
        )
    }
}
