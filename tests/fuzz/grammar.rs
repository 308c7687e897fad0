//! The generator of random well-typed programs: one grammar of types
//! ([`Ty`]) and, for each type, the expressions that make a value of it
//! ([`Gen::expr`]). A new type or function of the language is one more
//! arm here, and every statement that takes a value of that type starts
//! using it.
//!
//! Generation is driven by proptest strategies: a program's shape (its
//! maps, probes and variables, [`Shape`]) is drawn first, then the
//! statements of each probe against it, so that every use of a map or a
//! variable agrees with its type.

use std::fmt::Write as _;
use std::rc::Rc;

use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Just, Union};

/// What a generated program may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Everything the language has, any probe: for the load test.
    Full,
    /// BEGIN only, deterministic output, only what bpftrace 0.17 has
    /// with the same meaning: for the differential test.
    Deterministic,
}

/// The language's types, as the generator knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ty {
    /// An integer of `bits` bits.
    Int { bits: u8, signed: bool },
    /// A string.
    Str,
    /// A tuple.
    Tuple(Vec<Ty>),
    /// A pointer to an integer of `bits` bits (Full profile only).
    IntPtr { bits: u8 },
    /// `buf(...)` (Full profile only).
    Buf,
    /// `kstack` or `ustack` (Full profile only).
    Stack { user: bool },
}

impl Ty {
    /// The C-like name of an integer type.
    fn int_name(bits: u8, signed: bool) -> String {
        format!("{}int{bits}", if signed { "" } else { "u" })
    }

    fn is_int(&self) -> bool {
        matches!(self, Ty::Int { .. })
    }
}

/// The integer types of every width and sign.
pub const INTS: [(u8, bool); 8] = [
    (8, true),
    (8, false),
    (16, true),
    (16, false),
    (32, true),
    (32, false),
    (64, true),
    (64, false),
];

/// The C type of each struct member the generator defines, with its
/// integer width.
const MEMBER_TYPES: [(&str, u8); 4] = [("char", 8), ("short", 16), ("int", 32), ("long", 64)];

/// A struct the script defines: its members' widths.
#[derive(Clone, Debug)]
pub struct StructDef {
    pub members: Vec<u8>,
}

/// How a map is filled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapValue {
    /// Assigned values of one type.
    Scalar(Ty),
    /// An aggregation.
    Agg(Agg),
}

/// The aggregating functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agg {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Stats,
    Hist,
    Lhist,
}

const AGGS: [Agg; 8] = [
    Agg::Count,
    Agg::Sum,
    Agg::Min,
    Agg::Max,
    Agg::Avg,
    Agg::Stats,
    Agg::Hist,
    Agg::Lhist,
];

/// A map of the program: its keys (none for a scalar map) and values.
#[derive(Clone, Debug)]
pub struct MapDecl {
    pub keys: Vec<Ty>,
    pub value: MapValue,
}

/// A probe kind and what its context offers as leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Begin,
    End,
    OpenAt,
    SchedSwitch,
    RawSchedSwitch,
    Interval,
    Profile,
    Uprobe,
    Uretprobe,
    Software,
}

impl Probe {
    fn spec(self) -> &'static str {
        match self {
            Probe::Begin => "BEGIN",
            Probe::End => "END",
            Probe::OpenAt => "tracepoint:syscalls:sys_enter_openat",
            Probe::SchedSwitch => "tracepoint:sched:sched_switch",
            Probe::RawSchedSwitch => "rawtracepoint:sched_switch",
            Probe::Interval => "interval:ms:100",
            Probe::Profile => "profile:hz:99",
            Probe::Uprobe => "uprobe:libc:div",
            Probe::Uretprobe => "uretprobe:libc:div",
            Probe::Software => "software:cpu-clock:100000",
        }
    }

    /// Integer leaves this probe's context gives.
    fn int_leaves(self) -> &'static [&'static str] {
        match self {
            Probe::OpenAt => &["args.flags", "args->mode", "args.dfd"],
            Probe::SchedSwitch => &["args.prev_pid", "args->next_prio", "args.prev_state"],
            Probe::RawSchedSwitch => &["arg0", "arg1"],
            Probe::Uprobe => &["arg0", "arg1"],
            Probe::Uretprobe => &["retval"],
            _ => &[],
        }
    }

    /// String leaves this probe's context gives.
    fn str_leaves(self) -> &'static [&'static str] {
        match self {
            Probe::OpenAt => &["str(args.filename)", "str(args->filename, 8)"],
            Probe::SchedSwitch => &["args.prev_comm", "args->next_comm"],
            _ => &[],
        }
    }
}

