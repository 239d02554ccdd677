//! Bulk progress (replay, redrive) on stderr: a bar on a terminal, one line per step otherwise.

use std::io::IsTerminal;

pub struct Progress {
    total: usize,
    tty: bool,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        Self::titled(&format!("replaying {total} delivery(ies)"), total)
    }

    /// Progress towards `total` steps, after a heading line.
    pub fn titled(heading: &str, total: usize) -> Self {
        let tty = std::io::stderr().is_terminal();
        eprintln!("{heading}");
        Self { total, tty }
    }

    pub fn step(&self, done: usize, item: &str) {
        let total = self.total.max(1);
        if self.tty {
            let width = 30;
            let filled = (done * width / total).min(width);
            eprint!(
                "\r[{}{}] {done}/{} {item}   ",
                "#".repeat(filled),
                ".".repeat(width - filled),
                self.total
            );
        } else {
            eprintln!("[{done}/{}] {item}", self.total);
        }
    }

    pub fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}
