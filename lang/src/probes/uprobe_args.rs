//! `args` in uprobes: a user-space function's parameters by name
//! (`args.NAME`, and bpftrace 0.17's `args->NAME`), typed from the DWARF
//! debug information of its binary and read from the registers the x86-64
//! System V calling convention puts them in. The DWARF is read only for a
//! probe whose body uses `args`.

use std::rc::Rc;

use crate::ast::{self, ExprKind as A, Visitor};
use crate::ctypes::{closest, CType, Record};
use crate::target::{ArgLocation, Target, TargetError, UserFunction};
use crate::{Diagnostic, Span};

/// Whether the probe's predicate or body reads `args`.
pub fn reads_args(probe: &ast::Probe) -> bool {
    struct Finder(bool);
    impl Visitor<'_> for Finder {
        fn visit_expr(&mut self, e: &ast::Expr) {
            if matches!(&e.kind, A::Ident(name) if name == "args") {
                self.0 = true;
            }
            ast::walk_expr(self, e);
        }
    }
    let mut finder = Finder(false);
    finder.visit_probe(probe);
    finder.0
}

/// The parameters of each of `functions` in the binary at `path` (named
/// `shown` in messages), for a probe that reads `args`, in their order.
pub(super) fn lookup(path: &str, shown: &str, functions: &[&str], span: Span, target: &dyn Target) -> Result<Vec<Rc<UserFunction>>, Diagnostic> {
    let mut found = target.user_functions_args(path, functions).map_err(|e| {
        let why = match e {
            TargetError::Unavailable(why) => why,
            TargetError::NotFound => format!("{path} does not exist"),
        };
        let what = match functions {
            [one] => format!("`{one}`"),
            [first, rest @ ..] => format!("`{first}` and {} more functions", rest.len()),
            [] => "no function".into(),
        };
        Diagnostic::error(span, format!("cannot read the arguments of {what}: {why}"))
            .with_label("`args` needs the debug information of this binary")
            .with_note("without it, read the arguments as arg0, arg1, ...")
    })?;
    functions
        .iter()
        .map(|func| match found.remove(*func) {
            Some(function) => Ok(Rc::new(function)),
            None => Err(Diagnostic::error(span, format!("the debug information of `{shown}` does not describe function `{func}`"))
                .with_label("`args` needs the function's parameters")
                .with_note("read its arguments as arg0, arg1, ... instead")),
        })
        .collect()
}

/// A parameter `args.NAME` reads: the integer register (0 for `rdi` ...)
/// holding it, and its C type.
#[derive(Clone, Debug, PartialEq)]
pub struct UserArg {
    /// The argument register.
    pub register: u8,
    /// Its type: an integer, an enum or a pointer.
    pub ty: CType,
}

/// What `args.NAME` (written at `span`) is in the uprobe `probe` on a
/// function with the parameters `function`; `None` for a probe without
/// them (a uretprobe, or a probe at an offset or address).
pub fn arg(function: Option<&UserFunction>, name: &str, probe: &str, span: Span) -> Result<UserArg, Diagnostic> {
    let Some(function) = function else { return Err(not_available(probe, span)) };
    let Some(param) = function.param(name) else {
        let known: Vec<&str> = function.params.iter().filter_map(|p| p.name.as_deref()).collect();
        let d = Diagnostic::error(span, format!("function `{}` has no parameter `{name}`", function_name(probe))).with_label("no such parameter");
        return Err(match closest(name, known.iter().copied()) {
            Some(hint) => d.with_note(format!("did you mean `{hint}`?")),
            None if known.is_empty() => d.with_note("it has no named parameters"),
            None => d.with_note(format!("its parameters are: {}", known.join(", "))),
        });
    };
    let refuse = |why: String, note: &str| Err(Diagnostic::error(span, format!("`args.{name}` cannot be read: {why}")).with_label(format!("`{}` {name}", param.c_type)).with_note(note.to_string()));
    match (param.location, param.ty.resolved()) {
        (ArgLocation::Registers { first, count: 1 }, CType::Int { .. } | CType::Enum(_) | CType::Pointer { .. }) => {
            Ok(UserArg { register: first, ty: param.ty.clone() })
        }
        (ArgLocation::Registers { .. } | ArgLocation::Stack, CType::Record(_) | CType::Array { .. }) => refuse(
            format!("it is a struct passed by value (`{}`)", param.c_type),
            "bpftrace reads no struct arguments passed by value; a pointer to a struct can be followed",
        ),
        (ArgLocation::Stack, _) => refuse(
            "it is passed on the stack".into(),
            "only the arguments passed in the six argument registers can be read",
        ),
        (ArgLocation::Vector, _) | (_, CType::Float { .. }) => refuse(
            "it is floating-point, passed in a vector register".into(),
            "BPF programs cannot read the vector registers",
        ),
        _ => refuse(format!("its type `{}` is not an integer or a pointer", param.c_type), "only integers, enums and pointers can be read"),
    }
}

