//! The kernel's dynamic perf PMUs for probes (`uprobe`, `kprobe` under
//! /sys/bus/event_source/devices): each has a `type` number for
//! perf_event_open and `format/` files saying where its flags go in
//! `config` (`retprobe`, and `ref_ctr_offset` for uprobes).

use crate::RuntimeError;

/// One probe PMU, read once per attach.
pub(super) struct Pmu {
    name: &'static str,
    pub(super) r#type: u32,
}

fn dir(name: &str) -> String {
    format!("/sys/bus/event_source/devices/{name}")
}

impl Pmu {
    /// The PMU `name`; `kind` is the probe kind a missing one cannot run.
    pub(super) fn open(name: &'static str, kind: &'static str, probe: &str) -> Result<Pmu, RuntimeError> {
        let path = format!("{}/type", dir(name));
        let unsupported = |source| RuntimeError::Unsupported { kind, probe: probe.to_string(), source };
        let text = std::fs::read_to_string(&path).map_err(|e| unsupported(std::io::Error::new(e.kind(), format!("{path}: {e}"))))?;
        let r#type = text.trim().parse().map_err(|_| unsupported(std::io::Error::other(format!("{path} is not a number: `{}`", text.trim()))))?;
        Ok(Pmu { name, r#type })
    }

    /// Where format `field` goes in `config`: its first bit.
    pub(super) fn config_bit(&self, field: &str) -> Result<u32, RuntimeError> {
        let path = format!("{}/format/{field}", dir(self.name));
        let format = std::fs::read_to_string(&path).map_err(|e| RuntimeError::Event(format!("cannot read {path}: {e}")))?;
        parse_config_bits(&format).ok_or_else(|| RuntimeError::Event(format!("cannot read {path}: `{}`", format.trim())))
    }

    /// `config` with the `retprobe` flag set when `ret`.
    pub(super) fn retprobe(&self, ret: bool) -> Result<u64, RuntimeError> {
        Ok(if ret { 1 << self.config_bit("retprobe")? } else { 0 })
    }
}

/// The first bit of a PMU format such as `config:32-63`.
fn parse_config_bits(format: &str) -> Option<u32> {
    let bits = format.trim().strip_prefix("config:")?;
    let first = bits.split('-').next()?;
    first.parse().ok().filter(|&b| b < 64)
}

#[cfg(test)]
mod tests {
    use super::parse_config_bits;

    #[test]
    fn reads_pmu_format_bits() {
        assert_eq!(parse_config_bits("config:32-63\n"), Some(32));
        assert_eq!(parse_config_bits("config:0"), Some(0));
        assert_eq!(parse_config_bits("config1:0-63"), None);
        assert_eq!(parse_config_bits("config:99"), None);
    }
}
