//! A real terminal for `top`: a tmux server of the test's own (one socket per test), a window
//! of a given size running one command, its screen read with `capture-pane` and keys typed
//! with `send-keys`. The server is killed on drop, also when a test fails.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// One tmux server with one window.
pub struct Tmux {
    socket: String,
    status: PathBuf,
}

/// True when tmux is installed (`cargo xtask setup` installs it).
pub fn available() -> bool {
    Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success())
}

impl Tmux {
    /// Starts `argv` in a `width`×`height` window (`prefix`, e.g. `ip netns exec NS`, runs the
    /// tmux server itself, so the command inherits what it sets). The command's exit status is
    /// kept for [`Tmux::wait_exit`].
    pub fn start(tag: &str, width: u16, height: u16, prefix: &[&str], argv: &[&str]) -> Tmux {
        let socket = format!("zkt-{tag}-{}", std::process::id());
        let status = std::env::temp_dir().join(format!("{socket}.status"));
        let _ = std::fs::remove_file(&status);
        let quoted: Vec<String> =
            argv.iter().map(|a| format!("'{}'", a.replace('\'', r"'\''"))).collect();
        let shell = format!("{}; echo $? > '{}'", quoted.join(" "), status.display());
        let mut cmd = Command::new(prefix.first().copied().unwrap_or("tmux"));
        if !prefix.is_empty() {
            cmd.args(&prefix[1..]).arg("tmux");
        }
        let (w, h) = (width.to_string(), height.to_string());
        let out = cmd
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d", "-x", &w, "-y", &h])
            .args(["sh", "-c", &shell])
            .output()
            .expect("tmux runs");
        assert!(out.status.success(), "tmux: {}", String::from_utf8_lossy(&out.stderr));
        Tmux { socket, status }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out =
            Command::new("tmux").args(["-L", &self.socket]).args(args).output().expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen as text, one line per row.
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Waits until the screen shows `text` (panics with the screen after `timeout`).
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(start.elapsed() < timeout, "never showed {text:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `keys` (tmux key names: `q`, `Tab`, `Space`, `C-r`…).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// The command's exit status once it ended, waiting up to `timeout`.
    pub fn wait_exit(&self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(s) = std::fs::read_to_string(&self.status)
                && let Ok(code) = s.trim().parse()
            {
                return Some(code);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        let _ = std::fs::remove_file(&self.status);
    }
}