const PROBES: [Probe; 10] = [
    Probe::Begin,
    Probe::End,
    Probe::OpenAt,
    Probe::SchedSwitch,
    Probe::RawSchedSwitch,
    Probe::Interval,
    Probe::Profile,
    Probe::Uprobe,
    Probe::Uretprobe,
    Probe::Software,
];

/// The program's declarations: drawn before any statement.
#[derive(Clone, Debug)]
pub struct Shape {
    pub profile: Profile,
    pub structs: Vec<StructDef>,
    pub maps: Vec<MapDecl>,
    pub probes: Vec<(Probe, Vec<Ty>)>,
}

/// A generated program and what the differential test must know of it.
#[derive(Clone, Debug)]
pub struct Generated {
    pub text: String,
    /// Some map has keys: its entries may tie on value, and bpftrace then
    /// prints them in hash order.
    pub keyed_maps: bool,
}

/// Strategies for one program: the shape's declarations and what the
/// current probe may read.
#[derive(Clone)]
struct Gen {
    shape: Rc<Shape>,
    probe: Probe,
    /// Whether statements may be loops (not inside another loop).
    loops: bool,
    vars: Rc<Vec<Ty>>,
}

type S = BoxedStrategy<String>;

fn one_of(options: Vec<S>) -> S {
    Union::new(options).boxed()
}

fn pick(words: &'static [&'static str]) -> S {
    proptest::sample::select(words)
        .prop_map(str::to_string)
        .boxed()
}

fn join<T: Strategy<Value = String> + 'static>(parts: Vec<T>, sep: &'static str) -> S {
    parts.prop_map(move |v| v.join(sep)).boxed()
}

/// A string literal's body: letters, digits, spaces and escapes.
fn string_literal() -> S {
    proptest::collection::vec(
        prop_oneof![
            8 => proptest::char::range('a', 'z').prop_map(|c| c.to_string()),
            2 => proptest::char::range('0', '9').prop_map(|c| c.to_string()),
            1 => Just(" ".to_string()),
            1 => Just("\\n".to_string()),
            1 => Just("\\\"".to_string()),
        ],
        0..12,
    )
    .prop_map(|parts| format!("\"{}\"", parts.concat()))
    .boxed()
}

/// An integer literal that fits `bits` bits of the given sign.
fn int_literal(bits: u8, signed: bool) -> S {
    let max: u64 = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let smax = max >> 1;
    let mut options: Vec<S> = vec![
        (0u64..10).prop_map(|v| v.to_string()).boxed(),
        (0..=smax.min(1 << 20)).prop_map(|v| v.to_string()).boxed(),
        Just(smax.to_string()).boxed(),
        (0..=smax).prop_map(|v| format!("{v:#x}")).boxed(),
    ];
    if signed {
        options.push(
            (1..=smax.min(1 << 20))
                .prop_map(|v| format!("-{v}"))
                .boxed(),
        );
    } else if bits < 64 {
        options.push(Just(max.to_string()).boxed());
    }
    one_of(options)
}

impl Gen {
    fn full(&self) -> bool {
        self.shape.profile == Profile::Full
    }

    /// Variables of type `ty`, by name.
    fn vars_of(&self, ty: &Ty) -> Vec<String> {
        self.vars
            .iter()
            .enumerate()
            .filter(|(_, t)| *t == ty)
            .map(|(i, _)| format!("$v{i}"))
            .collect()
    }

    /// An expression of type `ty`, at most `depth` operators deep.
    fn expr(&self, ty: &Ty, depth: u32) -> S {
        let made = self.make(ty, depth);
        if matches!(ty, Ty::Int { .. } | Ty::Str | Ty::Tuple(_)) {
            return made;
        }
        let mut options: Vec<S> = vec![made];
        options.extend(self.vars_of(ty).into_iter().map(|v| Just(v).boxed()));
        options.extend(self.map_reads(ty, depth));
        one_of(options)
    }

    /// A new value of type `ty`, made by an expression.
    fn make(&self, ty: &Ty, depth: u32) -> S {
        match ty {
            Ty::Int { bits, signed } => self.int(*bits, *signed, depth),
            Ty::Str => self.string(depth),
            Ty::Tuple(items) => self.tuple(items, depth),
            Ty::IntPtr { bits } => {
                let name = Ty::int_name(*bits, true);
                self.int(64, false, depth.min(1))
                    .prop_map(move |e| format!("(({name} *)({e}))"))
                    .boxed()
            }
            Ty::Buf => {
                let this = self.clone();
                one_of(vec![
                    // One length: it is part of the type.
                    self.string(0).prop_map(|s| format!("buf({s}, 8)")).boxed(),
                    this.expr(&Ty::IntPtr { bits: 8 }, 0)
                        .prop_map(|p| format!("buf({p}, 8)"))
                        .boxed(),
                ])
            }
            // One form: a stack's mode and size are part of its type, and a
            // map's keys keep one type. printf and print() take any form
            // ([`Gen::printable`]).
            Ty::Stack { user } => Just(if *user { "ustack" } else { "kstack" }.to_string()).boxed(),
        }
    }

