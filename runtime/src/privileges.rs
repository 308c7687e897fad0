//! Why the kernel refused this process: which of the capabilities an
//! action needs it lacks, and which sysctl keeps processes without them
//! out, read only once something was refused.

use crate::error::Action;

/// Capability bits of `CapEff` in /proc/self/status.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// What the kernel checks an action against: bpf(2), which
/// kernel.unprivileged_bpf_disabled closes to users without CAP_BPF, or
/// perf_event_open(2), which kernel.perf_event_paranoid limits for users
/// without CAP_PERFMON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    Bpf,
    Perf,
}

impl Action {
    fn gate(self) -> Gate {
        match self {
            Action::AttachTracepoints | Action::AttachInterval | Action::AttachPerfEvents | Action::AttachKprobes | Action::AttachUprobes | Action::AttachIterator => {
                Gate::Perf
            }
            Action::CreateMaps | Action::LoadPrograms | Action::RunPrograms | Action::ReadMaps | Action::WriteMaps => Gate::Bpf,
        }
    }

    /// The capabilities the action needs, by bit and name.
    fn capabilities(self) -> &'static [(u32, &'static str)] {
        match (self, self.gate()) {
            (Action::LoadPrograms, _) => &[(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")],
            (_, Gate::Bpf) => &[(CAP_BPF, "CAP_BPF")],
            (_, Gate::Perf) => &[(CAP_PERFMON, "CAP_PERFMON")],
        }
    }
}

/// What decides whether this process may use bpf(2) and perf_event_open(2).
#[derive(Clone, Debug, Default)]
pub(crate) struct Privileges {
    /// The effective user id.
    uid: u32,
    /// The effective capability set, `None` when unreadable.
    capabilities: Option<u64>,
    /// kernel.unprivileged_bpf_disabled.
    unprivileged_bpf_disabled: Option<i64>,
    /// kernel.perf_event_paranoid.
    perf_event_paranoid: Option<i64>,
}

impl Privileges {
    /// Read only once something was refused.
    pub(crate) fn of_this_process() -> Privileges {
        let sysctl = |name: &str| std::fs::read_to_string(format!("/proc/sys/kernel/{name}")).ok()?.trim().parse().ok();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let capabilities = status.lines().find_map(|l| u64::from_str_radix(l.strip_prefix("CapEff:")?.trim(), 16).ok());
        Privileges {
            // SAFETY: geteuid has no preconditions.
            uid: unsafe { libc::geteuid() },
            capabilities,
            unprivileged_bpf_disabled: sysctl("unprivileged_bpf_disabled"),
            perf_event_paranoid: sysctl("perf_event_paranoid"),
        }
    }
}

/// ": this process lacks CAP_BPF (uid 65534), and kernel.… = N …": the
/// capabilities `action` needs that the process lacks (CAP_SYS_ADMIN
/// stands in for each), and the sysctl that refuses processes without
/// them. Empty when the capability set cannot be read.
pub(crate) fn context(action: Action, p: &Privileges) -> String {
    let Some(caps) = p.capabilities else { return String::new() };
    let has = |bit: u32| caps & (1 << bit) != 0;
    let missing: Vec<&str> = action.capabilities().iter().filter(|(bit, _)| !has(*bit) && !has(CAP_SYS_ADMIN)).map(|(_, n)| *n).collect();
    if missing.is_empty() {
        // Every capability is there, and still refused: not a matter of
        // privileges but of a policy above them.
        return ": this process has them, so a security policy (kernel lockdown, an LSM such as SELinux or AppArmor) refused it".into();
    }
    let mut context = format!(": this process lacks {} (uid {})", missing.join(" and "), p.uid);
    match action.gate() {
        Gate::Bpf if missing.contains(&"CAP_BPF") => match p.unprivileged_bpf_disabled {
            Some(value @ 1..) => context.push_str(&format!(
                ", and kernel.unprivileged_bpf_disabled = {value} keeps every process without CAP_BPF or CAP_SYS_ADMIN out of bpf(2)"
            )),
            _ => context.push_str(", which tracing programs need whatever kernel.unprivileged_bpf_disabled says"),
        },
        Gate::Bpf => {}
        Gate::Perf => match p.perf_event_paranoid {
            Some(value) if value > -1 => context.push_str(&format!(
                ", and kernel.perf_event_paranoid = {value} keeps processes without CAP_PERFMON or CAP_SYS_ADMIN from tracing the kernel (-1 would allow it)"
            )),
            _ => {}
        },
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_missing_capability_and_the_sysctl() {
        let nobody = Privileges { uid: 65534, capabilities: Some(0), unprivileged_bpf_disabled: Some(2), perf_event_paranoid: Some(2) };
        assert_eq!(
            context(Action::CreateMaps, &nobody),
            ": this process lacks CAP_BPF (uid 65534), and kernel.unprivileged_bpf_disabled = 2 keeps every process without CAP_BPF or CAP_SYS_ADMIN out of bpf(2)"
        );
        let open = Privileges { unprivileged_bpf_disabled: Some(0), ..nobody.clone() };
        assert_eq!(
            context(Action::LoadPrograms, &open),
            ": this process lacks CAP_BPF and CAP_PERFMON (uid 65534), which tracing programs need whatever kernel.unprivileged_bpf_disabled says"
        );
        let bpf_only = Privileges { uid: 0, capabilities: Some(1 << CAP_BPF), ..nobody.clone() };
        assert_eq!(
            context(Action::AttachTracepoints, &bpf_only),
            ": this process lacks CAP_PERFMON (uid 0), and kernel.perf_event_paranoid = 2 keeps processes without CAP_PERFMON or CAP_SYS_ADMIN from tracing the kernel (-1 would allow it)"
        );
        assert_eq!(context(Action::AttachTracepoints, &Privileges { perf_event_paranoid: Some(-1), ..bpf_only.clone() }), ": this process lacks CAP_PERFMON (uid 0)");
        assert_eq!(context(Action::LoadPrograms, &bpf_only), ": this process lacks CAP_PERFMON (uid 0)");
        // CAP_SYS_ADMIN does for both; with everything, a policy refused.
        let admin = Privileges { capabilities: Some(1 << CAP_SYS_ADMIN), ..nobody.clone() };
        assert!(context(Action::LoadPrograms, &admin).contains("security policy"));
        assert_eq!(context(Action::LoadPrograms, &Privileges::default()), "");
    }
}
