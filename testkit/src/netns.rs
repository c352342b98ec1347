//! Network namespaces for tests that need several machines: each namespace
//! has its own interfaces, addresses and routes, joined to others by veth
//! pairs. Created by `ip netns` (iproute2; root), removed on drop with
//! everything inside. The addresses exist only inside the namespaces, so
//! the machine's own network is untouched.

use std::process::Command;

/// A network namespace, deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `ip netns` namespace `prefix-<pid>` with its loopback up.
    pub fn create(prefix: &str) -> Netns {
        let name = format!("{prefix}-{}", std::process::id());
        // A namespace left by a killed earlier run of this test: gone first.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip ARGS` inside the namespace, e.g. `["route", "add", …]`.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// `program` to run inside the namespace (`ip netns exec` execs it, so
    /// the child's pid is the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Moves the calling thread into the namespace: sockets it (and the
    /// threads it starts afterwards, e.g. a runtime's) opens live there.
    pub fn enter_this_thread(&self) {
        let file = std::fs::File::open(format!("/var/run/netns/{}", self.name))
            .expect("open the namespace");
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&file),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns into the namespace");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Joins `a` and `b` with a veth pair, `a_addr` (CIDR) on `a`'s end and
/// `b_addr` on `b`'s, both up. `tag` keeps interface names apart (≤ 8
/// characters).
pub fn link(tag: &str, a: &Netns, a_addr: &str, b: &Netns, b_addr: &str) {
    let (a_if, b_if) = (format!("{tag}-a"), format!("{tag}-b"));
    ip(&[
        "link", "add", &a_if, "netns", &a.name, "type", "veth", "peer", "name", &b_if, "netns",
        &b.name,
    ]);
    for (ns, iface, addr) in [(a, &a_if, a_addr), (b, &b_if, b_addr)] {
        ns.ip(&["addr", "add", addr, "dev", iface]);
        ns.ip(&["link", "set", iface, "up"]);
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