    /// A value to print: stacks in every form.
    fn printable(&self, ty: &Ty, depth: u32) -> S {
        match ty {
            Ty::Stack { user } => {
                let word = if *user { "ustack" } else { "kstack" };
                one_of(vec![
                    Just(word.to_string()).boxed(),
                    (prop_oneof![Just("perf"), Just("bpftrace")], 1u32..20)
                        .prop_map(move |(mode, n)| format!("{word}({mode}, {n})"))
                        .boxed(),
                    (1u32..127)
                        .prop_map(move |n| format!("{word}({n})"))
                        .boxed(),
                ])
            }
            Ty::Buf => one_of(vec![
                (self.string(0), 0u32..80)
                    .prop_map(|(s, n)| format!("buf({s}, {n})"))
                    .boxed(),
                (self.int(64, false, 0), 1u32..80)
                    .prop_map(|(p, n)| format!("buf((int8 *)({p}), {n})"))
                    .boxed(),
                self.expr(ty, depth),
            ]),
            _ => self.expr(ty, depth),
        }
    }

    /// Reads of maps whose values have type `ty` (none at depth 0: keys
    /// are expressions too).
    fn map_reads(&self, ty: &Ty, depth: u32) -> Vec<S> {
        let mut reads = Vec::new();
        if depth == 0 {
            return reads;
        }
        for (i, map) in self.shape.maps.iter().enumerate() {
            let readable = match &map.value {
                MapValue::Scalar(t) => t == ty,
                // count, sum, min and max read as integers.
                MapValue::Agg(Agg::Count | Agg::Sum | Agg::Min | Agg::Max) => {
                    *ty == Ty::Int {
                        bits: 64,
                        signed: true,
                    }
                }
                MapValue::Agg(_) => false,
            };
            if readable {
                reads.push(self.map_ref(i, depth.saturating_sub(1)));
            }
        }
        reads
    }

    /// `@mN[keys]`: map N with keys of its key types.
    fn map_ref(&self, n: usize, depth: u32) -> S {
        let keys = &self.shape.maps[n].keys;
        if keys.is_empty() {
            return Just(format!("@m{n}")).boxed();
        }
        let parts: Vec<S> = keys.iter().map(|k| self.expr(k, depth.min(1))).collect();
        join(parts, ", ")
            .prop_map(move |k| format!("@m{n}[{k}]"))
            .boxed()
    }

