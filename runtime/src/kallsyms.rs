//! Kernel addresses to symbol names, from /proc/kallsyms: what a `ksym`
//! value (`func` in a multi-attached kprobe) prints as.

/// The kernel's function symbols, sorted by address.
#[derive(Debug, Default)]
pub struct Kallsyms {
    symbols: Vec<(u64, String)>,
}

impl Kallsyms {
    /// This kernel's symbols; none when /proc/kallsyms cannot be read or
    /// hides its addresses (they read as zero without CAP_SYSLOG).
    pub fn read() -> Kallsyms {
        std::fs::read_to_string("/proc/kallsyms")
            .map(|text| Kallsyms::parse(&text))
            .unwrap_or_default()
    }

    /// Parses lines of `ADDRESS TYPE NAME [MODULE]`, keeping the text
    /// (function) symbols.
    pub fn parse(text: &str) -> Kallsyms {
        let mut symbols: Vec<(u64, String)> = text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let addr = u64::from_str_radix(words.next()?, 16)
                    .ok()
                    .filter(|&a| a != 0)?;
                let kind = words.next()?;
                let name = words.next()?;
                matches!(kind, "t" | "T" | "w" | "W").then(|| (addr, name.to_string()))
            })
            .collect();
        symbols.sort_by_key(|&(addr, _)| addr);
        Kallsyms { symbols }
    }

    /// The symbol `addr` is in: the last one at or below it.
    pub fn name_of(&self, addr: u64) -> Option<&str> {
        let i = self.symbols.partition_point(|&(a, _)| a <= addr);
        Some(self.symbols.get(i.checked_sub(1)?)?.1.as_str())
    }

    /// The symbol `addr` is in and the offset of `addr` into it: a stack
    /// frame's `name+offset`.
    pub fn symbol(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self.symbols.partition_point(|&(a, _)| a <= addr);
        let (start, name) = self.symbols.get(i.checked_sub(1)?)?;
        Some((name.as_str(), addr - start))
    }
}

/// Why [`address_of`] found no address.
#[derive(Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// The name is listed, with its address hidden (zero: kptr_restrict,
    /// or no CAP_SYSLOG).
    Hidden,
    /// The name is not listed.
    Absent {
        /// Whether the file lists the kernel's variables at all (local
        /// data and bss symbols, which only a kernel built with
        /// CONFIG_KALLSYMS_ALL lists).
        variables_listed: bool,
    },
}

/// The address of the symbol `name` (of any kind, functions and data)
/// in the text of /proc/kallsyms, for `kaddr()`: the first line naming it,
/// the kernel's before its modules'.
pub fn address_of(text: &str, name: &str) -> Result<u64, Unresolved> {
    let mut hidden = false;
    let mut variables_listed = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(addr), Some(kind), Some(n)) = (words.next(), words.next(), words.next()) else { continue };
        variables_listed |= matches!(kind, "d" | "b");
        if n != name {
            continue;
        }
        match u64::from_str_radix(addr, 16) {
            Ok(0) => hidden = true,
            Ok(addr) => return Ok(addr),
            Err(_) => {}
        }
    }
    Err(if hidden { Unresolved::Hidden } else { Unresolved::Absent { variables_listed } })
}

#[cfg(test)]
mod tests {
    use super::{Kallsyms, Unresolved};

    #[test]
    fn the_address_of_a_named_symbol() {
        let text = "ffffffff81002000 T vfs_read\nffffffff81003000 D jiffies\nffffffffc0001000 t v9fs_read\t[9p]\n0000000000000000 T hidden\n";
        assert_eq!(super::address_of(text, "vfs_read"), Ok(0xffffffff81002000));
        assert_eq!(super::address_of(text, "jiffies"), Ok(0xffffffff81003000));
        assert_eq!(super::address_of(text, "v9fs_read"), Ok(0xffffffffc0001000));
        assert_eq!(super::address_of(text, "hidden"), Err(Unresolved::Hidden));
        assert_eq!(super::address_of(text, "nosuch"), Err(Unresolved::Absent { variables_listed: false }));
    }

    #[test]
    fn a_missing_name_says_whether_variables_are_listed_at_all() {
        // Without CONFIG_KALLSYMS_ALL the file lists functions and a few
        // global data symbols (D, B), never a local one (d, b).
        let functions_only = "ffffffff81002000 T vfs_read\nffffffff82003000 D init_task\n";
        let everything = "ffffffff81002000 T vfs_read\nffffffff82004000 b avenrun\n";
        assert_eq!(super::address_of(functions_only, "avenrun"), Err(Unresolved::Absent { variables_listed: false }));
        assert_eq!(super::address_of(everything, "nosuch"), Err(Unresolved::Absent { variables_listed: true }));
        assert_eq!(super::address_of(everything, "avenrun"), Ok(0xffffffff82004000));
    }

    #[test]
    fn finds_the_function_an_address_is_in() {
        let k = Kallsyms::parse(
            "ffffffff81002000 T vfs_read\nffffffff81001000 t do_nanosleep\nffffffff81003000 D some_data\n\
             ffffffffc0001000 t v9fs_file_read_iter\t[9p]\n0000000000000000 T hidden\n",
        );
        assert_eq!(k.name_of(0xffffffff81001000), Some("do_nanosleep"));
        assert_eq!(k.name_of(0xffffffff81002010), Some("vfs_read"));
        assert_eq!(
            k.name_of(0xffffffff81003010),
            Some("vfs_read"),
            "data symbols are left out"
        );
        assert_eq!(k.name_of(0xffffffffc0001000), Some("v9fs_file_read_iter"));
        assert_eq!(k.name_of(0x10), None);
    }
}
