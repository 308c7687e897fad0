//! Parser tests: source text in, a compact rendering of the AST (or the
//! rendered diagnostic) out.

use crate::ast::*;
use crate::diagnostic::render_to_string;
use crate::Source;

/// A compact, readable rendering of an expression.
fn show(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Ident(n) => n.clone(),
        ExprKind::Var(n) => format!("${n}"),
        ExprKind::Positional(n) => format!("${n}"),
        ExprKind::PositionalCount => "$#".into(),
        ExprKind::Map { name, keys } if keys.is_empty() => format!("@{name}"),
        ExprKind::Map { name, keys } => format!("@{name}[{}]", keys.iter().map(show).collect::<Vec<_>>().join(", ")),
        ExprKind::Call { name, args } => format!("{}({})", name.name, args.iter().map(show).collect::<Vec<_>>().join(", ")),
        ExprKind::Unary { op, expr } => format!("({op:?} {})", show(expr)),
        ExprKind::Binary { op, lhs, rhs } => format!("({} {} {})", show(lhs), op.symbol(), show(rhs)),
        ExprKind::Ternary { cond, then, else_ } => format!("({} ? {} : {})", show(cond), show(then), show(else_)),
        ExprKind::Field { expr, field, arrow } => format!("{}{}{}", show(expr), if *arrow { "->" } else { "." }, field.name),
        ExprKind::TupleIndex { expr, index, .. } => format!("{}.{index}", show(expr)),
        ExprKind::Index { expr, index } => format!("{}[{}]", show(expr), show(index)),
        ExprKind::Cast { ty, expr } => format!("(({}{}) {})", ty.name, "*".repeat(ty.pointer as usize), show(expr)),
        ExprKind::Tuple(items) => format!("({})", items.iter().map(show).collect::<Vec<_>>().join(", ")),
        ExprKind::IncDec { expr, increment, prefix } => {
            let op = if *increment { "++" } else { "--" };
            if *prefix { format!("{op}{}", show(expr)) } else { format!("{}{op}", show(expr)) }
        }
        ExprKind::Sizeof(arg) => match arg.as_ref() {
            SizeofArg::Type(t) => format!("sizeof({})", t.name),
            SizeofArg::Expr(e) => format!("sizeof({})", show(e)),
        },
        ExprKind::Offsetof { of, path } => {
            let of = match of.as_ref() {
                SizeofArg::Type(t) => t.name.clone(),
                SizeofArg::Expr(e) => show(e),
            };
            format!("offsetof({of}, {})", path.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join("."))
        }
    }
}

fn show_block(b: &Block, out: &mut Vec<String>, depth: usize) {
    for s in &b.stmts {
        let pad = "  ".repeat(depth);
        match &s.kind {
            StmtKind::Expr(e) => out.push(format!("{pad}{}", show(e))),
            StmtKind::Assign { target, op, value } => {
                out.push(format!("{pad}{} {}= {}", show(target), op.map_or("", |o| o.symbol()), show(value)))
            }
            StmtKind::If { cond, then, else_ } => {
                out.push(format!("{pad}if {}", show(cond)));
                show_block(then, out, depth + 1);
                if let Some(e) = else_ {
                    out.push(format!("{pad}else"));
                    show_block(e, out, depth + 1);
                }
            }
            StmtKind::While { cond, body } => {
                out.push(format!("{pad}while {}", show(cond)));
                show_block(body, out, depth + 1);
            }
            StmtKind::Unroll { count, body } => {
                out.push(format!("{pad}unroll {}", show(count)));
                show_block(body, out, depth + 1);
            }
            StmtKind::For { var, iter, body } => {
                let it = match iter {
                    ForIter::Map(m) => format!("@{}", m.name),
                    ForIter::Range { start, end } => format!("{}..{}", show(start), show(end)),
                };
                out.push(format!("{pad}for ${} : {it}", var.name));
                show_block(body, out, depth + 1);
            }
            StmtKind::Break => out.push(format!("{pad}break")),
            StmtKind::Continue => out.push(format!("{pad}continue")),
            StmtKind::Return => out.push(format!("{pad}return")),
            StmtKind::Block(b) => {
                out.push(format!("{pad}block"));
                show_block(b, out, depth + 1);
            }
        }
    }
}

