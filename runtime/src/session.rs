//! A running program: [`Session`] owns every kernel object of one compiled
//! object (programs, maps, links, ring buffer) and runs it the way bpftrace
//! does — BEGIN, attach, stream events until `exit()` or a signal, detach,
//! END, print the maps. Dropping the session releases everything.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use aya::maps::{Map, MapData, RingBuf};
use rbpf_codegen::manifest::{Attach, Object, ProgramInfo};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::Notify;

use crate::attach::{self, Link};
use crate::dispatch::{self, Batch, Dispatch};
use crate::error::Action;
use crate::loader::{Loader, Maps, VerifierStats};
use crate::output::{Backlog, Output};
use crate::process::Followed;
use crate::{sys, RuntimeError};

/// How a [`Session`] runs: the command-line options that reach the runtime.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Load and attach, then detach and return: nothing runs, nothing prints
    /// but the "Attaching" line.
    pub dry_run: bool,
    /// bpftrace's `-q`: no "Attaching N probes..." report.
    pub quiet: bool,
    /// bpftrace's `-v`: keep the verifier's statistics of each program
    /// ([`Session::verifier_stats`]).
    pub verifier_stats: bool,
    /// The most bytes of a file `cat()` prints (BPFTRACE_CAT_BYTES_MAX);
    /// bpftrace's 10 KiB when unset.
    pub cat_bytes_max: Option<u64>,
    /// How user addresses are named (BPFTRACE_NO_USER_SYMBOLS,
    /// BPFTRACE_NO_CPP_DEMANGLE, BPFTRACE_CACHE_USER_SYMBOLS).
    pub symbols: crate::symbols::SymbolOptions,
    /// Installs no signal handlers: SIGINT, SIGTERM, SIGHUP and SIGUSR1
    /// keep what the process does with them, and only a [`StopHandle`]
    /// (or `exit()`) ends the run. For a program that embeds rbpf, whose
    /// signals are its own.
    pub ignore_signals: bool,
}

/// One loaded program, ready to run.
pub struct Session {
    // Fields drop in order: probes detach before the ring buffer, the
    // programs and the maps are closed.
    links: Vec<Link>,
    ringbuf: Option<RingBuf<MapData>>,
    /// Every loaded program, by name.
    programs: HashMap<String, OwnedFd>,
    maps: Maps,
    dispatch: Dispatch,
    options: SessionOptions,
    stop: StopHandle,
    /// `-c` or `-p`: the process whose exit ends the trace.
    followed: Option<Followed>,
    /// The output's writer, when it writes in the background.
    backlog: Option<Backlog>,
    /// With [`SessionOptions::verifier_stats`]: what the verifier said of
    /// each program, in load order.
    verifier_stats: Vec<VerifierStats>,
    /// The breakpoints `watchpoint:FUNC+argN` placed while tracing.
    watches: attach::FunctionWatches,
    /// The pcap files of `skboutput()`, once the trace runs.
    skb_outputs: Option<crate::pcap::SkbOutputs>,
}

/// How streaming ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// An `exit()`.
    Exit,
    /// A signal or a [`StopHandle`].
    Stopped,
    /// The followed process exited.
    ProcessExited,
}

/// Records handled between two looks at the signals: a flood of events
/// never keeps a stop waiting.
const BATCH: usize = 1024;

/// Output queued beyond this holds back the reading of events.
const BACKLOG_LIMIT: usize = 1 << 20;

/// After a stop, how long what is left to write may take before it is
/// abandoned (bpftrace stops within about 2 s on a blocked output).
const STOP_GRACE: std::time::Duration = std::time::Duration::from_millis(1000);

/// After a stop request, how long the records already queued may still
/// be handled: the last events before a Ctrl-C are printed, but a flood
/// never holds the stop back.
const STOP_DRAIN: std::time::Duration = std::time::Duration::from_millis(100);

/// Stops a running session as SIGINT would (detach, END, maps), from any
/// thread or task. A stop requested before `run` reaches its event loop is
/// kept until then.
#[derive(Clone, Debug, Default)]
pub struct StopHandle(Arc<Notify>);

