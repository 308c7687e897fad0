//! The BPFTRACE_* environment variables the runtime side honours (the
//! checker reads BPFTRACE_STRLEN and BPFTRACE_MAP_KEYS_MAX itself, with the
//! `config = { }` block), read once and checked with bpftrace's messages.

use std::path::PathBuf;

use anyhow::bail;
use rbpf::runtime::symbols::SymbolOptions;

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
    /// BPFTRACE_CAT_BYTES_MAX (later bpftrace's BPFTRACE_MAX_CAT_BYTES):
    /// the most bytes of a file `cat()` prints.
    pub cat_bytes_max: Option<u64>,
    /// BPFTRACE_MAX_BPF_PROGS: the most BPF programs a program's probes
    /// may be compiled to. Unset, there is no limit (bpftrace's is 512):
    /// rbpf loads and attaches them quickly enough.
    pub max_bpf_progs: Option<u64>,
    /// BPFTRACE_NO_USER_SYMBOLS=1: user addresses print in hex.
    pub no_user_symbols: bool,
    /// BPFTRACE_NO_CPP_DEMANGLE (later bpftrace's BPFTRACE_CPP_DEMANGLE,
    /// the other way round): whether C++ names are demangled.
    pub cpp_demangle: Option<bool>,
    /// BPFTRACE_CACHE_USER_SYMBOLS: whether user symbols are cached.
    pub cache_user_symbols: Option<bool>,
    /// BPFTRACE_BTF: the kernel's BTF read from this file rather than
    /// /sys/kernel/btf/vmlinux (no module's BTF then).
    pub btf: Option<PathBuf>,
    /// BPFTRACE_VMLINUX: the kernel image whose symbol table bounds a
    /// kprobe's offset.
    pub vmlinux: Option<PathBuf>,
    /// BPFTRACE_NODE_MAX: a program must have fewer syntax tree nodes
    /// (0 refuses every program, as in bpftrace).
    pub node_max: Option<u64>,
}

impl Settings {
    /// Reads the environment.
    pub fn from_env() -> anyhow::Result<Settings> {
        Ok(Settings {
            max_probes: positive("BPFTRACE_MAX_PROBES")?,
            log_size: positive("BPFTRACE_LOG_SIZE")?,
            ringbuf_pages: positive("BPFTRACE_PERF_RB_PAGES")?,
            // 0.17's name wins, as later bpftrace reads it last.
            cat_bytes_max: positive("BPFTRACE_CAT_BYTES_MAX")?.or(positive("BPFTRACE_MAX_CAT_BYTES")?),
            max_bpf_progs: positive("BPFTRACE_MAX_BPF_PROGS")?,
            no_user_symbols: boolean("BPFTRACE_NO_USER_SYMBOLS")?.unwrap_or(false),
            cpp_demangle: boolean("BPFTRACE_NO_CPP_DEMANGLE")?.map(|no| !no).or(boolean("BPFTRACE_CPP_DEMANGLE")?),
            cache_user_symbols: cache_user_symbols()?,
            btf: path("BPFTRACE_BTF"),
            vmlinux: path("BPFTRACE_VMLINUX"),
            node_max: uint64("BPFTRACE_NODE_MAX")?,
        })
        // BPFTRACE_MAX_TYPE_RES_ITERATIONS bounds how often bpftrace asks
        // clang again for the types a program's types point to; rbpf reads
        // them from BTF as it meets them, with no such rounds. Checked as
        // bpftrace checks it, otherwise without effect.
        .and_then(|settings| uint64("BPFTRACE_MAX_TYPE_RES_ITERATIONS").map(|_| settings))
    }

    /// These settings, with those they leave unset taken from `config`
    /// (the environment wins over the program's `config = { }` block, as
    /// for the string length and map keys).
    pub fn or(self, config: Settings) -> Settings {
        Settings {
            max_probes: self.max_probes.or(config.max_probes),
            log_size: self.log_size.or(config.log_size),
            ringbuf_pages: self.ringbuf_pages.or(config.ringbuf_pages),
            cat_bytes_max: self.cat_bytes_max.or(config.cat_bytes_max),
            max_bpf_progs: self.max_bpf_progs.or(config.max_bpf_progs),
            cpp_demangle: self.cpp_demangle.or(config.cpp_demangle),
            cache_user_symbols: self.cache_user_symbols.or(config.cache_user_symbols),
            no_user_symbols: self.no_user_symbols || config.no_user_symbols,
            ..self
        }
    }

