//! Who holds a lease, and whether that holder can still be alive. A process killed while holding
//! a lease would otherwise block every other process until the lease expires (found by the
//! kill -9 test against oidc-provider: 30 s stalls).

/// "pid:random@host": unique per process start, and enough to tell whether the holder lives.
pub fn holder_id() -> String {
    format!(
        "{}:{:08x}@{}",
        std::process::id(),
        rand::random::<u32>(),
        hostname()
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// True only when the holder is provably gone: it ran on this host and its process no longer
/// exists. Anything we cannot check (another host, another OS, a different format) counts as
/// alive, and the lease simply expires.
pub fn holder_is_dead(holder: &str) -> bool {
    let Some((pid_part, host)) = holder.split_once('@') else {
        return false;
    };
    if host != hostname() {
        return false;
    }
    let Some(pid) = pid_part
        .split(':')
        .next()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    cfg!(target_os = "linux") && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_is_alive_and_a_finished_one_is_dead() {
        assert!(!holder_is_dead(&holder_id()), "this process is alive");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = format!("{pid}:00000000@{}", hostname());
        assert!(holder_is_dead(&dead));
        assert!(
            !holder_is_dead(&format!("{pid}:00000000@some-other-host")),
            "cannot check other hosts"
        );
        assert!(!holder_is_dead("garbage"));
    }
}