/// What `args` as a whole is in the uprobe `probe` (written at `span`):
/// a struct with one member per named parameter, laid out by C's rules
/// (as later bpftrace builds it), and the parameter each member is copied
/// from, in member order. Refused when one of them cannot be read (on the
/// stack, in a vector register, a struct by value): a record with a hole
/// would print a value the function was not called with.
pub fn args_whole(function: Option<&UserFunction>, probe: &str, span: Span) -> Result<(Record, Vec<UserArg>), Diagnostic> {
    let Some(function) = function else {
        return Err(not_available(probe, span));
    };
    let (mut record, _) = function.args_record();
    if record.members.is_empty() {
        return Err(Diagnostic::error(span, format!("function `{}` has no named parameters", function_name(probe)))
            .with_label("`args` would be empty")
            .with_note("read its arguments as arg0, arg1, ..."));
    }
    let mut args = Vec::with_capacity(record.members.len());
    for member in &record.members {
        let name = member.name.as_deref().unwrap_or_default();
        let read = arg(Some(function), name, probe, span).map_err(|d| {
            let mut whole = Diagnostic::error(span, format!("`args` of `{}` cannot be read whole", function_name(probe))).with_label(d.message);
            whole.notes = d.notes;
            whole.with_note("read the other parameters by name: `args.NAME`")
        })?;
        args.push(read);
    }
    // Named as bpftrace names a probe's record, for messages about its type.
    record.name = Some(format!("_{}_args", probe.replace([':', '/', '.', '-'], "_")));
    Ok((record, args))
}

/// `args` in a uprobe without named parameters.
fn not_available(probe: &str, span: Span) -> Diagnostic {
    Diagnostic::error(span, format!("`args` is not available in `{probe}`"))
        .with_label("only a uprobe on a function's entry has named arguments")
        .with_note("a uretprobe has `retval`; at an offset or address, read the argument registers as arg0, arg1, ...")
}

/// `f` from `uprobe:/bin/x:f`.
fn function_name(probe: &str) -> &str {
    probe.rsplit(':').next().unwrap_or(probe)
}