fn render(p: &Program) -> String {
    let mut out = Vec::new();
    for d in &p.definitions {
        let names: Vec<&str> = d.declarators.iter().filter_map(|d| d.name.as_ref()).map(|(n, _)| n.as_str()).collect();
        let what = match &d.specifier {
            crate::cdefs::Specifier::Record(r) => format!("{} {}", r.kind.keyword(), r.name.as_deref().unwrap_or("_")),
            crate::cdefs::Specifier::Enum(e) => format!("enum {}", e.name.as_deref().unwrap_or("_")),
            other => format!("{other:?}"),
        };
        out.push(format!("{}{what}{}", if d.typedef { "typedef " } else { "" }, names.iter().map(|n| format!(" {n}")).collect::<String>()));
    }
    for c in &p.config {
        out.push(format!("config {} = {}", c.key.name, show(&c.value)));
    }
    for probe in &p.probes {
        let aps: Vec<&str> = probe.attach_points.iter().map(|a| a.text.as_str()).collect();
        let pred = probe.predicate.as_ref().map(|e| format!(" /{}/", show(e))).unwrap_or_default();
        out.push(format!("probe {}{pred}", aps.join(", ")));
        show_block(&probe.body, &mut out, 1);
    }
    out.join("\n")
}

#[track_caller]
fn check(src: &str, expect: &str) {
    let program = match super::parse(src) {
        Ok(p) => p,
        Err(d) => panic!("parse failed:\n{}", render_to_string(&Source::new("-e", src), &d)),
    };
    assert_eq!(render(&program), expect.trim());
}

#[track_caller]
fn check_error(src: &str, expect: &str) {
    let diags = super::parse(src).expect_err("should fail");
    let text = render_to_string(&Source::new("-e", src), &diags);
    let text: Vec<&str> = text.trim().lines().map(str::trim_end).collect();
    assert_eq!(text.join("\n"), expect.trim());
}

#[test]
fn canonical_one_liner_and_its_angle_form() {
    let expect = "probe tracepoint:syscalls:sys_enter_execve\n  @c[comm] = count()";
    check("tracepoint:syscalls:sys_enter_execve { @c[comm] = count(); }", expect);
    check("tracepoint:syscalls:sys_enter_execve < @c[comm] = count() >", expect);
}

#[test]
fn probes_predicates_and_shared_attach_points() {
    check(
        "#!/usr/bin/env rbpf\nBEGIN { printf(\"hi\\n\"); }\nt:sched:a,\n  t:sched:b /pid == 1 && comm != 0/ { @ = count() }\ninterval:s:1 { exit(); } END {}",
        r#"
probe BEGIN
  printf("hi\n")
probe t:sched:a, t:sched:b /((pid == 1) && (comm != 0))/
  @ = count()
probe interval:s:1
  exit()
probe END"#,
    );
    check("uprobe:/bin/bash:readline /pid/ { }", "probe uprobe:/bin/bash:readline /pid/");
}

#[test]
fn precedence_follows_c() {
    check(
        "BEGIN { $x = 1 + 2 * 3 - 4 / 2 % 3; $y = 1 << 2 + 1 | 6 & 3 ^ 1; $z = !a || b && c == d < e; $w = -~x; }",
        "
probe BEGIN
  $x = ((1 + (2 * 3)) - ((4 / 2) % 3))
  $y = ((1 << (2 + 1)) | ((6 & 3) ^ 1))
  $z = ((Not a) || (b && (c == (d < e))))
  $w = (Neg (BitNot x))",
    );
}

