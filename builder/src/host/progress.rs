//! Step timing and terminal progress: a spinner with the elapsed time while a
//! long step runs (hidden when stderr is not a terminal), one line per
//! finished step, and the table of step times for the summary.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Records how long each step took.
#[derive(Debug, Default)]
pub struct Steps {
    pub times: Vec<(String, Duration)>,
}

impl Steps {
    /// Runs `f` as the step `name`, showing a spinner while it runs.
    pub fn run<T>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let bar = ProgressBar::new_spinner().with_message(name.to_string());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {msg} ({elapsed})")
                .expect("static template is valid"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let start = Instant::now();
        let result = f();
        let took = start.elapsed();
        bar.finish_and_clear();
        let mark = if result.is_ok() { "done" } else { "FAILED" };
        eprintln!("  {mark:6} {name:<34} {:>7.1} s", took.as_secs_f64());
        self.times.push((name.to_string(), took));
        result
    }

    /// Sum of all step times.
    pub fn total(&self) -> Duration {
        self.times.iter().map(|(_, d)| *d).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_recorded_in_order_even_when_failing() {
        let mut s = Steps::default();
        assert_eq!(s.run("a", || Ok(1)).unwrap(), 1);
        assert!(s
            .run("b", || -> anyhow::Result<()> { anyhow::bail!("x") })
            .is_err());
        let names: Vec<&str> = s.times.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(s.total() >= s.times[0].1);
    }
}
