//! The BPFTRACE_* environment variables the runtime side honours (the
//! checker reads BPFTRACE_STRLEN and BPFTRACE_MAP_KEYS_MAX itself, with the
//! `config = { }` block), read once and checked with bpftrace's messages.

use anyhow::bail;

/// What the environment asks of the run.
#[derive(Debug, Default)]
pub struct Settings {
    /// BPFTRACE_MAX_PROBES: the most probes a program may attach. Unset,
    /// there is no limit: rbpf attaches wildcards through multi-attach
    /// links, where bpftrace's default of 512 guards against slow attaching.
    pub max_probes: Option<u64>,
    /// BPFTRACE_LOG_SIZE: the bytes of verifier log kept for a refused program.
    pub log_size: Option<u64>,
    /// BPFTRACE_PERF_RB_PAGES: ring buffer pages per CPU.
    pub ringbuf_pages: Option<u64>,
}

impl Settings {
    /// Reads the environment.
    pub fn from_env() -> anyhow::Result<Settings> {
        Ok(Settings {
            max_probes: positive("BPFTRACE_MAX_PROBES")?,
            log_size: positive("BPFTRACE_LOG_SIZE")?,
            ringbuf_pages: positive("BPFTRACE_PERF_RB_PAGES")?,
        })
    }

    /// The settings, with the program's `config = { }` values where the
    /// environment sets none (the environment wins, as for the string
    /// length and map keys).
    pub fn or_config(self, program: &rbpf::lang::checked::Program) -> Settings {
        Settings {
            max_probes: self.max_probes.or(program.max_probes),
            log_size: self.log_size.or(program.log_size),
            ringbuf_pages: self.ringbuf_pages.or(program.ringbuf_pages.map(u64::from)),
        }
    }

    /// bpftrace's refusal of more probes than BPFTRACE_MAX_PROBES allows.
    pub fn check_probe_count(&self, probes: u64) -> anyhow::Result<()> {
        match self.max_probes {
            Some(max) if probes > max => bail!(
                "Can't attach to {probes} probes because it exceeds the current limit of {max} probes.\n\
                 You can increase the limit through the BPFTRACE_MAX_PROBES environment variable, but BE CAREFUL since a high number of probes attached can cause your system to crash."
            ),
            _ => Ok(()),
        }
    }
}

/// A count from `name`, if set: a number above 0, or bpftrace's error.
fn positive(name: &str) -> anyhow::Result<Option<u64>> {
    let Some(value) = std::env::var_os(name) else { return Ok(None) };
    match value.to_str().and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(n) if n > 0 => Ok(Some(n)),
        _ => bail!("Env var '{name}' did not contain a valid uint64_t, or was zero-valued."),
    }
}