    fn int(&self, bits: u8, signed: bool, depth: u32) -> S {
        let name = Ty::int_name(bits, signed);
        let this = Ty::Int { bits, signed };
        let mut leaves: Vec<S> = vec![int_literal(bits, signed)];
        for v in self.vars_of(&this) {
            leaves.push(Just(v).boxed());
        }
        if self.full() {
            let builtin: &'static [&'static str] = &[
                "pid", "tid", "uid", "gid", "cpu", "nsecs", "elapsed", "rand", "cgroup", "jiffies",
                "numaid", "ncpus",
            ];
            leaves.push(pick(builtin));
            if !self.probe.int_leaves().is_empty() {
                leaves.push(pick(self.probe.int_leaves()));
            }
        }
        // Leaves keep to one type, so wider expressions are cast.
        let leaf = one_of(leaves);
        let cast_leaf = {
            let name = name.clone();
            leaf.prop_map(move |e| format!("({name}){e}")).boxed()
        };
        let mut options: Vec<S> = vec![cast_leaf.clone(), cast_leaf];
        options.extend(self.map_reads(&this, depth).into_iter().map(|r| {
            let name = name.clone();
            r.prop_map(move |e| format!("({name}){e}")).boxed()
        }));
        if !self.shape.structs.is_empty() {
            let n = self.shape.structs.len();
            let name = name.clone();
            options.push(
                (0..n)
                    .prop_map(move |i| format!("({name})sizeof(struct S{i})"))
                    .boxed(),
            );
        }
        if depth == 0 {
            return one_of(options);
        }
        let d = depth - 1;
        let any = self.any_int(d);
        let any2 = self.any_int(d);
        let cast = move |e: String| format!("({name})({e})");
        let arith = prop_oneof![
            Just("+"),
            Just("-"),
            Just("*"),
            Just("&"),
            Just("|"),
            Just("^")
        ];
        let cmp = prop_oneof![
            Just("=="),
            Just("!="),
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">=")
        ];
        let c1 = cast.clone();
        options.push(
            (any.clone(), arith, any2.clone())
                .prop_map(move |(a, op, b)| c1(format!("{a} {op} {b}")))
                .boxed(),
        );
        let c2 = cast.clone();
        options.push(
            (any.clone(), cmp, any2.clone())
                .prop_map(move |(a, op, b)| c2(format!("{a} {op} {b}")))
                .boxed(),
        );
        let c3 = cast.clone();
        options.push(
            (any.clone(), prop_oneof![Just("/"), Just("%")], 1u32..1000)
                .prop_map(move |(a, op, b)| c3(format!("{a} {op} {b}")))
                .boxed(),
        );
        let c4 = cast.clone();
        options.push(
            (any.clone(), prop_oneof![Just("<<"), Just(">>")], 0u32..64)
                .prop_map(move |(a, op, b)| c4(format!("{a} {op} {b}")))
                .boxed(),
        );
        let c5 = cast.clone();
        options.push(
            (
                any.clone(),
                prop_oneof![Just("&&"), Just("||")],
                any2.clone(),
            )
                .prop_map(move |(a, op, b)| c5(format!("{a} {op} {b}")))
                .boxed(),
        );
        let c6 = cast.clone();
        options.push(
            (prop_oneof![Just("!"), Just("~"), Just("-")], any.clone())
                .prop_map(move |(op, a)| c6(format!("{op}({a})")))
                .boxed(),
        );
        let c7 = cast.clone();
        options.push(
            (
                self.any_int(d),
                self.int(bits, signed, d),
                self.int(bits, signed, d),
            )
                .prop_map(move |(c, a, b)| c7(format!("{c} ? {a} : {b}")))
                .boxed(),
        );
        // Strings compared, as integers.
        let c8 = cast.clone();
        options.push(
            (
                self.string(d),
                prop_oneof![Just("=="), Just("!=")],
                self.string(d),
            )
                .prop_map(move |(a, op, b)| c8(format!("{a} {op} {b}")))
                .boxed(),
        );
        let c9 = cast.clone();
        options.push(
            (self.string(d), self.string(d), 0u32..20)
                .prop_map(move |(a, b, n)| c9(format!("strncmp({a}, {b}, {n})")))
                .boxed(),
        );
        // A tuple's integer member.
        let tuple = Ty::Tuple(vec![this.clone(), Ty::Str]);
        let c10 = cast.clone();
        options.push(
            self.tuple(&[this.clone(), Ty::Str], d)
                .prop_map(move |t| c10(format!("{t}.0")))
                .boxed(),
        );
        for v in self.vars_of(&tuple) {
            options.push(Just(format!("{v}.0")).boxed());
        }
        if self.full() {
            let c11 = cast.clone();
            options.push(
                (self.string(d), self.string(d))
                    .prop_map(move |(a, b)| c11(format!("strcontains({a}, {b})")))
                    .boxed(),
            );
            let c12 = cast.clone();
            options.push(
                self.string(d)
                    .prop_map(move |a| c12(format!("strlen({a})")))
                    .boxed(),
            );
            let c13 = cast.clone();
            options.push(
                self.any_int(d)
                    .prop_map(move |a| c13(format!("bswap({a})")))
                    .boxed(),
            );
            // Reads through pointers made of integers, and struct members.
            let c14 = cast.clone();
            options.push(
                (
                    proptest::sample::select(vec![8u8, 16, 32, 64]),
                    self.int(64, false, d.min(1)),
                )
                    .prop_map(move |(b, p)| c14(format!("*((int{b} *)({p}))")))
                    .boxed(),
            );
            for (i, t) in self.vars.iter().enumerate() {
                if let Ty::IntPtr { .. } = t {
                    let c = cast.clone();
                    options.push(Just(c(format!("*$v{i}"))).boxed());
                }
            }
            let structs = self.shape.structs.clone();
            if !structs.is_empty() {
                let c15 = cast.clone();
                options.push(
                    (
                        0..structs.len(),
                        any.clone(),
                        proptest::arbitrary::any::<prop::sample::Index>(),
                    )
                        .prop_map(move |(n, p, m)| {
                            let member = m.index(structs[n].members.len());
                            c15(format!("((struct S{n} *)({p}))->f{member}"))
                        })
                        .boxed(),
                );
            }
            let c16 = cast;
            let maps_with_keys: Vec<usize> = (0..self.shape.maps.len())
                .filter(|&i| !self.shape.maps[i].keys.is_empty())
                .collect();
            if !maps_with_keys.is_empty() {
                let keyed: Vec<S> = maps_with_keys.iter().map(|&i| self.has_key(i, d)).collect();
                options.push(one_of(keyed).prop_map(c16).boxed());
            }
        }
        one_of(options)
    }

    /// `has_key(@mN, keys)`.
    fn has_key(&self, n: usize, depth: u32) -> S {
        let parts: Vec<S> = self.shape.maps[n]
            .keys
            .iter()
            .map(|k| self.expr(k, depth.min(1)))
            .collect();
        let several = parts.len() > 1;
        join(parts, ", ")
            .prop_map(move |k| {
                if several {
                    format!("has_key(@m{n}, ({k}))")
                } else {
                    format!("has_key(@m{n}, {k})")
                }
            })
            .boxed()
    }

    /// An integer expression of any width and sign.
    fn any_int(&self, depth: u32) -> S {
        let this = self.clone();
        proptest::sample::select(&INTS[..])
            .prop_flat_map(move |(bits, signed)| this.int(bits, signed, depth))
            .boxed()
    }

    fn string(&self, depth: u32) -> S {
        let mut options: Vec<S> = vec![string_literal(), string_literal()];
        for v in self.vars_of(&Ty::Str) {
            options.push(Just(v).boxed());
        }
        options.extend(self.map_reads(&Ty::Str, depth));
        if self.full() {
            options.push(Just("comm".to_string()).boxed());
            options.push(Just("probe".to_string()).boxed());
            if !self.probe.str_leaves().is_empty() {
                options.push(pick(self.probe.str_leaves()));
            }
            options.push(
                self.int(64, false, 0)
                    .prop_map(|p| format!("str({p})"))
                    .boxed(),
            );
            options.push(
                (self.int(64, false, 0), 0u32..70)
                    .prop_map(|(p, n)| format!("str({p}, {n})"))
                    .boxed(),
            );
        }
        if depth == 0 {
            return one_of(options);
        }
        let d = depth - 1;
        options.push(
            (self.any_int(d), self.string(d), self.string(d))
                .prop_map(|(c, a, b)| format!("({c} ? {a} : {b})"))
                .boxed(),
        );
        options.push(
            self.tuple(
                &[
                    Ty::Str,
                    Ty::Int {
                        bits: 64,
                        signed: true,
                    },
                ],
                d,
            )
            .prop_map(|t| format!("{t}.0"))
            .boxed(),
        );
        one_of(options)
    }

    fn tuple(&self, items: &[Ty], depth: u32) -> S {
        let mut options: Vec<S> = Vec::new();
        let ty = Ty::Tuple(items.to_vec());
        for v in self.vars_of(&ty) {
            options.push(Just(v).boxed());
        }
        options.extend(self.map_reads(&ty, depth));
        let parts: Vec<S> = items
            .iter()
            .map(|t| self.expr(t, depth.saturating_sub(1)))
            .collect();
        let literal = join(parts, ", ").prop_map(|e| format!("({e})")).boxed();
        options.push(literal.clone());
        options.push(literal);
        one_of(options)
    }

    /// `printf` with a format that matches its arguments.
    fn printf(&self, depth: u32) -> S {
        let this = self.clone();
        let full = self.full();
        proptest::collection::vec(printable_ty(full), 0..4)
            .prop_flat_map(move |tys| {
                let args: Vec<S> = tys.iter().map(|t| this.printable(t, depth)).collect();
                let convs: Vec<S> = tys.iter().map(conversion).collect();
                (args, convs, string_literal())
            })
            .prop_map(|(args, convs, text)| {
                let mut format = text[1..text.len() - 1].to_string();
                for c in &convs {
                    let _ = write!(format, " {c}");
                }
                format.push_str("\\n");
                if args.is_empty() {
                    format!("printf(\"{format}\");")
                } else {
                    format!("printf(\"{format}\", {});", args.join(", "))
                }
            })
            .boxed()
    }

    /// One statement; blocks nest at most `depth` deep.
    fn statement(&self, depth: u32) -> S {
        let d = depth.min(2);
        let mut options: Vec<(u32, S)> = vec![(4, self.printf(d))];
        for (i, ty) in self.vars.iter().enumerate() {
            options.push((
                2,
                self.expr(ty, d)
                    .prop_map(move |e| format!("$v{i} = {e};"))
                    .boxed(),
            ));
            if ty.is_int() {
                options.push((
                    1,
                    prop_oneof![Just("++"), Just("--")]
                        .prop_map(move |op| format!("$v{i}{op};"))
                        .boxed(),
                ));
                // bpftrace 0.17 drops a 64-bit result stored into a
                // narrower variable (`$a = (int32)7; $a &= 1;` leaves 7:
                // README's differences), so the differential profile
                // keeps compound assignment to 64-bit variables.
                let wide = matches!(ty, Ty::Int { bits: 64, .. });
                if wide || self.full() {
                    options.push((
                        1,
                        (
                            prop_oneof![
                                Just("+="),
                                Just("-="),
                                Just("*="),
                                Just("&="),
                                Just("|="),
                                Just("^="),
                                Just("<<=")
                            ],
                            0u32..8,
                        )
                            .prop_map(move |(op, n)| format!("$v{i} {op} {n};"))
                            .boxed(),
                    ));
                }
            }
        }
        for (i, map) in self.shape.maps.iter().enumerate() {
            options.push((3, self.map_update(i, d)));
            let target = self.map_ref(i, d);
            if map.value
                == MapValue::Scalar(Ty::Int {
                    bits: 64,
                    signed: true,
                })
            {
                options.push((1, target.clone().prop_map(|m| format!("{m}++;")).boxed()));
            }
            // rbpf deletes no key of a histogram or stats map (bpftrace
            // 0.17 takes it and gets it wrong: README's differences).
            let whole_only = matches!(
                map.value,
                MapValue::Agg(Agg::Hist | Agg::Lhist | Agg::Stats)
            );
            if !map.keys.is_empty() && !whole_only {
                options.push((1, target.prop_map(|m| format!("delete({m});")).boxed()));
            }
            options.push((1, Just(format!("print(@m{i});")).boxed()));
            options.push((1, Just(format!("clear(@m{i});")).boxed()));
            if self.full() {
                options.push((1, Just(format!("zero(@m{i});")).boxed()));
            }
        }
        options.push((
            1,
            printable_ty(self.full())
                .prop_flat_map({
                    let this = self.clone();
                    move |t| this.expr(&t, d)
                })
                .prop_map(|e| format!("print({e});"))
                .boxed(),
        ));
        if depth > 0 {
            let inner = depth - 1;
            let this = self.clone();
            options.push((
                2,
                (
                    self.any_int(1),
                    self.block(inner),
                    proptest::option::of(self.block(inner)),
                )
                    .prop_map(|(c, a, b)| match b {
                        Some(b) => format!("if ({c}) {a} else {b}"),
                        None => format!("if ({c}) {a}"),
                    })
                    .boxed(),
            ));
            // Loops do not nest: their iterations multiply what the
            // verifier walks, and a program past its million
            // instructions is too complex for any tracer.
            if self.loops {
                let body = Gen {
                    loops: false,
                    ..this
                };
                options.push((
                    1,
                    (1u32..4, body.block(inner))
                        .prop_map(|(n, b)| format!("unroll({n}) {b}"))
                        .boxed(),
                ));
                // A bounded loop on a counter of its own.
                let counter = format!("$w{depth}");
                options.push((
                    1,
                    (1u32..4, body.block(inner))
                        .prop_map(move |(n, b)| {
                            let body = b.strip_suffix('}').unwrap_or(&b);
                            format!("{counter} = 0; while ({counter} < {n}) {body} {counter}++; }}")
                        })
                        .boxed(),
                ));
            }
        }
        Union::new_weighted(options).boxed()
    }

    /// Writes to map N of a kind its declaration says.
    fn map_update(&self, n: usize, depth: u32) -> S {
        let target = self.map_ref(n, depth);
        let value: S = match &self.shape.maps[n].value {
            MapValue::Scalar(t) => self.expr(t, depth),
            MapValue::Agg(agg) => {
                let v = self.any_int(depth);
                match agg {
                    Agg::Count => Just("count()".to_string()).boxed(),
                    Agg::Sum => v.prop_map(|v| format!("sum({v})")).boxed(),
                    // bpftrace 0.17 leaves out a min() map of a value of 32
                    // bits or more, and a max() map of negative values
                    // (README's differences).
                    // bpftrace 0.17 counts hist() values of 2^32 or more
                    // in [2G, 4G).
                    Agg::Hist if !self.full() && n.is_multiple_of(2) => {
                        v.prop_map(|v| format!("hist(({v}) & 4294967295)")).boxed()
                    }
                    Agg::Hist if !self.full() => v
                        .prop_map(move |v| format!("hist(({v}) & 4294967295, {})", n % 5))
                        .boxed(),
                    Agg::Min if !self.full() => {
                        v.prop_map(|v| format!("min(({v}) & 65535)")).boxed()
                    }
                    Agg::Max if !self.full() => {
                        v.prop_map(|v| format!("max(({v}) & 65535)")).boxed()
                    }
                    Agg::Min => v.prop_map(|v| format!("min({v})")).boxed(),
                    Agg::Max => v.prop_map(|v| format!("max({v})")).boxed(),
                    Agg::Avg => v.prop_map(|v| format!("avg({v})")).boxed(),
                    Agg::Stats => v.prop_map(|v| format!("stats({v})")).boxed(),
                    // A histogram's parameters are part of the map's
                    // type: each map has its own, from its number.
                    Agg::Hist if n.is_multiple_of(2) => {
                        v.prop_map(|v| format!("hist({v})")).boxed()
                    }
                    Agg::Hist => v.prop_map(move |v| format!("hist({v}, {})", n % 5)).boxed(),
                    Agg::Lhist => v
                        .prop_map(move |v| {
                            format!(
                                "lhist({v}, {}, {}, {})",
                                n * 10,
                                n * 10 + 100 + n * 7,
                                1 + n * 3
                            )
                        })
                        .boxed(),
                }
            }
        };
        (target, value)
            .prop_map(|(t, v)| format!("{t} = {v};"))
            .boxed()
    }

    fn block(&self, depth: u32) -> S {
        proptest::collection::vec(self.statement(depth), 1..4)
            .prop_map(|s| format!("{{ {} }}", s.join(" ")))
            .boxed()
    }
}

