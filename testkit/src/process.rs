//! A child process whose stderr lines a test can wait on (a log line is an
//! event), echoed to the test's own stderr, and which is killed when the
//! test ends, even by a panic.

use std::io::BufRead as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct Logged {
    child: Child,
    label: String,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Logged {
    /// Spawns `cmd` with stderr read line by line (stdout inherited).
    pub fn spawn(label: &str, mut cmd: Command) -> Logged {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label}: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let lines: Arc<(Mutex<Vec<String>>, Condvar)> = Arc::default();
        let (seen, tag) = (lines.clone(), label.to_string());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                eprintln!("[{tag}] {line}");
                let (list, changed) = &*seen;
                list.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                changed.notify_all();
            }
        });
        Logged {
            child,
            label: label.to_string(),
            lines,
        }
    }

    /// Waits for a stderr line matching `wanted`; returns it.
    pub fn wait_for_line(&self, wanted: impl Fn(&str) -> bool, limit: Duration) -> String {
        let start = Instant::now();
        let (list, changed) = &*self.lines;
        let mut lines = list.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(line) = lines.iter().find(|l| wanted(l)) {
                return line.clone();
            }
            let left = limit
                .checked_sub(start.elapsed())
                .unwrap_or_else(|| panic!("{}: the awaited line never came", self.label));
            lines = changed
                .wait_timeout(lines, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Every stderr line so far, joined.
    pub fn stderr(&self) -> String {
        self.lines
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait for the child")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