impl StopHandle {
    /// Asks the session to stop, as Ctrl-C does: END runs, the maps print.
    pub fn stop(&self) {
        self.0.notify_one();
    }
}

impl Session {
    /// Creates the maps and loads every program of `object` (the verifier
    /// runs here); nothing is attached yet.
    pub fn load(object: &Object, options: &SessionOptions) -> Result<Session, RuntimeError> {
        raise_memlock_limit();
        let manifest = object.manifest.clone();
        let read = rbpf_codegen::elf::read_object(&object.elf).map_err(RuntimeError::Object)?;
        let mut maps = Maps::create(&read)?;
        let mut programs = HashMap::with_capacity(manifest.programs.len());
        let mut loader = Loader::new(&read, &maps);
        if options.verifier_stats {
            loader.verifier_stats = Some(Vec::new());
        }
        for info in &manifest.programs {
            programs.insert(info.name.clone(), attach::load(&mut loader, info)?);
        }
        let verifier_stats = loader.verifier_stats.take().unwrap_or_default();
        drop(loader);
        let ringbuf = match &manifest.ringbuf {
            Some(name) => {
                let map = MapData::from_fd(maps.take(name)?).map_err(|e| {
                    RuntimeError::Syscall { call: "BPF_OBJ_GET_INFO_BY_FD", object: name.clone(), source: std::io::Error::other(e.to_string()) }
                })?;
                Some(RingBuf::try_from(Map::RingBuf(map)).map_err(|_| RuntimeError::Missing { what: "ring buffer", name: name.clone() })?)
            }
            None => None,
        };
        let watches = attach::FunctionWatches::new(&manifest);
        let mut dispatch = Dispatch::new(manifest)?;
        dispatch.set_stacks(crate::stacks::Stacks::of_session(&maps, options.symbols));
        if let Some(bytes) = options.cat_bytes_max {
            dispatch.set_cat_bytes_max(bytes);
        }
        Ok(Session {
            links: Vec::new(),
            ringbuf,
            programs,
            maps,
            dispatch,
            options: options.clone(),
            stop: StopHandle::default(),
            followed: None,
            backlog: None,
            verifier_stats,
            watches,
            skb_outputs: None,
        })
    }

    /// The verifier's statistics of each program, in load order (empty
    /// unless [`SessionOptions::verifier_stats`] asked for them).
    pub fn verifier_stats(&self) -> &[VerifierStats] {
        &self.verifier_stats
    }

