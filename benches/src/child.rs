//! Two-process benchmarks: the benchmark binary re-executes itself with a role in the environment.
//!
//! `main` calls [`role`] first; in a child it runs the role's plain function and exits, so criterion
//! never starts there. The child asks the kernel to kill it if the benchmark process dies, so an
//! aborted run leaves no process spinning on a core.

use std::ffi::OsStr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that selects a child's role.
pub const ROLE_VAR: &str = "JOURNAL_BENCH_ROLE";

/// The role this process was started with, if it is a child. Also arranges for the child to be
/// killed when its parent exits.
pub fn role() -> Option<String> {
    let role = std::env::var(ROLE_VAR).ok()?;
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers and affects only this process.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    Some(role)
}

/// Starts this same executable as a child with `role` and the extra environment `envs`.
/// Standard input is closed; standard output and error are inherited (a child reports failures
/// on stderr and exits nonzero).
pub fn spawn<K, V>(role: &str, envs: impl IntoIterator<Item = (K, V)>) -> Child
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let exe = std::env::current_exe().expect("current_exe");
    Command::new(exe)
        .env(ROLE_VAR, role)
        .envs(envs)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn the benchmark's child process")
}

/// Waits for a child (at most 30 s, then kills it) and panics if it failed.
pub fn join(mut child: Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait().expect("wait for the child") {
            Some(status) => {
                assert!(status.success(), "{what} child failed: {status}");
                return;
            }
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} child did not exit within 30 s; killed it");
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// A required environment variable of a child (panics with its name if missing).
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child needs the environment variable {name}"))
}
