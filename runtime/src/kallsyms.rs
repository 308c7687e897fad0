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

#[cfg(test)]
mod tests {
    use super::Kallsyms;

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