    /// A loaded program's fd.
    fn program(&self, info: &ProgramInfo) -> Result<std::os::fd::BorrowedFd<'_>, RuntimeError> {
        self.programs.get(&info.name).map(AsFd::as_fd).ok_or_else(|| RuntimeError::Missing { what: "program", name: info.name.clone() })
    }

    /// The number of probes, as bpftrace counts them for "Attaching N
    /// probes..." (BEGIN and END included).
    pub fn probe_count(&self) -> usize {
        // A uprobe wildcard counts its functions, as bpftrace 0.17 (which
        // attaches them one by one) counts them.
        self.dispatch
            .manifest
            .programs
            .iter()
            .map(|p| match &p.attach {
                // `watchpoint:FUNC+argN` counts once, as its uprobe.
                Attach::Dispatcher { .. } | Attach::WatchpointFunction { .. } => 0,
                Attach::UprobeMulti { funcs, .. } => funcs.len(),
                _ => 1,
            })
            .sum()
    }

    /// Ends the trace when `process` exits, as if `exit()` had been called;
    /// a held child command is let run once the probes are attached.
    pub fn follow(&mut self, process: Followed) {
        self.followed = Some(process);
    }

    /// The program's maps, to read, clear and zero from elsewhere while
    /// [`Session::run`] runs.
    pub fn map_handle(&self) -> Result<crate::MapHandle, RuntimeError> {
        crate::MapHandle::new(&self.dispatch.manifest, &self.maps, self.options.symbols)
    }

    /// Makes `stop` (made before the session, with
    /// [`StopHandle::default`]) stop this session's run, in place of its
    /// own handle.
    pub fn stop_on(&mut self, stop: StopHandle) {
        self.stop = stop;
    }

    /// A handle that stops [`Session::run`] from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Runs the program to its end: BEGIN, attach, events until `exit()`,
    /// SIGINT, SIGTERM, SIGHUP or a [`StopHandle`], then detach, END and
    /// the maps; SIGUSR1 prints the maps and tracing goes on. Returns the
    /// code of the last `exit(code)` (0 if none). Needs a tokio runtime
    /// with I/O enabled; installs handlers for those signals.
    ///
    /// Generic over the output so that, with a `Send` output, the run is
    /// a `Send` future a multi-threaded runtime can spawn (a boxed output,
    /// `Box<dyn Output>`, is an output too).
    pub async fn run<O: Output>(&mut self, out: &mut O) -> Result<i32, RuntimeError> {
        let output = RuntimeError::Output;
        // Before anything is said or runs, so a Ctrl-C from here on stops
        // cleanly (before, during loading, it ends the process at once).
        let mut signals = Signals::new(!self.options.ignore_signals)?;
        if !self.options.quiet {
            out.attached(self.probe_count()).map_err(output)?;
        }
        out.flush().map_err(output)?;
        if self.options.dry_run {
            let attached = self.attach_all(out, &mut signals);
            self.followed = None;
            let mut links = std::mem::take(&mut self.links);
            links.extend(self.watches.take_links());
            attach::detach_all(links);
            out.finish().map_err(output)?;
            return attached.map(|_| 0);
        }
        let paths = &self.dispatch.manifest.skb_outputs;
        if !paths.is_empty() {
            let map = self.maps.fd(rbpf_codegen::manifest::SKB_OUTPUT_MAP)?;
            self.skb_outputs = Some(crate::pcap::SkbOutputs::open(paths, self.dispatch.manifest.skb_output_pages, map)?);
        }

        self.write_start_time()?;
        self.run_all(&Attach::Begin)?;
        // An exit() in BEGIN ends the trace before any probe is attached.
        let exited = self.drain(out, true)?;
        out.flush().map_err(output)?;
        let mut detaching = None;
        let mut stopped = false;
        if !exited {
            let attached = self.attach_all(out, &mut signals);
            let streamed = match attached {
                // A stop while attaching: what is attached comes off again.
                Ok(true) => Ok(Ending::Stopped),
                // An iterator runs when it is read, here, and that is the whole run.
                Ok(false) if self.iterator().is_some() => self.run_iterator(out),
                Ok(false) => {
                    if let Some(followed) = &mut self.followed {
                        followed.release();
                    }
                    self.stream(out, &mut signals).await
                }
                Err(e) => Err(e),
            };
            // Detach even when attaching or streaming failed.
            let mut links = std::mem::take(&mut self.links);
            links.extend(self.watches.take_links());
            match streamed? {
                Ending::Exit => {
                    // What probes sent after exit() is dropped once none
                    // can send more.
                    match self.watches.stops_process() {
                        true => attach::detach_all(links),
                        false => detaching = Some(attach::detach_in_background(links)),
                    }
                    self.discard_pending();
                }
                ending => {
                    // Stopped from outside: the probes come off their
                    // hooks at once, and END and the maps need not wait
                    // for the kernel to free the events. But a process a
                    // watchpoint's uprobe may stop is let go on (below)
                    // only once no uprobe can stop it again.
                    match self.watches.stops_process() {
                        true => attach::detach_all(links),
                        false => detaching = Some(attach::detach_in_background(links)),
                    }
                    // A stop does not wait for a backlog: what was
                    // queued is handled only briefly, the rest is counted
                    // as lost.
                    if ending == Ending::Stopped {
                        stopped = true;
                        self.handle_queued_briefly(out)?;
                    }
                }
            }
            // The packets sent until the probes came off.
            self.read_packets(out)?;
        }

        self.resume_watched();
        // A child command still running is terminated now, as in bpftrace.
        self.followed = None;
        self.run_all(&Attach::End)?;
        self.drain(out, false)?;
        out.stopped().map_err(output)?;
        self.dispatch.print_maps(&self.maps, out)?;
        self.dispatch.report_failed_updates(&self.maps, out)?;
        out.finish().map_err(output)?;
        self.wait_written(&mut signals, stopped).await;
        if let Some(detaching) = detaching {
            detaching.wait();
        }
        // A write that failed in the background fails the run, as one
        // that failed at once does.
        if let Some(e) = self.backlog.as_ref().and_then(Backlog::error) {
            return Err(RuntimeError::Output(e));
        }
        Ok(self.dispatch.exit_code)
    }

    /// Lets the session read events only as fast as `backlog`'s writer
    /// writes them, and give up on what it cannot write once stopped: the
    /// output then never keeps a stop waiting.
    pub fn pace_output(&mut self, backlog: Backlog) {
        self.backlog = Some(backlog);
    }

    /// Waits for the output to be written: as long as it takes after an
    /// `exit()`, until a stop request and a short grace after it otherwise
    /// (whatever cannot be written by then is abandoned).
    async fn wait_written(&self, signals: &mut Signals, stopped: bool) {
        let Some(backlog) = &self.backlog else { return };
        if !stopped {
            tokio::select! {
                biased;
                () = backlog.written() => return,
                () = signals.stop.recv() => {}
                () = self.stop.0.notified() => {}
            }
        }
        let _ = tokio::time::timeout(STOP_GRACE, backlog.written()).await;
    }

    /// Attaches every probe; what one attaches without is said to `out` as
    /// a warning. A kprobe of a list or a wildcard that the kernel refuses
    /// (a function another kernel has, or one that cannot be probed) is
    /// skipped with a warning, as bpftrace does. A stop signal between two
    /// probes ends the attaching (true): hundreds of probes never keep a
    /// Ctrl-C waiting.
    fn attach_all(&mut self, out: &mut dyn Output, signals: &mut Signals) -> Result<bool, RuntimeError> {
        let pid = self.followed.as_ref().map(Followed::pid);
        let mut warnings = Vec::new();
        for info in &self.dispatch.manifest.programs {
            if signals.stop.requested() {
                return Ok(true);
            }
            let attached = attach::attach(self.program(info)?, &self.maps, info, pid, &mut warnings);
            warnings.drain(..).try_for_each(|w| out.warning(&w)).map_err(RuntimeError::Output)?;
            match attached {
                // `unwatch()` may remove a watchpoint on a fixed address.
                Ok(Some(link)) => match info.attach {
                    Attach::Watchpoint { address, .. } => self.watches.keep(address, link),
                    _ => self.links.push(link),
                },
                Ok(None) => {}
                Err(e) if info.optional => {
                    // The error and its causes, as the CLI prints an error.
                    let mut text = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(cause) = source {
                        text = format!("{text}: {cause}");
                        source = cause.source();
                    }
                    out.warning(&format!("{text}, skipping.")).map_err(RuntimeError::Output)?;
                }
                // Its files under /proc went with it: that, not the probe, is the cause.
                Err(_) if self.followed.as_ref().is_some_and(Followed::has_exited) => {
                    return Err(RuntimeError::ProcessExited { pid: pid.unwrap_or(0), probe: info.probe_name.clone() })
                }
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// The iterator probe, when the program is one (it is then the only probe).
    fn iterator(&self) -> Option<&ProgramInfo> {
        self.dispatch.manifest.programs.iter().find(|p| matches!(p.attach, Attach::Iter { .. }))
    }

    /// Reads the attached iterator to its end and writes what its program
    /// printed, or pins it and says where; then the run ends as after an
    /// `exit()`.
    fn run_iterator(&mut self, out: &mut dyn Output) -> Result<Ending, RuntimeError> {
        let (Some(info), Some(link)) = (self.iterator(), self.links.last()) else { return Ok(Ending::Exit) };
        let pin = match &info.attach {
            Attach::Iter { pin, .. } => pin.as_deref(),
            _ => None,
        };
        let run = attach::iter::read_or_pin(link, info, pin)?;
        // What the program sent besides printf (print(), ...) comes first.
        self.drain(out, false)?;
        let text = match run {
            attach::iter::IterRun::Read(text) => text,
            attach::iter::IterRun::Pinned(path) => format!("Program pinned to {}\n", path.display()).into_bytes(),
        };
        out.printf(&text).map_err(RuntimeError::Output)?;
        Ok(Ending::Exit)
    }

    /// Runs every BEGIN (or END) program once, in order.
    fn run_all(&mut self, which: &Attach) -> Result<(), RuntimeError> {
        for info in self.dispatch.manifest.programs.iter().filter(|p| p.attach == *which) {
            attach::run_once(self.program(info)?, info)?;
        }
        Ok(())
    }

    /// Handles records until an exit record, a stop request or the
    /// followed process's exit. A stop request wins over everything
    /// else the loop waits on: records, a `system()` command, an output
    /// that does not take what is written.
    async fn stream<O: Output>(&mut self, out: &mut O, signals: &mut Signals) -> Result<Ending, RuntimeError> {
        let stop = self.stop.0.clone();
        let followed = match &self.followed {
            Some(f) => {
                let fd = f.pidfd.try_clone().map_err(|e| RuntimeError::Syscall { call: "dup", object: "pidfd".into(), source: e })?;
                // SAFETY: the AsyncFd owns the duplicated pidfd and keeps it
                // open, unchanged, for as long as it is registered.
                let watched = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| {
                    RuntimeError::Syscall { call: "epoll_ctl", object: "pidfd".into(), source: e.into_parts().1 }
                })?;
                Some(watched)
            }
            None => None,
        };
        let exited = async {
            match &followed {
                Some(fd) => drop(fd.readable().await),
                None => std::future::pending().await,
            }
        };
        tokio::pin!(exited);
        let Some(ringbuf) = self.ringbuf.take() else {
            loop {
                tokio::select! {
                    biased;
                    () = signals.stop.recv() => return Ok(Ending::Stopped),
                    () = stop.notified() => return Ok(Ending::Stopped),
                    () = signals.print.recv() => self.print_maps_now(out)?,
                    () = &mut exited => return Ok(Ending::ProcessExited),
                }
            }
        };
        let name = self.dispatch.manifest.ringbuf.clone().unwrap_or_default();
        // SAFETY: the ring buffer owns its fd and keeps it open, unchanged,
        // until `into_inner` hands it back below.
        let mut ready = match unsafe { AsyncFd::register_with_interest(ringbuf, Interest::READABLE) } {
            Ok(fd) => fd,
            Err(e) => {
                let (ringbuf, source) = e.into_parts();
                self.ringbuf = Some(ringbuf);
                return Err(RuntimeError::Syscall { call: "epoll_ctl", object: name, source });
            }
        };
        // The kernel's mapping records (programs with user stacks): read
        // whenever half a CPU's ring is full, so that none is lost.
        let records: Vec<AsyncFd<OwnedFd>> = self
            .dispatch
            .stacks()
            .mapping_record_fds()
            .into_iter()
            // SAFETY: each AsyncFd owns its duplicated fd and keeps it
            // open, unchanged, for as long as it is registered.
            .filter_map(|fd| unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok())
            .collect();
        // `skboutput()`'s packets: written to their files as they come.
        let packets: Vec<AsyncFd<OwnedFd>> = self
            .skb_outputs
            .iter()
            .flat_map(crate::pcap::SkbOutputs::fds)
            .filter_map(|fd| fd.try_clone_to_owned().ok())
            // SAFETY: each AsyncFd owns its duplicated fd and keeps it
            // open, unchanged, for as long as it is registered.
            .filter_map(|fd| unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok())
            .collect();
        let backlog = self.backlog.clone();
        // Once the followed process has exited, what its last moments
        // sent is handled, then the trace ends.
        let mut gone = false;
        let result = loop {
            let batch = if gone {
                self.dispatch.drain_batch(ready.get_mut(), &self.maps, out, BATCH)
            } else {
                tokio::select! {
                    biased;
                    () = signals.stop.recv() => break Ok(Ending::Stopped),
                    () = stop.notified() => break Ok(Ending::Stopped),
                    () = signals.print.recv() => match self.print_maps_now(out) {
                        Ok(()) => continue,
                        Err(e) => break Err(e),
                    },
                    () = &mut exited => {
                        gone = true;
                        continue;
                    }
                    () = any_readable(&packets) => match self.read_packets(out) {
                        Ok(()) => continue,
                        Err(e) => break Err(e),
                    },
                    () = any_readable(&records) => {
                        self.dispatch.stacks().read_mapping_records();
                        // Then the events, so that the exits just read
                        // are read past (below).
                        self.dispatch.drain_batch(ready.get_mut(), &self.maps, out, BATCH)
                    }
                    guard = ready.readable_mut() => {
                        let mut guard = match guard {
                            Ok(guard) => guard,
                            Err(e) => break Err(RuntimeError::Syscall { call: "epoll_wait", object: name, source: e }),
                        };
                        let batch = self.dispatch.drain_batch(guard.get_inner_mut(), &self.maps, out, BATCH);
                        // Cleared only once empty, and only if no wake-up
                        // came in since: a record committed while draining
                        // is not missed.
                        if matches!(batch, Ok(Batch::Empty)) {
                            guard.clear_ready();
                        }
                        batch
                    }
                }
            };
            match batch {
                Ok(Batch::Exit) => break Ok(Ending::Exit),
                Ok(Batch::Command(command)) => {
                    // What was printed before shows before what the
                    // command writes itself.
                    if let Some(backlog) = &backlog {
                        tokio::select! {
                            biased;
                            () = signals.stop.recv() => break Ok(Ending::Stopped),
                            () = stop.notified() => break Ok(Ending::Stopped),
                            () = backlog.written() => {}
                        }
                    }
                    let answer = dispatch::start_command(command.clone());
                    let result = tokio::select! {
                        biased;
                        () = signals.stop.recv() => break Ok(Ending::Stopped),
                        () = stop.notified() => break Ok(Ending::Stopped),
                        answer = answer => answer.unwrap_or_else(|_| Err(std::io::Error::other("cannot start a thread to run it"))),
                    };
                    if let Err(e) = self.dispatch.command_done(&command, result, out) {
                        break Err(e);
                    }
                }
                Ok(Batch::Watch { program, address }) => {
                    if let Err(e) = self.watch(program, address, out) {
                        break Err(e);
                    }
                }
                Ok(Batch::Unwatch { address }) => {
                    let watched = self.maps.fd(rbpf_codegen::manifest::WATCHED_MAP).ok();
                    self.watches.unwatch(address, watched);
                }
                Ok(Batch::Empty | Batch::More) if gone => break Ok(Ending::ProcessExited),
                // Every event sent before now is read: the processes that
                // exited unreported can be forgotten.
                Ok(Batch::Empty) => self.dispatch.stacks().forget_exited(),
                // A flood keeps the ring buffer readable: yield, so that
                // the runtime polls its driver, which is what notices a
                // signal (without it, millions of records could go by
                // before a Ctrl-C is seen).
                Ok(Batch::More) => tokio::task::yield_now().await,
                Err(e) => break Err(e),
            }
            if let Err(e) = out.flush() {
                break Err(RuntimeError::Output(e));
            }
            // An output that does not keep up holds the reading back (the
            // kernel then counts what it cannot deliver), but never a stop.
            if let Some(backlog) = &backlog {
                tokio::select! {
                    biased;
                    () = signals.stop.recv() => break Ok(Ending::Stopped),
                    () = stop.notified() => break Ok(Ending::Stopped),
                    () = backlog.below(BACKLOG_LIMIT) => {}
                }
            }
        };
        self.ringbuf = Some(ready.into_inner());
        result
    }

    /// `watchpoint:FUNC+argN`: watches `address` with the program at
    /// `program`, in the followed process, and lets the process go on.
    fn watch(&mut self, program: usize, address: u64, out: &mut dyn Output) -> Result<(), RuntimeError> {
        let pid = self.followed.as_ref().map(Followed::pid);
        let programs = &self.programs;
        let fd = |info: &ProgramInfo| {
            programs.get(&info.name).map(AsFd::as_fd).ok_or_else(|| RuntimeError::Missing { what: "program", name: info.name.clone() })
        };
        let watched = self.maps.fd(rbpf_codegen::manifest::WATCHED_MAP).ok();
        let warning = self.watches.place(&self.dispatch.manifest.programs, fd, watched, program, address, pid)?;
        match warning {
            Some(warning) => out.warning(&warning).map_err(RuntimeError::Output),
            None => Ok(()),
        }
    }

    /// Writes the packets `skboutput()` sent to their pcap files; says
    /// how many more the kernel dropped since the last call.
    fn read_packets(&mut self, out: &mut dyn Output) -> Result<(), RuntimeError> {
        let Some(packets) = &mut self.skb_outputs else { return Ok(()) };
        let before = packets.lost();
        packets.read()?;
        match packets.lost() - before {
            0 => Ok(()),
            n => out.warning(&format!("{n} packets lost: raise BPFTRACE_PERF_RB_PAGES or capture fewer bytes")).map_err(RuntimeError::Output),
        }
    }

    /// With a synchronous `watchpoint:FUNC+argN`, lets the followed
    /// process go on: a uprobe may have stopped it and sent a record that
    /// was never handled (a stop, an `exit()`). Called once no uprobe can
    /// stop it again.
    fn resume_watched(&mut self) {
        if let (true, Some(followed)) = (self.watches.stops_process(), &self.followed) {
            attach::resume_watched(followed.pid());
        }
    }

    /// SIGUSR1: the maps as they are now, as at the end (bpftrace prints
    /// them without the two newlines that end tracing).
    fn print_maps_now(&mut self, out: &mut dyn Output) -> Result<(), RuntimeError> {
        self.dispatch.print_maps(&self.maps, out)?;
        out.flush().map_err(RuntimeError::Output)
    }

    /// After a stop request: handles the records already queued for up to
    /// [`STOP_DRAIN`], while the output takes them, and counts the rest as
    /// lost. `system()` commands are not started any more: they count as
    /// lost too.
    fn handle_queued_briefly(&mut self, out: &mut dyn Output) -> Result<(), RuntimeError> {
        let Some(ringbuf) = &mut self.ringbuf else { return Ok(()) };
        let deadline = std::time::Instant::now() + STOP_DRAIN;
        loop {
            let blocked = self.backlog.as_ref().is_some_and(|b| b.pending() > BACKLOG_LIMIT);
            if blocked || std::time::Instant::now() >= deadline {
                break;
            }
            match self.dispatch.drain_batch(ringbuf, &self.maps, out, BATCH)? {
                Batch::Command(_) => self.dispatch.count_dropped(1),
                // The process is let go on at the end, unwatched.
                Batch::Exit | Batch::More | Batch::Watch { .. } | Batch::Unwatch { .. } => {}
                Batch::Empty => return Ok(()),
            }
        }
        self.dispatch.drop_pending(ringbuf);
        Ok(())
    }

    /// Drops the records that probes sent after an `exit()`, up to the
    /// detach: bpftrace prints nothing a probe does once exit() was seen
    /// (other CPUs, or the same probe firing again before it is detached).
    fn discard_pending(&mut self) {
        if let Some(ringbuf) = &mut self.ringbuf {
            while ringbuf.next().is_some() {}
        }
    }

    /// Handles the records waiting in the ring buffer; with `stop_at_exit`,
    /// stops after an exit record and says so.
    fn drain(&mut self, out: &mut dyn Output, stop_at_exit: bool) -> Result<bool, RuntimeError> {
        match &mut self.ringbuf {
            Some(ringbuf) => self.dispatch.drain(ringbuf, &self.maps, out, stop_at_exit),
            None => self.dispatch.report_lost(&self.maps, out).map(|()| false),
        }
    }

    /// `elapsed` counts from now: the start time map holds the monotonic
    /// clock, as bpf_ktime_get_ns reads it, at key 0.
    fn write_start_time(&mut self) -> Result<(), RuntimeError> {
        let Some(name) = &self.dispatch.manifest.start_time_map else { return Ok(()) };
        let fd = self.maps.fd(name)?;
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid timespec to write into.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let ns = (now.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(now.tv_nsec as u64);
        sys::map_update(fd, &0u32.to_le_bytes(), &ns.to_le_bytes())
            .map_err(|e| RuntimeError::syscall(Action::WriteMaps, "BPF_MAP_UPDATE_ELEM", name, e))
    }
}

impl Drop for Session {
    /// Also after a failure: a process a watchpoint's uprobe stopped is
    /// let go on, once its links are closed.
    fn drop(&mut self) {
        if self.watches.stops_process() {
            drop(std::mem::take(&mut self.links));
            drop(self.watches.take_links());
            self.resume_watched();
        }
    }
}

/// Resolves once one of `fds` is readable, taking its readiness; never
/// with none.
async fn any_readable(fds: &[AsyncFd<OwnedFd>]) {
    std::future::poll_fn(|cx| {
        let mut ready = false;
        for fd in fds {
            if let std::task::Poll::Ready(Ok(mut guard)) = fd.poll_read_ready(cx) {
                guard.clear_ready();
                ready = true;
            }
        }
        if ready {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// The signals a trace answers: SIGINT, SIGTERM and SIGHUP stop it (a
/// closed terminal too ends it cleanly, and a child command with it);
/// SIGUSR1 prints the maps, as in bpftrace. Two fields, so one loop can
/// wait on both.
struct Signals {
    stop: StopSignals,
    print: PrintSignal,
}

/// `None` with [`SessionOptions::ignore_signals`]: never received.
struct StopSignals(Option<[Signal; 3]>);

struct PrintSignal(Option<Signal>);

impl Signals {
    /// Installs the handlers; with `handle` false, none.
    fn new(handle: bool) -> Result<Signals, RuntimeError> {
        if !handle {
            return Ok(Signals { stop: StopSignals(None), print: PrintSignal(None) });
        }
        let register = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| RuntimeError::Syscall { call: "sigaction", object: name.into(), source: e })
        };
        Ok(Signals {
            stop: StopSignals(Some([
                register(SignalKind::interrupt(), "SIGINT")?,
                register(SignalKind::terminate(), "SIGTERM")?,
                register(SignalKind::hangup(), "SIGHUP")?,
            ])),
            print: PrintSignal(Some(register(SignalKind::user_defined1(), "SIGUSR1")?)),
        })
    }
}

impl StopSignals {
    /// Whether a request to stop has arrived, without waiting for one.
    fn requested(&mut self) -> bool {
        let Some([interrupt, terminate, hangup]) = &mut self.0 else { return false };
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut arrived = |signal: &mut Signal| signal.poll_recv(&mut cx).is_ready();
        // Each is looked at, so that none stays pending for later.
        arrived(interrupt) | arrived(terminate) | arrived(hangup)
    }

    /// A request to stop.
    async fn recv(&mut self) {
        let Some([interrupt, terminate, hangup]) = &mut self.0 else { return std::future::pending().await };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
    }
}

impl PrintSignal {
    /// A request to print the maps.
    async fn recv(&mut self) {
        match &mut self.0 {
            Some(signal) => drop(signal.recv().await),
            None => std::future::pending().await,
        }
    }
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK, whose default
/// is too small for a ring buffer; bpftrace lifts it too. Best effort:
/// later kernels ignore it.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: `unlimited` is a valid rlimit; failure changes nothing.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}
