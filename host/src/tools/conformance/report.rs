//! The conformance report: each check's verdict printed as it comes, the
//! writes a run makes, and the tally.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Pass,
    Fail,
    Skip,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        })
    }
}

/// The checks' verdicts, printed as they come, and the writes made.
#[derive(Default)]
pub(super) struct Report {
    counts: [usize; 3],
    writes: Vec<String>,
}

impl Report {
    pub(super) fn record(
        &mut self,
        verdict: Verdict,
        check: impl fmt::Display,
        detail: impl fmt::Display,
    ) {
        self.counts[verdict as usize] += 1;
        println!("  {verdict}  {check}: {detail}");
    }

    pub(super) fn pass(&mut self, check: impl fmt::Display, detail: impl fmt::Display) {
        self.record(Verdict::Pass, check, detail);
    }

    pub(super) fn fail(&mut self, check: impl fmt::Display, detail: impl fmt::Display) {
        self.record(Verdict::Fail, check, detail);
    }

    pub(super) fn skip(&mut self, check: impl fmt::Display, detail: impl fmt::Display) {
        self.record(Verdict::Skip, check, detail);
    }

    pub(super) fn note(&mut self, detail: impl fmt::Display) {
        println!("  NOTE  {detail}");
    }

    /// A write the run will make, said before it starts.
    pub(super) fn plan(&mut self, write: impl fmt::Display) {
        println!("  PLAN  {write}");
    }

    /// A write the run made (or asked the engine to make), listed at the end.
    pub(super) fn wrote(&mut self, write: String) {
        self.writes.push(write);
    }

    /// Whether the run has made any write yet.
    pub(super) fn has_written(&self) -> bool {
        !self.writes.is_empty()
    }

    pub(super) fn outcome(&mut self, check: impl fmt::Display, outcome: Result<String, String>) {
        match outcome {
            Ok(detail) => self.pass(check, detail),
            Err(detail) => self.fail(check, detail),
        }
    }

    /// Prints the writes made and the tally; true when nothing failed.
    pub(super) fn finish(self) -> bool {
        if self.writes.is_empty() {
            println!("writes made: none");
        } else {
            println!("writes made:");
            for write in &self.writes {
                println!("  {write}");
            }
        }
        let [passed, failed, skipped] = self.counts;
        println!("{passed} passed, {failed} failed, {skipped} skipped");
        failed == 0
    }
}