/// `TYPE NAME` for each named parameter, as `bpftrace -lv` lists a uprobe.
pub(super) fn details(function: &UserFunction) -> Vec<String> {
    function.params.iter().filter_map(|p| Some(format!("{} {}", p.c_type, p.name.as_deref()?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctypes::AddrSpace;
    use crate::target::UserParam;

    fn function() -> UserFunction {
        let param = |name: &str, c_type: &str, ty: CType, location| UserParam { name: Some(name.into()), c_type: c_type.into(), ty, location };
        let reg = |first| ArgLocation::Registers { first, count: 1 };
        let int = CType::Int { size: 4, signed: true };
        UserFunction {
            params: vec![
                param("count", "int", int.clone(), reg(0)),
                param("name", "const char*", CType::pointer(CType::Int { size: 1, signed: true }, AddrSpace::User), reg(1)),
                param("ratio", "double", CType::Float { size: 8 }, ArgLocation::Vector),
                param("seventh", "long int", CType::Int { size: 8, signed: true }, ArgLocation::Stack),
            ],
            types: Vec::new(),
        }
    }

    fn message(name: &str) -> String {
        let d = arg(Some(&function()), name, "uprobe:/bin/app:run", Span::default()).unwrap_err();
        format!("{} ({})", d.message, d.notes.join("; "))
    }

    #[test]
    fn reads_parameters_from_their_registers() {
        assert_eq!(arg(Some(&function()), "name", "uprobe:/bin/app:run", Span::default()).unwrap().register, 1);
        assert_eq!(arg(Some(&function()), "count", "uprobe:/bin/app:run", Span::default()).unwrap().ty, CType::Int { size: 4, signed: true });
    }

    #[test]
    fn refuses_what_no_register_holds() {
        assert_eq!(message("cuont"), "function `run` has no parameter `cuont` (did you mean `count`?)");
        assert_eq!(message("zzz"), "function `run` has no parameter `zzz` (its parameters are: count, name, ratio, seventh)");
        assert_eq!(message("ratio"), "`args.ratio` cannot be read: it is floating-point, passed in a vector register (BPF programs cannot read the vector registers)");
        assert_eq!(message("seventh"), "`args.seventh` cannot be read: it is passed on the stack (only the arguments passed in the six argument registers can be read)");
        assert!(arg(None, "count", "uretprobe:/bin/app:run", Span::default()).unwrap_err().message.contains("not available"));
    }

    #[test]
    fn args_whole_needs_every_parameter_in_a_register() {
        let d = args_whole(Some(&function()), "uprobe:/bin/app:run", Span::default()).unwrap_err();
        assert_eq!(
            (d.message.as_str(), d.label.as_str()),
            ("`args` of `run` cannot be read whole", "`args.ratio` cannot be read: it is floating-point, passed in a vector register")
        );
        let mut two = function();
        two.params.truncate(2);
        let (record, args) = args_whole(Some(&two), "uprobe:/bin/app:run", Span::default()).unwrap();
        let members: Vec<(Option<&str>, u64)> = record.members.iter().map(|m| (m.name.as_deref(), m.offset)).collect();
        assert_eq!(members, [(Some("count"), 0), (Some("name"), 8)]);
        assert_eq!(args.iter().map(|a| a.register).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(record.name.as_deref(), Some("_uprobe__bin_app_run_args"));
        let none = args_whole(Some(&UserFunction::default()), "uprobe:/bin/app:stop", Span::default()).unwrap_err();
        assert_eq!(none.message, "function `stop` has no named parameters");
    }

    #[test]
    fn lists_parameters_as_bpftrace_does() {
        assert_eq!(details(&function()), ["int count", "const char* name", "double ratio", "long int seventh"]);
    }

    /// `/bin/app`, whose `run(int count, const char *name, struct node *node)` has DWARF.
    fn target() -> crate::target::FakeTarget {
        use crate::ctypes::{Member, Record, RecordKind};
        let int = CType::Int { size: 4, signed: true };
        let named = CType::Named { kind: RecordKind::Struct, name: "node".into() };
        let node = CType::Record(Rc::new(Record {
            kind: RecordKind::Struct,
            name: Some("node".into()),
            size: 16,
            align: 8,
            members: vec![
                Member { name: Some("x".into()), ty: int.clone(), offset: 0, bitfield: None },
                Member { name: Some("next".into()), ty: CType::pointer(named, AddrSpace::User), offset: 8, bitfield: None },
            ],
        }));
        let mut run = function();
        run.params.truncate(2);
        run.params.push(UserParam {
            name: Some("node".into()),
            c_type: "struct node*".into(),
            ty: CType::pointer(node.clone(), AddrSpace::User),
            location: ArgLocation::Registers { first: 2, count: 1 },
        });
        run.types.push(("struct node".into(), node));
        let mut t = crate::target::FakeTarget::default()
            .with_file("/bin/app", true)
            .with_user_functions("/bin/app", &["run", "stop", "walk"])
            .with_user_function_args("/bin/app", "walk", UserFunction { params: run.params[..1].to_vec(), types: Vec::new() })
            .with_user_function_args("/bin/app", "run", run)
            .with_user_function_args("/bin/app", "stop", UserFunction::default())
            .with_file("/bin/stripped", true)
            .with_user_functions("/bin/stripped", &["run"]);
        t.no_dwarf.push("/bin/stripped".into());
        t
    }

    fn check(src: &str) -> Result<crate::checked::Program, Vec<String>> {
        let ast = crate::parse(src).unwrap_or_else(|d| panic!("{d:?}"));
        crate::check::check(&ast, &target()).map_err(|diags| {
            diags.iter().map(|d| format!("{}..{} {} ({})", d.span.start, d.span.end, d.message, d.notes.join("; "))).collect()
        })
    }

    #[test]
    fn arguments_are_typed_from_the_debug_information() {
        let program = check(
            r#"uprobe:/bin/app:run { @[args.count, args->count] = count(); printf("%s %d %d\n", str(args.name), args.node->next->x, args.node.x); }"#,
        )
        .unwrap();
        let key = &program.maps[0].key;
        assert_eq!(format!("{key:?}").matches("Int { bits: 32, signed: true }").count(), 2, "{key:?}");
        // `args` whole: a struct value of the registers, which variables,
        // map keys and map values hold and whose members read back.
        let program = check(r#"uprobe:/bin/app:run { print(args); @[args] = count(); $a = args; @m = $a.count; @n[$a.node->x] = args; }"#).unwrap();
        let key = format!("{:?}", program.maps[0].key);
        assert!(key.contains("_uprobe__bin_app_run_args") && key.contains("\"node\""), "{key}");
        // `args.node[i]` indexes the pointer: `.x` of it is one read of
        // the member, not of the whole struct.
        let body = format!("{:?}", check("uprobe:/bin/app:run { @ = args.node[1].x; @s = sizeof(args.node[0]); }").unwrap().probes);
        assert!(body.contains("kind: Load") && !body.contains("kind: Member") && body.contains("Int(16)"), "{body}");
        // The DWARF is read only when `args` is used.
        let probe = |src: &str| check(src).unwrap().probes.remove(0);
        assert!(matches!(probe("uprobe:/bin/stripped:run { printf(\"%d\\n\", arg0); }").kind, super::super::ProbeKind::Uprobe { args: None, .. }));
    }

    #[test]
    fn errors_point_at_what_cannot_be_read() {
        // The error for `src`, at `marked` (its first occurrence) or at `0..N`.
        let error = |src: &str, marked: &str| {
            let start = src.find(marked).unwrap();
            let errors = check(src).unwrap_err();
            let span = format!("{start}..{} ", start + marked.len());
            assert!(errors[0].starts_with(&span), "{errors:?} not at {span}");
            errors[0][span.len()..].to_string()
        };
        assert_eq!(error("uprobe:/bin/app:run { printf(\"%d\\n\", args.cuont); }", "cuont"), "function `run` has no parameter `cuont` (did you mean `count`?)");
        assert_eq!(error("uprobe:/bin/app:run { printf(\"%d\\n\", args.node->next->value); }", "value"), "`struct node` has no member `value` ()");
        assert_eq!(
            error("uprobe:/bin/stripped:run { printf(\"%d\\n\", args.count); }", "uprobe:/bin/stripped:run"),
            "cannot read the arguments of `run`: /bin/stripped has no DWARF debug information (without it, read the arguments as arg0, arg1, ...)"
        );
        // One struct per function: a map holds only one of them.
        assert_eq!(
            error("uprobe:/bin/app:run,uprobe:/bin/app:walk { print(args); @[args] = count(); }", "@[args]"),
            "map `@` holds keys [struct _uprobe__bin_app_run_args] from one attach point of this probe, but keys [struct _uprobe__bin_app_walk_args] from another (write a probe for each attach point, each with a map of its own)"
        );
        assert_eq!(error("uprobe:/bin/app:stop { printf(\"%d\\n\", args.x); }", "x"), "function `stop` has no parameter `x` (it has no named parameters)");
        assert_eq!(
            error("uretprobe:/bin/app:run { print(args); }", "args"),
            "`args` is not available in `uretprobe:/bin/app:run` (a uretprobe has `retval`; at an offset or address, read the argument registers as arg0, arg1, ...)"
        );
        assert_eq!(error("uprobe:/bin/app:run { for ($kv : @m) { print(args); } @m[1] = 1; }", "args"), "`args` is not available inside a `for` loop over a map (read it into a variable before the loop)");
        assert_eq!(
            error("uretprobe:/bin/app:run { printf(\"%d\\n\", args.count); }", "count"),
            "`args` is not available in `uretprobe:/bin/app:run` (a uretprobe has `retval`; at an offset or address, read the argument registers as arg0, arg1, ...)"
        );
    }
}