/// An integer type of any width, in both profiles: each operator's result
/// is cast back to its type, so a `-` or `~` on a signed narrow value never
/// reaches `print()` bare, where bpftrace 0.17 shows it unsigned (README's
/// differences).
fn int_ty() -> BoxedStrategy<Ty> {
    proptest::sample::select(&INTS[..])
        .prop_map(|(bits, signed)| Ty::Int { bits, signed })
        .boxed()
}

/// The types a printf argument or print() value may have.
fn printable_ty(full: bool) -> BoxedStrategy<Ty> {
    let int = int_ty();
    if full {
        prop_oneof![
            4 => int,
            2 => Just(Ty::Str),
            1 => Just(Ty::Buf),
            1 => any::<bool>().prop_map(|user| Ty::Stack { user }),
        ]
        .boxed()
    } else {
        prop_oneof![3 => int, 1 => Just(Ty::Str)].boxed()
    }
}

/// A printf conversion for a value of type `ty`.
fn conversion(ty: &Ty) -> S {
    match ty {
        Ty::Int { signed: true, bits } => {
            let long = if *bits == 64 { "l" } else { "" };
            prop_oneof![
                Just(format!("%{long}d")),
                Just("%d".to_string()),
                Just("%5d".to_string()),
                Just("%-3ld".to_string())
            ]
            .boxed()
        }
        Ty::Int { signed: false, .. } => prop_oneof![
            Just("%u".to_string()),
            Just("%x".to_string()),
            Just("%X".to_string()),
            Just("%lu".to_string()),
            Just("%08x".to_string())
        ]
        .boxed(),
        Ty::Str | Ty::Stack { .. } => prop_oneof![
            Just("%s".to_string()),
            Just("%10s".to_string()),
            Just("%-4s".to_string())
        ]
        .boxed(),
        Ty::Buf => prop_oneof![
            Just("%r".to_string()),
            Just("%rx".to_string()),
            Just("%rh".to_string())
        ]
        .boxed(),
        _ => Just("%d".to_string()).boxed(),
    }
}

