//! Per-sender sequence tracking: turns sequence numbers into gap reports.

use std::collections::HashMap;

use crate::wire::Sender;

/// What one observed sequence number means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First message from this sender since we joined (nothing to compare with).
    First,
    InOrder,
    /// Messages `expected..got` were missed.
    Gap {
        expected: u64,
        got: u64,
    },
    /// Not newer than the last one: the sender restarted with the same name and pid
    /// without us seeing its JOIN. Tracking restarts from here.
    Restarted,
}

/// Last sequence number seen from each sender.
#[derive(Debug, Default)]
pub struct SeqTracker {
    last: HashMap<Sender, u64>,
}

impl SeqTracker {
    /// Records a sequenced message.
    pub fn observe(&mut self, sender: &Sender, seq: u64) -> Seen {
        let Some(last) = self.last.get_mut(sender) else {
            self.last.insert(sender.clone(), seq);
            return Seen::First;
        };
        let l = std::mem::replace(last, seq);
        if seq == l.saturating_add(1) {
            Seen::InOrder
        } else if seq > l {
            Seen::Gap {
                expected: l + 1,
                got: seq,
            }
        } else {
            Seen::Restarted
        }
    }

    /// A sender (re)joined with `seq`: forget what we knew of the sender.
    pub fn joined(&mut self, sender: &Sender, seq: u64) {
        self.last.insert(sender.clone(), seq);
    }

    /// Messages `first..=last` from `sender` are known lost. Returns the gap to report,
    /// or `None` when later messages already revealed it.
    pub fn dropped(&mut self, sender: &Sender, first: u64, last: u64) -> Option<(u64, u64)> {
        let got = last.saturating_add(1);
        match self.last.get(sender).copied() {
            Some(l) if l >= last => None,
            Some(l) => {
                self.last.insert(sender.clone(), last);
                Some((l + 1, got))
            }
            None => {
                self.last.insert(sender.clone(), last);
                Some((first, got))
            }
        }
    }

    pub fn forget(&mut self, sender: &Sender) {
        self.last.remove(sender);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pid: u32) -> Sender {
        Sender {
            name: "m".into(),
            pid,
        }
    }

    #[test]
    fn in_order_then_gap() {
        let mut t = SeqTracker::default();
        assert_eq!(t.observe(&s(1), 5), Seen::First);
        assert_eq!(t.observe(&s(1), 6), Seen::InOrder);
        assert_eq!(
            t.observe(&s(1), 9),
            Seen::Gap {
                expected: 7,
                got: 9
            }
        );
        assert_eq!(t.observe(&s(1), 10), Seen::InOrder);
        assert_eq!(t.observe(&s(2), 1), Seen::First);
        assert_eq!(t.observe(&s(1), 1), Seen::Restarted);
    }

    #[test]
    fn dropped_notice_reports_only_unrevealed_losses() {
        let mut t = SeqTracker::default();
        t.observe(&s(1), 4);
        assert_eq!(t.dropped(&s(1), 5, 8), Some((5, 9)));
        assert_eq!(t.observe(&s(1), 9), Seen::InOrder);
        // A later message already showed the loss: the notice adds nothing.
        t.observe(&s(1), 20);
        assert_eq!(t.dropped(&s(1), 10, 19), None);
        assert_eq!(t.dropped(&s(3), 2, 3), Some((2, 4)));
    }
}
