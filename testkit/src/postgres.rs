//! A private PostgreSQL cluster (`initdb` + `pg_ctl`) on a free port in a
//! temporary directory. As root (CI), the binaries run as the `postgres`
//! user on a directory it owns, since PostgreSQL refuses to run as root.

use crate::{free_port, running_as_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

pub struct Postgres {
    port: u16,
    dir: TempDir,
    bin: PathBuf,
    running: bool,
}

impl Postgres {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = bin_dir();
        if running_as_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let pg = Postgres {
            port: free_port(),
            dir,
            bin,
            running: false,
        };
        let data = pg.data_dir();
        run(&mut pg.command(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        ));
        let mut pg = pg;
        pg.start_server();
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(tool);
        if running_as_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe).args(args);
            cmd
        } else {
            let mut cmd = Command::new(exe);
            cmd.args(args);
            cmd
        }
    }

    /// Starts (or restarts after [`Postgres::stop_immediate`]) the server.
    pub fn start_server(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("pg.log").display().to_string();
        run(&mut self.command(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        ));
        self.running = true;
    }

    /// Immediate shutdown: like a crash, recovery runs on the next start.
    pub fn stop_immediate(&mut self) {
        if self.running {
            let _ = self
                .command(
                    "pg_ctl",
                    &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"],
                )
                .output();
            self.running = false;
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop_immediate();
    }
}

/// The newest installed PostgreSQL's binaries.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL must be installed under /usr/lib/postgresql (.ci/run installs it)")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            Path::new(&bin)
                .join("initdb")
                .exists()
                .then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().expect("no PostgreSQL with initdb found").1
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn PostgreSQL tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
