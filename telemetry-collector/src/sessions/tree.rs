//! The tree of a session's spans (parents, children, depths), as the session's detail orders
//! them and the waterfall lays them out. Hostile input is fine: a missing parent makes a
//! root, and spans caught in a parent cycle follow as roots of their own, each once.

use std::collections::HashMap;

use super::Span;

/// The tree of spans: each span's children and the roots, siblings by start.
pub(crate) struct Tree {
    /// Each span's children, by start.
    pub(crate) children: Vec<Vec<usize>>,
    roots: Vec<usize>,
}

impl Tree {
    pub(crate) fn new(spans: &[Span]) -> Self {
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(spans.len());
        for (i, s) in spans.iter().enumerate() {
            index.entry(s.span_id.as_str()).or_insert(i);
        }
        let mut children = vec![Vec::new(); spans.len()];
        let mut roots = Vec::new();
        for (i, s) in spans.iter().enumerate() {
            match s.parent_id.as_deref().and_then(|p| index.get(p)) {
                Some(&p) if p != i => children[p].push(i),
                _ => roots.push(i),
            }
        }
        let by_start = |a: &usize, b: &usize| {
            let (x, y) = (&spans[*a], &spans[*b]);
            (x.start_ns, std::cmp::Reverse(x.end_ns), *a).cmp(&(
                y.start_ns,
                std::cmp::Reverse(y.end_ns),
                *b,
            ))
        };
        for c in &mut children {
            c.sort_by(by_start);
        }
        roots.sort_by(by_start);
        Self { children, roots }
    }

    /// Spans in parent order with their depth; spans caught in a parent cycle (reachable
    /// from no root) follow as roots of their own, each once.
    pub(crate) fn walk(&self, n: usize) -> Vec<(usize, usize)> {
        let mut seen = vec![false; n];
        let mut out = Vec::with_capacity(n);
        let visit = |root: usize, out: &mut Vec<(usize, usize)>, seen: &mut Vec<bool>| {
            let mut stack = vec![(root, 0)];
            while let Some((i, d)) = stack.pop() {
                if std::mem::replace(&mut seen[i], true) {
                    continue;
                }
                out.push((i, d));
                for &c in self.children[i].iter().rev() {
                    stack.push((c, d + 1));
                }
            }
        };
        for &r in &self.roots {
            visit(r, &mut out, &mut seen);
        }
        for i in 0..n {
            if !seen[i] {
                visit(i, &mut out, &mut seen);
            }
        }
        out
    }

    /// How many descendants each span has (each counted once).
    pub(crate) fn sizes(&self, order: &[(usize, usize)], n: usize) -> Vec<usize> {
        let mut size = vec![0usize; n];
        for &(i, _) in order.iter().rev() {
            size[i] = self.children[i]
                .iter()
                .map(|&c| size[c] + 1)
                .sum::<usize>()
                .min(n);
        }
        size
    }
}

/// Each span's depth in the tree (0 for roots).
pub fn depths(spans: &[Span]) -> Vec<usize> {
    let tree = Tree::new(spans);
    let mut depth = vec![0; spans.len()];
    for (i, d) in tree.walk(spans.len()) {
        depth[i] = d;
    }
    depth
}