/// A variable's type.
fn var_ty(full: bool) -> BoxedStrategy<Ty> {
    let int = int_ty();
    let mut options: Vec<(u32, BoxedStrategy<Ty>)> = vec![
        (4, int.clone().boxed()),
        (2, Just(Ty::Str).boxed()),
        (1, int.prop_map(|i| Ty::Tuple(vec![i, Ty::Str])).boxed()),
    ];
    if full {
        options.push((
            1,
            proptest::sample::select(&[8u8, 16, 32, 64][..])
                .prop_map(|bits| Ty::IntPtr { bits })
                .boxed(),
        ));
        options.push((1, Just(Ty::Buf).boxed()));
    }
    Union::new_weighted(options).boxed()
}

/// A map's key types.
fn key_tys(full: bool) -> BoxedStrategy<Vec<Ty>> {
    let int = int_ty();
    let mut key: Vec<(u32, BoxedStrategy<Ty>)> =
        vec![(4, int.clone().boxed()), (2, Just(Ty::Str).boxed())];
    if full {
        key.push((1, any::<bool>().prop_map(|user| Ty::Stack { user }).boxed()));
        key.push((1, int.prop_map(|i| Ty::Tuple(vec![i, Ty::Str])).boxed()));
    }
    prop_oneof![
        2 => Just(Vec::new()),
        3 => proptest::collection::vec(Union::new_weighted(key), 1..3),
    ]
    .boxed()
}

