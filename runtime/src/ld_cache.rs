//! The dynamic loader's cache, `/etc/ld.so.cache`: which file each
//! library's soname stands for, as `ldconfig -p` prints it. Read directly
//! rather than by running `ldconfig -p`, which would cost a process.
//!
//! The format is glibc's (`elf/cache.c`): the header
//! `glibc-ld.so.cache1.1`, the number of entries and the size of the
//! string table, then 24-byte entries (flags, soname offset, path
//! offset, ...) whose string offsets count from the header's start. Older
//! caches put that whole table after an `ld.so-1.7.0` table of their own.

use rbpf_lang::target::SharedLibrary;

const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const OLD_HEADER: usize = 16;
const OLD_ENTRY: usize = 12;

/// The libraries in `data` whose flags say they are of this machine's ABI
/// (`abi` as in [`host_abi`]), in the cache's order.
pub(crate) fn parse(data: &[u8], abi: u32) -> Result<Vec<SharedLibrary>, String> {
    let cache = new_table(data).ok_or("not a glibc ld.so.cache")?;
    let count = read_u32(cache, 20).ok_or("truncated header")? as usize;
    let mut libraries = Vec::new();
    for i in 0..count {
        let entry = NEW_HEADER + i * NEW_ENTRY;
        let (Some(flags), Some(key), Some(value)) = (read_u32(cache, entry), read_u32(cache, entry + 4), read_u32(cache, entry + 8)) else {
            return Err(format!("truncated at entry {i}"));
        };
        if flags & 0xffff != abi {
            continue;
        }
        let (Some(name), Some(path)) = (string(cache, key as usize), string(cache, value as usize)) else {
            return Err(format!("entry {i} points outside the file"));
        };
        libraries.push(SharedLibrary { name, path });
    }
    Ok(libraries)
}

/// The flags (`FLAG_ELF_LIBC6` and the architecture's `FLAG_*_LIB64`)
/// that the cache gives this machine's libraries: what `ldconfig -p`
/// shows as `(libc6,x86-64)`.
pub(crate) fn host_abi() -> u32 {
    const FLAG_ELF_LIBC6: u32 = 0x0003;
    let arch = match std::env::consts::ARCH {
        "x86_64" => 0x0300,
        "aarch64" => 0x0a00,
        "riscv64" => 0x1000,
        _ => 0,
    };
    FLAG_ELF_LIBC6 | arch
}

/// The new-format table, wherever it starts.
fn new_table(data: &[u8]) -> Option<&[u8]> {
    if data.starts_with(NEW_MAGIC) {
        return Some(data);
    }
    if !data.starts_with(OLD_MAGIC) {
        return None;
    }
    let old_count = read_u32(data, 12)? as usize;
    // The new table follows, aligned as glibc aligns it (to 8 bytes).
    let start = (OLD_HEADER + old_count * OLD_ENTRY).next_multiple_of(8);
    let rest = data.get(start..)?;
    rest.starts_with(NEW_MAGIC).then_some(rest)
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at + 4)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

fn string(data: &[u8], at: usize) -> Option<String> {
    let bytes = data.get(at..)?;
    let end = bytes.iter().position(|&b| b == 0)?;
    String::from_utf8(bytes[..end].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache with `entries` of (flags, soname, path), in the new format.
    fn cache(entries: &[(u32, &str, &str)]) -> Vec<u8> {
        let mut strings = Vec::new();
        let table_end = NEW_HEADER + entries.len() * NEW_ENTRY;
        let mut offsets = Vec::new();
        for (_, name, path) in entries {
            let key = table_end + strings.len();
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            let value = table_end + strings.len();
            strings.extend_from_slice(path.as_bytes());
            strings.push(0);
            offsets.push((key as u32, value as u32));
        }
        let mut data = NEW_MAGIC.to_vec();
        data.extend_from_slice(&(entries.len() as u32).to_ne_bytes());
        data.extend_from_slice(&(strings.len() as u32).to_ne_bytes());
        data.resize(NEW_HEADER, 0);
        for ((flags, _, _), (key, value)) in entries.iter().zip(offsets) {
            for word in [*flags, key, value, 0] {
                data.extend_from_slice(&word.to_ne_bytes());
            }
            data.extend_from_slice(&0u64.to_ne_bytes());
        }
        data.extend_from_slice(&strings);
        data
    }

    #[test]
    fn reads_this_abis_libraries_in_order() {
        let data = cache(&[(0x0303, "libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6"), (0x0003, "libc.so.6", "/lib32/libc.so.6"), (0x0303, "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6")]);
        let found = parse(&data, 0x0303).unwrap();
        let names: Vec<(&str, &str)> = found.iter().map(|l| (l.name.as_str(), l.path.as_str())).collect();
        assert_eq!(names, [("libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6"), ("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6")]);
    }

    #[test]
    fn finds_the_new_table_after_an_old_one() {
        let mut data = OLD_MAGIC.to_vec();
        data.push(0);
        data.extend_from_slice(&1u32.to_ne_bytes());
        data.extend_from_slice(&[0; OLD_ENTRY]);
        data.resize((OLD_HEADER + OLD_ENTRY).next_multiple_of(8), 0);
        data.extend_from_slice(&cache(&[(0x0303, "libz.so.1", "/usr/lib/libz.so.1")]));
        assert_eq!(parse(&data, 0x0303).unwrap(), [SharedLibrary { name: "libz.so.1".into(), path: "/usr/lib/libz.so.1".into() }]);
    }

    #[test]
    fn refuses_what_is_not_a_cache() {
        assert!(parse(b"hello", 0x0303).is_err());
        let mut data = cache(&[(0x0303, "libz.so.1", "/usr/lib/libz.so.1")]);
        data.truncate(NEW_HEADER + 10);
        assert!(parse(&data, 0x0303).is_err());
    }

    #[test]
    fn reads_this_machines_cache_like_ldconfig() {
        let Ok(data) = std::fs::read("/etc/ld.so.cache") else { return };
        let Ok(out) = std::process::Command::new("ldconfig").arg("-p").output() else { return };
        let text = String::from_utf8_lossy(&out.stdout);
        let libc = text.lines().find(|l| l.trim_start().starts_with("libc.so.6 ") && l.contains(std::env::consts::ARCH.replace('_', "-").as_str()));
        let Some(path) = libc.and_then(|l| l.split("=> ").nth(1)) else { return };
        let found = parse(&data, host_abi()).unwrap();
        assert!(found.iter().any(|l| l.name == "libc.so.6" && l.path == path.trim()), "{found:?}");
    }
}