    /// The settings of a program's `config = { }` block.
    pub fn config(program: &rbpf::lang::checked::Program) -> Settings {
        Settings {
            max_probes: program.max_probes,
            log_size: program.log_size,
            ringbuf_pages: program.ringbuf_pages.map(u64::from),
            cat_bytes_max: program.cat_bytes_max,
            max_bpf_progs: program.max_bpf_progs,
            cpp_demangle: program.cpp_demangle,
            cache_user_symbols: program.cache_user_symbols,
            no_user_symbols: program.no_user_symbols,
            ..Settings::default()
        }
    }

    /// The host, its kernel's BTF read from BPFTRACE_BTF's file and its
    /// kernel image from BPFTRACE_VMLINUX's, if set.
    pub fn target(&self) -> rbpf::runtime::HostTarget {
        let target = match &self.btf {
            Some(path) => rbpf::runtime::HostTarget::with_kernel_btf_file(path),
            None => rbpf::runtime::HostTarget::new(),
        };
        match &self.vmlinux {
            Some(path) => target.with_vmlinux(path),
            None => target,
        }
    }

    /// How the runtime names user addresses.
    pub fn symbols(&self) -> SymbolOptions {
        SymbolOptions {
            resolve: !self.no_user_symbols,
            demangle: self.cpp_demangle.unwrap_or(true),
            cache: self.cache_user_symbols.unwrap_or(true),
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

    /// bpftrace's refusal of more BPF programs than BPFTRACE_MAX_BPF_PROGS
    /// allows: `expanded` has the programs of each attach point (see
    /// `checked::Program::expanded_programs`), and bpftrace stops at the
    /// first attach point that brings the total over the limit, naming
    /// that total.
    pub fn check_program_count(&self, expanded: &[u64]) -> anyhow::Result<()> {
        let Some(max) = self.max_bpf_progs else { return Ok(()) };
        let mut programs = 0u64;
        let over = expanded.iter().find_map(|n| {
            programs = programs.saturating_add(*n);
            (programs > max).then_some(programs)
        });
        if let Some(programs) = over {
            bail!(
                "Failed to compile: Your program is trying to generate more than {programs} BPF programs, which exceeds the current limit of {max}.\n\
                 You can increase the limit through the BPFTRACE_MAX_BPF_PROGS environment variable."
            );
        }
        Ok(())
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

/// bpftrace's refusal of a program with BPFTRACE_NODE_MAX nodes or more.
pub fn check_node_count(max: Option<u64>, nodes: u64) -> anyhow::Result<()> {
    match max {
        Some(max) if nodes >= max => bail!("node count ({nodes}) exceeds the limit ({max})"),
        _ => Ok(()),
    }
}

/// A number from `name`, if set: any, 0 included, or bpftrace's error.
fn uint64(name: &str) -> anyhow::Result<Option<u64>> {
    let Some(value) = std::env::var_os(name) else { return Ok(None) };
    match value.to_str().and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(n) => Ok(Some(n)),
        None => bail!("Env var '{name}' did not contain a valid uint64_t, or was zero-valued."),
    }
}

/// A flag from `name`, if set: `0` or `1`, or bpftrace's error.
fn boolean(name: &str) -> anyhow::Result<Option<bool>> {
    let Some(value) = std::env::var_os(name) else { return Ok(None) };
    match value.to_str() {
        Some("0") => Ok(Some(false)),
        Some("1") => Ok(Some(true)),
        _ => bail!("Env var '{name}' did not contain a valid value (0 or 1)."),
    }
}

/// BPFTRACE_CACHE_USER_SYMBOLS: 0.17's `0` and `1`, or later bpftrace's
/// `PER_PID`, `PER_PROGRAM` (both a cache here) and `NONE`.
fn cache_user_symbols() -> anyhow::Result<Option<bool>> {
    const NAME: &str = "BPFTRACE_CACHE_USER_SYMBOLS";
    let Some(value) = std::env::var_os(NAME) else { return Ok(None) };
    match value.to_str() {
        Some("1" | "PER_PID" | "PER_PROGRAM") => Ok(Some(true)),
        Some("0" | "NONE") => Ok(Some(false)),
        _ => bail!(
            "Env var '{NAME}' did not contain a valid value (0 or 1).\n  \
             = later bpftrace's PER_PID, PER_PROGRAM and NONE are taken too"
        ),
    }
}

/// A path from `name`, if set and not empty.
fn path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}
