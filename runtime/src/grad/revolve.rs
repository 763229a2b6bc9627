//! Binomial (revolve) checkpoint schedules (Griewank 1992; Griewank & Walther, ACM TOMS 2000),
//! on step positions only: which states to keep while sweeping forward so that the states
//! x_{N−1}, …, x_0 can be handed out in reverse order with the fewest forward steps.
//!
//! Conventions (revolve's): `c` checkpoints *including* the one holding the start x_p of the
//! range, plus one live state (the state just reached by advancing). Reversing `l` steps
//! p, …, p + l − 1 needs x_{p+l−1}, …, x_p in that order. The fewest forward steps (the first
//! sweep included) is
//!
//! ```text
//! t(l, c) = r·l − β(c + 1, r − 1),   β(c, r) = (c + r)! / (c! r!),
//! ```
//!
//! where r, the repetition number, is the smallest integer with l ≤ β(c, r). An optimal first
//! checkpoint sits m steps after the start, m = max(l − β(c − 1, r), β(c, r − 2)) clamped to
//! [1, l − 1]; the tail is then reversed with c − 1 checkpoints and the head with c.

/// β(c, r) = (c + r)! / (c! r!), the most steps c checkpoints reverse with at most r forward
/// evaluations of each step; 0 for r < 0. Saturates at `usize::MAX`.
pub fn beta(c: usize, r: isize) -> usize {
    if r < 0 {
        return 0;
    }
    let r = r as usize;
    // C(c + r, min(c, r)) by the multiplicative formula, exact at every step.
    let k = c.min(r);
    let mut acc: u128 = 1;
    for i in 1..=k {
        acc = acc * (c + r - k + i) as u128 / i as u128;
        if acc > usize::MAX as u128 {
            return usize::MAX;
        }
    }
    acc as usize
}

/// The repetition number r(l, c): the smallest r with l ≤ β(c, r) (c ≥ 1).
pub fn repetitions(l: usize, c: usize) -> usize {
    let mut r = 0;
    while beta(c, r as isize) < l {
        r += 1;
    }
    r
}

/// t(l, c): the fewest forward steps that reverse `l` steps with `c` checkpoints (the start's
/// included, c ≥ 1) and one live state, the first sweep from x_p to x_{p+l−1} included.
pub fn optimal_advances(l: usize, c: usize) -> usize {
    if l <= 1 {
        return 0;
    }
    let r = repetitions(l, c);
    r * l - beta(c + 1, r as isize - 1)
}

/// An optimal distance from the start of a range of `l ≥ 2` steps to the first checkpoint to
/// take, with `c ≥ 2` checkpoints (the start's included).
pub fn first_split(l: usize, c: usize) -> usize {
    let r = repetitions(l, c) as isize;
    let m = l.saturating_sub(beta(c - 1, r)).max(beta(c, r - 2)).max(1);
    m.min(l - 1)
}

/// The checkpoints an optimal schedule takes while advancing from x_p (held) to x_n, with
/// `free` checkpoint slots besides the one holding x_p: positions in increasing order, each
/// in (p, n]. The advance always ends at x_n (the live state).
pub fn descent(p: usize, n: usize, free: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut p, mut free) = (p, free);
    while free > 0 && n > p {
        let q = p + first_split(n - p + 1, free + 1);
        out.push(q);
        p = q;
        free -= 1;
    }
    out
}

/// A schedule run on positions only: the checkpoints held while states are handed out in
/// reverse, as the backward sweep does it. Used to predict memory and recomputations.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Positions of the held checkpoints, increasing; `held[0]` is the start.
    pub held: Vec<usize>,
    /// Checkpoint slots, the start's included (C + 1).
    pub slots: usize,
    /// The position of the live state, if any.
    pub live: Option<usize>,
    /// Forward steps taken so far.
    pub advances: usize,
    /// Most checkpoints held at once.
    pub peak_held: usize,
}

impl Schedule {
    /// A schedule over `steps` steps with `checkpoints` slots besides the start's, after the
    /// forward sweep: `swept` when the forward sweep placed the first descent's checkpoints
    /// and left x_{N−1} live (steps known in advance), else only the start is held.
    pub fn after_forward(steps: usize, checkpoints: usize, swept: bool) -> Self {
        let mut held = vec![0];
        let mut live = None;
        if swept && steps > 0 {
            held.extend(descent(0, steps - 1, checkpoints));
            live = Some(steps - 1);
        }
        let peak_held = held.len();
        Schedule {
            held,
            slots: checkpoints + 1,
            live,
            advances: 0,
            peak_held,
        }
    }

    /// What to do to get x_n: `None` when x_n is held or live, else the advance from the last
    /// held checkpoint (its position) with the positions to keep on the way. Callers hand out
    /// n in decreasing order.
    pub fn plan(&self, n: usize) -> Option<(usize, Vec<usize>)> {
        let top = *self.held.last().expect("the start is held");
        if top == n || self.live == Some(n) {
            return None;
        }
        Some((top, descent(top, n, self.slots - self.held.len())))
    }

    /// Records that the advance of [`Schedule::plan`] to x_n was made.
    pub fn advanced(&mut self, from: usize, n: usize, kept: &[usize]) {
        self.advances += n - from;
        self.held.extend_from_slice(kept);
        self.peak_held = self.peak_held.max(self.held.len());
        self.live = Some(n);
    }

    /// Records that step n was reversed: x_n is no longer needed.
    pub fn reversed(&mut self, n: usize) {
        if n > 0 && self.held.last() == Some(&n) {
            self.held.pop();
        }
        if self.live == Some(n) {
            self.live = None;
        }
    }

    /// Runs the whole reverse sweep on positions (what the backward sweep will do).
    pub fn run(mut self, steps: usize) -> Self {
        for n in (0..steps).rev() {
            if let Some((from, kept)) = self.plan(n) {
                self.advanced(from, n, &kept);
            }
            self.reversed(n);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schedule reaches the closed-form optimum, with and without the forward's sweep.
    #[test]
    fn schedule_meets_the_optimum() {
        for c in 0..8 {
            for n in 1..300 {
                let cold = Schedule::after_forward(n, c, false).run(n);
                assert_eq!(cold.advances, optimal_advances(n, c + 1), "n {n} c {c}");
                assert!(cold.peak_held <= c + 1);
                let warm = Schedule::after_forward(n, c, true).run(n);
                assert_eq!(warm.advances + (n - 1), optimal_advances(n, c + 1));
                assert!(warm.peak_held <= c + 1);
            }
        }
    }

    /// Small values by hand: one slot only (the start): l(l − 1)/2.
    #[test]
    fn closed_form_by_hand() {
        assert_eq!(optimal_advances(10, 1), 45);
        assert_eq!(optimal_advances(3, 2), 2);
        assert_eq!(beta(3, 2), 10);
        assert_eq!(beta(0, 5), 1);
        assert_eq!(beta(2, -1), 0);
    }
}
