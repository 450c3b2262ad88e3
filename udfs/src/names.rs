//! A group's dictionary of strings (event names, items): each distinct string kept once and
//! named by a small code, so that an aggregate keeping many rows keeps 4 bytes per row for
//! them, and its partial state carries each string once.

use datafusion::arrow::array::StringBuilder;
use hashbrown::HashMap;

#[derive(Debug, Clone, Default)]
pub struct Names {
    names: Vec<Box<str>>,
    codes: HashMap<Box<str>, u32>,
    /// Heap bytes held, for memory estimates.
    bytes: usize,
}

impl Names {
    /// The code of `name`, given one if new.
    pub fn code(&mut self, name: &str) -> u32 {
        if let Some(&code) = self.codes.get(name) {
            return code;
        }
        let code = self.names.len() as u32;
        self.names.push(name.into());
        self.codes.insert(name.into(), code);
        // the string twice, a vector slot and a map entry
        self.bytes += 2 * name.len() + 48;
        code
    }

    /// The name of `code`.
    pub fn name(&self, code: u32) -> &str {
        &self.names[code as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Every name, in code order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }

    /// Appends every name, in code order (a partial state's dictionary).
    pub fn append_to(&self, builder: &mut StringBuilder) {
        self.iter().for_each(|n| builder.append_value(n));
    }

    /// Each code's rank when the names are sorted (byte order): ties broken by name do not
    /// depend on the order codes were given in.
    pub fn ranks(&self) -> Vec<u32> {
        let mut by_name: Vec<u32> = (0..self.names.len() as u32).collect();
        by_name.sort_unstable_by(|&a, &b| self.names[a as usize].cmp(&self.names[b as usize]));
        let mut rank = vec![0u32; by_name.len()];
        for (position, &code) in by_name.iter().enumerate() {
            rank[code as usize] = position as u32;
        }
        rank
    }

    pub fn heap_size(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_ranks_follow_the_names() {
        let mut names = Names::default();
        assert_eq!(names.code("pay"), 0);
        assert_eq!(names.code("cart"), 1);
        assert_eq!(names.code("pay"), 0);
        assert_eq!(names.name(1), "cart");
        assert_eq!(names.len(), 2);
        assert_eq!(names.ranks(), [1, 0]);
    }
}
