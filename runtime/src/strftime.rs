//! Wall-clock time as bpftrace prints it: C's strftime in local time, for
//! `time()` (the time now) and `strftime()` values (kernel boot-time
//! stamps), where `%f` adds the microseconds, as bpftrace documents.

/// Nanoseconds of one clock.
fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec to write into; on failure it stays 0.
    unsafe { libc::clock_gettime(clock, &mut now) };
    i128::from(now.tv_sec) * 1_000_000_000 + i128::from(now.tv_nsec)
}

/// The wall-clock time now, in nanoseconds since the epoch.
pub fn now_wall_ns() -> i128 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// What to add to a CLOCK_BOOTTIME reading (bpf_ktime_get_boot_ns) to get
/// the wall-clock time.
pub fn boot_to_wall_ns() -> i128 {
    let wall = clock_ns(libc::CLOCK_REALTIME);
    let boot = clock_ns(libc::CLOCK_BOOTTIME);
    wall - boot
}

/// Formats `wall_ns` (nanoseconds since the epoch) in local time with the
/// strftime `format`. With `micros`, `%f` becomes the six digits of the
/// microseconds first (`%%f` stays a literal `%f`); without, C's strftime
/// sees it, as `time()` in bpftrace does.
pub fn format(format: &str, wall_ns: i128, micros: bool) -> Vec<u8> {
    let seconds = wall_ns.div_euclid(1_000_000_000);
    let micros_part = wall_ns.rem_euclid(1_000_000_000) / 1000;
    let format = if micros { expand_micros(format, micros_part as u32) } else { format.to_string() };
    let Ok(seconds) = libc::time_t::try_from(seconds) else { return Vec::new() };
    // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the
    // thread-safe form.
    if unsafe { libc::localtime_r(&seconds, &mut tm) }.is_null() {
        return Vec::new();
    }
    strftime(&format, &tm)
}

/// Replaces each `%f` with the microseconds, leaving `%%` pairs alone.
fn expand_micros(format: &str, micros: u32) -> String {
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('f') => out.push_str(&format!("{micros:06}")),
            Some(next) => {
                out.push('%');
                out.push(next);
            }
            None => out.push('%'),
        }
    }
    out
}

/// C's strftime into a buffer that grows until the text fits. A format
/// whose output is empty (or NUL bytes inside the format) prints nothing.
fn strftime(format: &str, tm: &libc::tm) -> Vec<u8> {
    let Ok(c_format) = std::ffi::CString::new(format) else { return Vec::new() };
    if format.is_empty() {
        return Vec::new();
    }
    let mut size = 64 + format.len() * 4;
    while size <= 1 << 20 {
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` is writable for `size` bytes, the format is a valid
        // C string and `tm` a valid broken-down time.
        let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), size, c_format.as_ptr(), tm) };
        if n > 0 {
            buf.truncate(n);
            return buf;
        }
        size *= 4;
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_and_literal_percents() {
        assert_eq!(expand_micros("%H:%M:%S.%f", 42), "%H:%M:%S.000042");
        assert_eq!(expand_micros("%%f %f%", 123456), "%%f 123456%");
    }

    #[test]
    fn formats_epoch_seconds_whatever_the_zone() {
        let ns = 1_700_000_000_123_456_789;
        assert_eq!(format("%s.%f", ns, true), b"1700000000.123456");
        // time() does not know %f: C's strftime prints it as is.
        assert_eq!(format("%s %%", ns, false), b"1700000000 %");
        assert_eq!(format("", ns, true), b"");
        // Long outputs grow the buffer.
        let long = "%s".repeat(100);
        assert_eq!(format(&long, ns, false).len(), 1000);
    }

    #[test]
    fn the_boot_offset_is_the_time_since_boot_before_now() {
        let offset = boot_to_wall_ns();
        assert!(offset > 0 && offset < now_wall_ns());
    }
}