fn map_decl(full: bool) -> BoxedStrategy<MapDecl> {
    let int = int_ty();
    let mut scalar: Vec<(u32, BoxedStrategy<Ty>)> = vec![
        (3, int.clone().boxed()),
        (
            2,
            Just(Ty::Int {
                bits: 64,
                signed: true,
            })
            .boxed(),
        ),
        (2, Just(Ty::Str).boxed()),
        (1, int.prop_map(|i| Ty::Tuple(vec![i, Ty::Str])).boxed()),
    ];
    if full {
        scalar.push((1, Just(Ty::Buf).boxed()));
        scalar.push((1, any::<bool>().prop_map(|user| Ty::Stack { user }).boxed()));
    }
    let value = prop_oneof![
        2 => Union::new_weighted(scalar).prop_map(MapValue::Scalar),
        3 => proptest::sample::select(&AGGS[..]).prop_map(MapValue::Agg),
    ];
    (key_tys(full), value)
        .prop_map(|(keys, value)| MapDecl { keys, value })
        .boxed()
}

fn shape(profile: Profile) -> BoxedStrategy<Shape> {
    let full = profile == Profile::Full;
    let probe = if full {
        proptest::sample::select(&PROBES[..]).boxed()
    } else {
        Just(Probe::Begin).boxed()
    };
    let probes = proptest::collection::vec(
        (probe, proptest::collection::vec(var_ty(full), 0..4)),
        1..if full { 4 } else { 2 },
    );
    let structs = if full {
        proptest::collection::vec(
            proptest::collection::vec(0u8..4, 1..5).prop_map(|m| StructDef { members: m }),
            0..3,
        )
        .boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (
        structs,
        proptest::collection::vec(map_decl(full), 0..4),
        probes,
    )
        .prop_map(move |(structs, maps, probes)| Shape {
            profile,
            structs,
            maps,
            probes,
        })
        .boxed()
}

/// The struct definitions a program opens with.
fn struct_text(structs: &[StructDef]) -> String {
    let mut out = String::new();
    for (n, s) in structs.iter().enumerate() {
        let _ = write!(out, "struct S{n} {{ ");
        for (i, bits) in s.members.iter().enumerate() {
            let (c, _) = MEMBER_TYPES[usize::from(*bits) % MEMBER_TYPES.len()];
            let _ = write!(out, "{c} f{i}; ");
        }
        out.push_str("};\n");
    }
    out
}

/// Random well-typed programs of `profile`.
pub fn program(profile: Profile) -> BoxedStrategy<Generated> {
    shape(profile)
        .prop_flat_map(|shape| {
            let shape = Rc::new(shape);
            let probes: Vec<BoxedStrategy<String>> = shape
                .probes
                .iter()
                .enumerate()
                .map(|(i, (probe, vars))| probe_text(&shape, *probe, vars, i == 0))
                .collect();
            (Just(shape), probes)
        })
        .prop_map(|(shape, probes)| {
            let mut text = struct_text(&shape.structs);
            for p in probes {
                text.push_str(&p);
                text.push('\n');
            }
            Generated {
                text,
                keyed_maps: shape.maps.iter().any(|m| !m.keys.is_empty()),
            }
        })
        .boxed()
}

/// One probe: its variables' first values, statements, and (in the
/// deterministic profile) an `exit()`.
fn probe_text(shape: &Rc<Shape>, probe: Probe, vars: &[Ty], first_probe: bool) -> S {
    let gen = Gen {
        shape: shape.clone(),
        probe,
        vars: Rc::new(vars.to_vec()),
        loops: true,
    };
    // Variables get their first value from expressions that read no
    // variable, as they are not yet assigned.
    let first = Gen {
        shape: shape.clone(),
        probe,
        vars: Rc::new(Vec::new()),
        loops: true,
    };
    let mut inits: Vec<S> = vars
        .iter()
        .enumerate()
        .map(|(i, t)| {
            first
                .expr(t, 2)
                .prop_map(move |e| format!("$v{i} = {e};"))
                .boxed()
        })
        .collect();
    if first_probe {
        // Every map is written first thing, without reading a map: the
        // checker types a map by the first write it sees, and asks that a
        // map that is read be written somewhere (bpftrace 0.17 infers a
        // map's type from a write later in the text too).
        let maps: Vec<S> = (0..shape.maps.len())
            .map(|n| first.map_update(n, 0))
            .collect();
        inits.splice(0..0, maps);
    }
    let full = shape.profile == Profile::Full;
    let predicate = if full && probe != Probe::Begin && probe != Probe::End {
        proptest::option::of(first.any_int(1)).boxed()
    } else {
        Just(None).boxed()
    };
    (
        predicate,
        inits,
        proptest::collection::vec(gen.statement(2), 1..6),
    )
        .prop_map(move |(pred, inits, stmts)| {
            let mut out = probe.spec().to_string();
            if let Some(p) = pred {
                let _ = write!(out, " /{p}/");
            }
            out.push_str(" {\n");
            for s in inits.iter().chain(&stmts) {
                let _ = writeln!(out, "  {s}");
            }
            if !full {
                out.push_str("  exit();\n");
            }
            out.push('}');
            out
        })
        .boxed()
}
