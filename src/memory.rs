//! Memory between the batch's steps: the binary's allocator keeps what a
//! step freed for reuse, and a step that follows on other threads does not
//! reuse it. The binary registers how to hand it back ([`set_release`]);
//! the batch calls [`release`] after each step.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Register the allocator's "return freed memory to the system" call
/// (the binary: mimalloc's `mi_collect(true)`); the first one stays.
pub fn set_release(f: fn()) {
    let _ = RELEASE.set(f);
}

/// Hand freed memory back, when a release call is registered: on this
/// thread and on every thread of rayon's pool (the allocator keeps a
/// block freed on one thread for the thread that allocated it).
pub fn release() {
    if let Some(f) = RELEASE.get() {
        f();
        rayon::broadcast(|_| f());
    }
}

/// This process's resident memory in MB (Linux), for `-vv`.
pub fn resident_mb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::resident_mb().is_some_and(|mb| mb > 0));
        }
    }
}