#[test]
fn statements_of_every_kind() {
    check(
        "config = { max_strlen = 16 } BEGIN { if (a) { x() } else if (b) { y() } else { z() } while (i < 3) { i++; break; continue } unroll(2) { } for ($kv : @m) { } for ($i : 0..10) { return } @m[1, \"a\"] += 2; --$v; { $a = 1 } }",
        "
config max_strlen = 16
probe BEGIN
  if a
    x()
  else
    if b
      y()
    else
      z()
  while (i < 3)
    i++
    break
    continue
  unroll 2
  for $kv : @m
  for $i : 0..10
    return
  @m[1, \"a\"] += 2
  --$v
  block
    $a = 1",
    );
}

#[test]
fn literals_fields_casts_and_tuples() {
    check(
        r#"BEGIN { $a = 0x1F + 017 + 1_000; $s = "t\tq\"\x41\101"; $f = args.filename; $g = args->count; $c = (uint8)$a; $p = (struct task_struct *)curtask; $t = (1, "b"); $u = $t.1; $i = arr[2]; $b = true; $n = $1 + $#; $z = sizeof(int32); }"#,
        r#"
probe BEGIN
  $a = ((31 + 15) + 1000)
  $s = "t\tq\"AA"
  $f = args.filename
  $g = args->count
  $c = ((uint8) $a)
  $p = ((struct task_struct*) curtask)
  $t = (1, "b")
  $u = $t.1
  $i = arr[2]
  $b = true
  $n = ($1 + $#)
  $z = sizeof(int32)"#,
    );
}

#[test]
fn comments_are_ignored() {
    check("// one\nBEGIN /* two */ { /* three */ exit(); // four\n }", "probe BEGIN\n  exit()");
}

#[test]
fn missing_semicolon_between_statements() {
    check_error(
        "BEGIN { @a = 1 @b = 2 }",
        r"
error: expected an operator, found `@`
  ┌─ -e:1:16
  │
1 │ BEGIN { @a = 1 @b = 2 }
  │                ^ unexpected `@`
  │
  = statements are separated by `;`",
    );
}

#[test]
fn unclosed_block() {
    check_error(
        "BEGIN { exit();",
        r"
error: unexpected end of the program: a block is not closed
  ┌─ -e:1:16
  │
1 │ BEGIN { exit();
  │                ^ expected `}`",
    );
}

#[test]
fn unterminated_string() {
    check_error(
        r#"BEGIN { printf("oops); }"#,
        r#"
error: unterminated string literal
  ┌─ -e:1:16
  │
1 │ BEGIN { printf("oops); }
  │                ^ this string is never closed
  │
  = close it with `"`"#,
    );
}

#[test]
fn unterminated_comment() {
    check_error(
        "BEGIN { /* oops\n exit(); }",
        r#"
error: unterminated comment
  ┌─ -e:1:9
  │
1 │ BEGIN { /* oops
  │         ^^ this comment is never closed
  │
  = close it with `*/`"#,
    );
}

#[test]
fn missing_value_and_unknown_character() {
    let d = super::parse("BEGIN { @x = ; }").unwrap_err();
    assert_eq!(d[0].span.start, 13);
    assert!(d[0].message.contains("expected"), "{}", d[0].message);
    let d = super::parse("BEGIN { @x = 1 # 2; }").unwrap_err();
    assert_eq!(d[0].span.start, 15);
    let d = super::parse("BEGIN").unwrap_err();
    assert!(d[0].message.contains("found the end of the program"), "{}", d[0].message);
}

#[test]
fn never_panics_on_odd_input() {
    for src in ["", "{", "}", "@", "$", "BEGIN { \"\\", "BEGIN { 99999999999999999999999 }", "a:b:c { (", "BEGIN { \"\\q\" }", "\u{0}", "BEGIN{$}", "BEGIN { x.y.z->w[1](2) }"] {
        let _ = super::parse(src);
    }
    assert!(super::parse("BEGIN { 99999999999999999999999 }").is_err());
}

#[test]
fn operator_lookahead_does_not_skip_whitespace() {
    // `- -1` is a subtraction of a negation, as in C: the `!"-"` lookahead
    // of `-` must see the very next character, not the next token.
    check(
        "BEGIN { $a = $x - -1; $b = 3 - -1; $c = $x + ++$y; $d = $x - --$y; $e = $x & &$y; $f = $x | ~1; $g = $x - - 1; }",
        "
probe BEGIN
  $a = ($x - (Neg 1))
  $b = (3 - (Neg 1))
  $c = ($x + ++$y)
  $d = ($x - --$y)
  $e = ($x & (AddrOf $y))
  $f = ($x | (BitNot 1))
  $g = ($x - (Neg 1))",
    );
    // Joined, the same characters are still one token.
    check("BEGIN { $a = $x--; $b = $y++ + 1; }", "probe BEGIN\n  $a = $x--\n  $b = ($y++ + 1)");
}

/// Runs `f` on a thread with the 8 MiB stack a program's main thread gets,
/// which is what the depth limits are measured against.
fn on_main_sized_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(8 << 20).spawn(f).expect("spawn").join().expect("no panic");
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("BEGIN {{ $x = 1; {}{inner}{}; }}", open.repeat(n), close.repeat(n))
}

#[test]
fn deep_but_legal_nesting_parses() {
    on_main_sized_stack(|| {
        for src in [
            nested("$y = ", "1", "", 1).replace("$y = 1", &format!("$y = {}1{}", "(".repeat(98), ")".repeat(98))),
            nested("", "$y = 1", "", 1).replace("$y = 1", &format!("$y = {}$x", "- ".repeat(240))),
            nested("", "$y = 1", "", 1).replace("$y = 1", &format!("$y = {}$x", "!".repeat(240))),
            nested("", "$y = 1", "", 1).replace("$y = 1", &format!("$y = {}", vec!["$x"; 240].join(" + "))),
            nested("", "$y = 1", "", 1).replace("$y = 1", &format!("$y = {} 2", "$x ? 1 : ".repeat(98))),
            nested("{ ", "$y = 1", " }", 98),
            nested("if ($x) { ", "$y = 1", " }", 98),
            // Long flat sequences do not nest.
            nested("", &"if ($x) { $y = 1; } else if ($y) { $y = 2; } else { $y = 3; } ".repeat(300), "", 1),
            nested("", &"$y = $x ? 1 : 2; ".repeat(300), "", 1),
            // Brackets in comments and strings do not count.
            format!("BEGIN /* {} */ {{ $x = \"{}\"; // {}\n }}", "(".repeat(200), "{".repeat(200), "[".repeat(200)),
        ] {
            if let Err(d) = super::parse(&src) {
                panic!("{src:.80}…: {}", d[0].message);
            }
        }
    });
}

#[test]
fn nesting_beyond_the_limits_is_refused_with_a_span() {
    on_main_sized_stack(|| {
        let cases = [
            (nested("(", "1", ")", 3000), "brackets, `?:` and `else if` are limited to 100 levels"),
            (nested("{", "", "}", 3000), "brackets, `?:` and `else if` are limited to 100 levels"),
            (nested("if (1) {", "", "}", 200), "brackets, `?:` and `else if` are limited to 100 levels"),
            (format!("BEGIN {{ $y = {} 2; }}", "1 ? 1 : ".repeat(200)), "brackets, `?:` and `else if` are limited to 100 levels"),
            (format!("BEGIN {{ if (1) {{}} {} }}", "else if (1) {} ".repeat(200)), "brackets, `?:` and `else if` are limited to 100 levels"),
            (format!("BEGIN {{ $y = {}1; }}", "- ".repeat(100_000)), "statements and expressions are limited to 250 levels"),
            (format!("BEGIN {{ $y = {}1; }}", "!".repeat(100_000)), "statements and expressions are limited to 250 levels"),
            (format!("BEGIN {{ $y = {}1; }}", "(uint8)".repeat(10_000)), "statements and expressions are limited to 250 levels"),
            (format!("BEGIN {{ $y = {}; }}", vec!["1"; 100_000].join(" + ")), "statements and expressions are limited to 250 levels"),
            (format!("BEGIN {{ $y = $x{}; }}", ".a".repeat(10_000)), "statements and expressions are limited to 250 levels"),
            // What pest reads as code is measured as code: `/*` inside an
            // attach point, and an unclosed `/*`.
            (format!("uprobe:/lib/*.so:f {{ $x = {}1; }}", "(".repeat(3000)), "brackets, `?:` and `else if` are limited to 100 levels"),
            (format!("BEGIN {{ $x = 2 /*2 + {}1; }}", "(".repeat(3000)), "brackets, `?:` and `else if` are limited to 100 levels"),
            (format!("BEGIN {{ $x = {}/* ) */ {}1; }}", "(".repeat(60), "(".repeat(60)), "brackets, `?:` and `else if` are limited to 100 levels"),
        ];
        for (src, message) in cases {
            let d = super::parse(&src).expect_err("too deep");
            assert!(d[0].message.ends_with(message), "{src:.60}: {}", d[0].message);
            assert!(d[0].span.start > 0 && (d[0].span.end as usize) <= src.len(), "{src:.60}: {:?}", d[0].span);
        }
    });
}

#[test]
fn c_definitions_come_before_the_config_and_probes() {
    check(
        "struct P { int x; struct P *next; }; // a list\nunion U { char c; long l; };\nenum { A, B = 2 };\n\
         typedef struct { char c; } T, *TP;\nconfig = { max_strlen = 16 }\nBEGIN { $a = offsetof(struct P, next) + offsetof(T, c.d) + sizeof(union U); }",
        "struct P\nunion U\nenum _\ntypedef struct _ T TP\nconfig max_strlen = 16\nprobe BEGIN\n  $a = ((offsetof(struct P, next) + offsetof(T, c.d)) + sizeof(union U))",
    );
}

#[test]
fn a_struct_definition_may_leave_out_its_semicolon_before_a_probe() {
    check(
        "struct P { int x; }\nenum E { A }\nstruct Q { long y; } __attribute__((packed));\nBEGIN { $a = sizeof(struct P); }",
        "struct P\nenum E\nstruct Q\nprobe BEGIN\n  $a = sizeof(struct P)",
    );
}

#[test]
fn a_malformed_definition_is_a_spanned_error() {
    check_error(
        "struct P { int x[; }; BEGIN { }",
        r#"
error: expected a constant in this C definition, found `;`
  ┌─ -e:1:18
  │
1 │ struct P { int x[; }; BEGIN { }
  │                  ^ expected a constant"#,
    );
}

#[test]
fn scientific_integer_literals_are_one_digit_times_a_power_of_ten() {
    let int = |src: &str| match super::parse(&format!("BEGIN {{ $x = {src}; }}")) {
        Ok(p) => match &p.probes[0].body.stmts[0].kind {
            StmtKind::Assign { value, .. } => format!("{:?}", value.kind),
            other => format!("{other:?}"),
        },
        Err(d) => d.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("; "),
    };
    assert_eq!(int("1e6"), "Int(1000000)");
    assert_eq!(int("5E3"), "Int(5000)");
    assert_eq!(int("1e16"), "Int(10000000000000000)");
    assert_eq!(int("0x1e3"), "Int(483)");
    assert_eq!(int("12e0"), "the coefficient of a scientific literal must be one digit, 0 to 9");
    assert_eq!(int("1e17"), "the exponent of a scientific literal is at most 16");
}

#[test]
fn casts_to_typedef_names() {
    check(
        r#"BEGIN { $a = (pid_t)$x; $b = (size_t *)arg0; $c = (myint**)8; $d = (pid_t)-1; $e = (pid) - 1; $f = (comm); $g = (x) * 2; $h = (arg1) & 3; $i = sizeof(myint *); $j = (t)(1); }"#,
        r#"
probe BEGIN
  $a = ((pid_t) $x)
  $b = ((size_t*) arg0)
  $c = ((myint**) 8)
  $d = ((pid_t) (Neg 1))
  $e = (pid - 1)
  $f = comm
  $g = ((x) (Deref 2))
  $h = (arg1 & 3)
  $i = sizeof(myint)
  $j = ((t) 1)"#,
    );
}

/// A builtin in parentheses before `-`, `*` or `&` is an operand, never a
/// cast: the grammar's list of builtin words holds every builtin and every
/// function written without parentheses.
#[test]
fn builtins_in_parentheses_are_not_type_names() {
    let names = crate::check::builtins::BUILTINS
        .iter()
        .map(|b| if b.name == "argN" { "arg3" } else { b.name })
        .chain(crate::check::functions::FUNCTIONS.iter().filter(|f| f.bare).map(|f| f.name));
    for name in names {
        let src = format!("BEGIN {{ $x = ({name}) - 1; }}");
        let program = crate::parse(&src).unwrap_or_else(|d| panic!("{src}: {d:?}"));
        let StmtKind::Assign { value, .. } = &program.probes[0].body.stmts[0].kind else { panic!("{src}") };
        assert!(matches!(value.kind, ExprKind::Binary { .. }), "`({name}) - 1` parses as {}", show(value));
    }
}

#[test]
fn positional_parameters_count_from_one() {
    // A mutant found by tests/fuzz.rs: $0 reached the checker, which
    // subtracted one from it.
    check_error(
        "BEGIN { @ = lhist(1, $0, 10, 1); }",
        r#"
error: param $0 is out of integer range [1, 9223372036854775807]
  ┌─ -e:1:22
  │
1 │ BEGIN { @ = lhist(1, $0, 10, 1); }
  │                      ^^ no such parameter
  │
  = positional parameters are numbered from $1 (`$#` is how many were given)"#,
    );
    let diags = super::parse("BEGIN { printf(\"%d\", $99999999999); }").expect_err("out of range");
    assert!(diags[0].message.starts_with("param $99999999999 is out of integer range"), "{diags:?}");
}
