//! The kernel's helper functions, by number and name.

/// Declares [`Helper`] once: variant, number and kernel name stay together.
macro_rules! helpers {
    ($($variant:ident = $id:literal => $name:literal,)*) => {
        /// Kernel helper functions, numbered as in the kernel's uapi `bpf.h`
        /// (`__BPF_FUNC_MAPPER`: the number is the position in that list).
        /// Only the helpers a tracing program can use; which ones a program
        /// type may call is the verifier's business (and the checker's).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum Helper {
            $(#[doc = concat!("`", $name, "`, helper number ", stringify!($id), ".")]
            $variant = $id,)*
        }

        impl Helper {
            /// Every helper, in number order.
            pub const ALL: &'static [Helper] = &[$(Helper::$variant,)*];

            /// The helper with this number, if the table has it.
            pub fn from_id(id: i32) -> Option<Helper> {
                match id {
                    $($id => Some(Helper::$variant),)*
                    _ => None,
                }
            }

            /// The helper's name in the kernel, as disassemblers show it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Helper::$variant => $name,)*
                }
            }
        }
    };
}

helpers! {
    MapLookupElem = 1 => "bpf_map_lookup_elem",
    MapUpdateElem = 2 => "bpf_map_update_elem",
    MapDeleteElem = 3 => "bpf_map_delete_elem",
    ProbeRead = 4 => "bpf_probe_read",
    KtimeGetNs = 5 => "bpf_ktime_get_ns",
    TracePrintk = 6 => "bpf_trace_printk",
    GetPrandomU32 = 7 => "bpf_get_prandom_u32",
    GetSmpProcessorId = 8 => "bpf_get_smp_processor_id",
    TailCall = 12 => "bpf_tail_call",
    GetCurrentPidTgid = 14 => "bpf_get_current_pid_tgid",
    GetCurrentUidGid = 15 => "bpf_get_current_uid_gid",
    GetCurrentComm = 16 => "bpf_get_current_comm",
    PerfEventRead = 22 => "bpf_perf_event_read",
    PerfEventOutput = 25 => "bpf_perf_event_output",
    GetStackid = 27 => "bpf_get_stackid",
    GetCurrentTask = 35 => "bpf_get_current_task",
    ProbeWriteUser = 36 => "bpf_probe_write_user",
    GetNumaNodeId = 42 => "bpf_get_numa_node_id",
    ProbeReadStr = 45 => "bpf_probe_read_str",
    PerfEventReadValue = 55 => "bpf_perf_event_read_value",
    OverrideReturn = 58 => "bpf_override_return",
    GetStack = 67 => "bpf_get_stack",
    GetCurrentCgroupId = 80 => "bpf_get_current_cgroup_id",
    MapPushElem = 87 => "bpf_map_push_elem",
    MapPopElem = 88 => "bpf_map_pop_elem",
    MapPeekElem = 89 => "bpf_map_peek_elem",
    SendSignal = 109 => "bpf_send_signal",
    SkbOutput = 111 => "bpf_skb_output",
    ProbeReadUser = 112 => "bpf_probe_read_user",
    ProbeReadKernel = 113 => "bpf_probe_read_kernel",
    ProbeReadUserStr = 114 => "bpf_probe_read_user_str",
    ProbeReadKernelStr = 115 => "bpf_probe_read_kernel_str",
    SendSignalThread = 117 => "bpf_send_signal_thread",
    Jiffies64 = 118 => "bpf_jiffies64",
    GetNsCurrentPidTgid = 120 => "bpf_get_ns_current_pid_tgid",
    GetCurrentAncestorCgroupId = 123 => "bpf_get_current_ancestor_cgroup_id",
    KtimeGetBootNs = 125 => "bpf_ktime_get_boot_ns",
    SeqPrintf = 126 => "bpf_seq_printf",
    RingbufOutput = 130 => "bpf_ringbuf_output",
    RingbufReserve = 131 => "bpf_ringbuf_reserve",
    RingbufSubmit = 132 => "bpf_ringbuf_submit",
    RingbufDiscard = 133 => "bpf_ringbuf_discard",
    RingbufQuery = 134 => "bpf_ringbuf_query",
    GetTaskStack = 141 => "bpf_get_task_stack",
    DPath = 147 => "bpf_d_path",
    CopyFromUser = 148 => "bpf_copy_from_user",
    GetCurrentTaskBtf = 158 => "bpf_get_current_task_btf",
    KtimeGetCoarseNs = 160 => "bpf_ktime_get_coarse_ns",
    ForEachMapElem = 164 => "bpf_for_each_map_elem",
    Snprintf = 165 => "bpf_snprintf",
    GetFuncIp = 173 => "bpf_get_func_ip",
    GetAttachCookie = 174 => "bpf_get_attach_cookie",
    TaskPtRegs = 175 => "bpf_task_pt_regs",
    Loop = 181 => "bpf_loop",
    Strncmp = 182 => "bpf_strncmp",
    GetFuncArg = 183 => "bpf_get_func_arg",
    GetFuncRet = 184 => "bpf_get_func_ret",
    CopyFromUserTask = 191 => "bpf_copy_from_user_task",
    MapLookupPercpuElem = 195 => "bpf_map_lookup_percpu_elem",
    KtimeGetTaiNs = 208 => "bpf_ktime_get_tai_ns",
}
