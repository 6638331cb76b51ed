//! Expressions: `${md5(mailbox)}` in templates and patterns, `check ttl <= 2592000`,
//! `let n = ring_capacity + 1`. Values are JSON values, so what a JSON body captured and what an
//! IMAP response captured compare alike.
//!
//! ```abnf
//! expr      = or-expr
//! or-expr   = and-expr *(S "||" S and-expr)
//! and-expr  = cmp-expr *(S "&&" S cmp-expr)
//! cmp-expr  = sum [S cmp-op S sum]
//! cmp-op    = "==" / "!=" / "<=" / ">=" / "<" / ">"
//! sum       = product *(S ("+" / "-") S product)
//! product   = unary *(S ("*" / "/" / "%") S unary)
//! unary     = ("!" / "-") unary / primary
//! primary   = integer / string / "true" / "false" / "null" / call / variable
//!             / "(" S expr S ")" / "[" S [expr *(S "," S expr)] S "]"
//! call      = name "(" S [expr *(S "," S expr)] S ")"
//! variable  = ["$"] name
//! name      = (ALPHA / "_") *(ALPHA / DIGIT / "_")
//! integer   = 1*DIGIT
//! string    = DQUOTE *(%x20-21 / %x23-5B / %x5D-7E / UTF8-non-ascii / "\" escaped) DQUOTE
//! escaped   = DQUOTE / "\" / "n" / "r" / "t" / "x" 2HEXDIG
//! S         = *(SP / HTAB)
//! ```

use std::collections::BTreeMap;
use std::fmt;

use md5::{Digest, Md5};
use serde_json::Value;

use super::SyntaxError;
use super::cursor::Cursor;

/// Variables bound so far, by name.
pub type Vars = BTreeMap<String, Value>;

/// Longest string an expression may build (`repeat`), so a transcript cannot exhaust memory.
pub const MAX_BUILT_STRING: usize = 1 << 20;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A constant.
    Const(Value),
    /// A variable's value.
    Var(String),
    /// A function call, checked against [`FUNCTIONS`] when parsed.
    Call(Function, Vec<Expr>),
    /// A list built from expressions.
    List(Vec<Expr>),
    /// `!x` or `-x`.
    Unary(UnaryOp, Box<Expr>),
    /// `a op b`.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// Logical not.
    Not,
    /// Integer negation.
    Neg,
}

/// Binary operators, loosest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `||`
    Or,
    /// `&&`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`: integers add, strings and lists concatenate.
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (integer division)
    Div,
    /// `%`
    Rem,
}

/// The functions an expression may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Function {
    /// `md5(s)`: lowercase hexadecimal MD5 of the octets of `s` (RFC 1321).
    Md5,
    /// `lower(s)`: ASCII lowercase.
    Lower,
    /// `upper(s)`: ASCII uppercase.
    Upper,
    /// `len(x)`: octets of a string, elements of a list, members of an object.
    Len,
    /// `contains(haystack, needle)`: a list element equal to `needle`, or a substring.
    Contains,
    /// `repeat(s, n)`: `s` written `n` times.
    Repeat,
    /// `int(x)`: the integer a string spells.
    Int,
    /// `str(x)`: the text of a value.
    Str,
    /// `hex(s)`: lowercase hexadecimal of the octets of `s`.
    Hex,
    /// `sorted(list)`: the list in ascending order.
    Sorted,
    /// `json(s)`: the JSON value `s` holds.
    Json,
    /// `get(x, key)`: a member of an object or an element of a list.
    Get,
    /// `is_hex(s)`: whether `s` is non-empty and only lowercase hexadecimal digits.
    IsHex,
    /// `random_hex(n)`: `n` random lowercase hexadecimal digits.
    RandomHex,
    /// `split(s, separator)`: the pieces of `s`.
    Split,
    /// `min(a, b)`.
    Min,
    /// `max(a, b)`.
    Max,
    /// `metric(text, name)`: the value of the sample `name` without labels in a Prometheus text
    /// exposition (PROV-26), as an integer; `null` when there is no such sample.
    Metric,
    /// `replace(s, from, to)`: every `from` in `s` written `to` (to undo a transfer encoding's
    /// soft line breaks, for example).
    Replace,
}

/// Every function: its name and how many arguments it takes.
pub const FUNCTIONS: &[(&str, Function, usize)] = &[
    ("md5", Function::Md5, 1),
    ("lower", Function::Lower, 1),
    ("upper", Function::Upper, 1),
    ("len", Function::Len, 1),
    ("contains", Function::Contains, 2),
    ("repeat", Function::Repeat, 2),
    ("int", Function::Int, 1),
    ("str", Function::Str, 1),
    ("hex", Function::Hex, 1),
    ("sorted", Function::Sorted, 1),
    ("json", Function::Json, 1),
    ("get", Function::Get, 2),
    ("is_hex", Function::IsHex, 1),
    ("random_hex", Function::RandomHex, 1),
    ("split", Function::Split, 2),
    ("min", Function::Min, 2),
    ("max", Function::Max, 2),
    ("metric", Function::Metric, 2),
    ("replace", Function::Replace, 3),
];

/// Why an expression could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A variable that no step bound yet.
    #[error("variable ${0} is not bound")]
    Unbound(String),
    /// An operand of the wrong kind.
    #[error("{0}")]
    Type(String),
    /// Integer overflow or division by zero.
    #[error("arithmetic: {0}")]
    Arithmetic(&'static str),
    /// A string would exceed [`MAX_BUILT_STRING`].
    #[error("a string of more than {MAX_BUILT_STRING} octets")]
    TooLarge,
}

/// Whether `c` may start a name.
pub(crate) fn name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// Whether `c` may continue a name.
pub(crate) fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `expr`: parses an expression and stops before what cannot continue it (a `}`, a `,`, the
/// end).
pub(crate) fn expr(c: &mut Cursor<'_>) -> Result<Expr, SyntaxError> {
    expr_depth(c, 0)
}

/// Nesting beyond this is refused, so a hostile transcript cannot overflow the stack.
const MAX_DEPTH: usize = 64;

fn expr_depth(c: &mut Cursor<'_>, depth: usize) -> Result<Expr, SyntaxError> {
    if depth > MAX_DEPTH {
        return Err(c.error("expression nested too deeply"));
    }
    or_expr(c, depth)
}

fn or_expr(c: &mut Cursor<'_>, depth: usize) -> Result<Expr, SyntaxError> {
    let mut left = and_expr(c, depth)?;
    loop {
        c.skip_space();
        if c.eat("||") {
            c.skip_space();
            let right = and_expr(c, depth)?;
            left = Expr::Binary(BinaryOp::Or, Box::new(left), Box::new(right));
        } else {
            return Ok(left);
        }
    }
}

fn and_expr(c: &mut Cursor<'_>, depth: usize) -> Result<Expr, SyntaxError> {
    let mut left = cmp_expr(c, depth)?;
    loop {
        c.skip_space();
        if c.eat("&&") {
            c.skip_space();
            let right = cmp_expr(c, depth)?;
            left = Expr::Binary(BinaryOp::And, Box::new(left), Box::new(right));
        } else {
            return Ok(left);
        }
    }
}

fn cmp_expr(c: &mut Cursor<'_>, depth: usize) -> Result<Expr, SyntaxError> {
    let left = sum(c, depth)?;
    let start = c.offset();
    c.skip_space();
    let op = [
        ("==", BinaryOp::Eq),
        ("!=", BinaryOp::Ne),
        ("<=", BinaryOp::Le),
        (">=", BinaryOp::Ge),
        ("<", BinaryOp::Lt),
        (">", BinaryOp::Gt),
    ]
    .into_iter()
    .find(|(text, _)| c.eat(text));
    match op {
        Some((_, op)) => {
            c.skip_space();
            let right = sum(c, depth)?;
            Ok(Expr::Binary(op, Box::new(left), Box::new(right)))
        }
        None => {
            c.reset(start);
            Ok(left)
        }
    }
}

fn sum(c: &mut Cursor<'_>, depth: usize) -> Result<Expr, SyntaxError> {
    let mut left = product(c, depth)?;
    loop {
        let start = c.offset();
        c.skip_space();
        let op = if c.eat("+") {
            BinaryOp::Add
        } else if c.peek() == Some('-') && c.peek2() != Some('>') {
            c.bump();
            BinaryOp::Sub
        } else {
            c.reset(start);
            return Ok(left);
        };
        c.skip_space();
        let right = product(c, depth)?;
        left = Expr::Binary(op, Box::new(left), Box::new(right));
    }
}

fn product(c: &mut Cursor<'_>, depth: usize) -> Result<Expr, SyntaxError> {
    let mut left = unary(c, depth)?;
    loop {
        let start = c.offset();
        c.skip_space();
        let op = if c.eat("*") {
            BinaryOp::Mul
        } else if c.eat("/") {
            BinaryOp::Div
        } else if c.eat("%") {
            BinaryOp::Rem
        } else {
            c.reset(start);
            return Ok(left);
        };
        c.skip_space();
        let right = unary(c, depth)?;
        left = Expr::Binary(op, Box::new(left), Box::new(right));
    }
}

fn unary(c: &mut Cursor<'_>, depth: usize) -> Result<Expr, SyntaxError> {
    if depth > MAX_DEPTH {
        return Err(c.error("expression nested too deeply"));
    }
    if c.peek() == Some('!') && c.peek2() != Some('=') {
        c.bump();
        return Ok(Expr::Unary(UnaryOp::Not, Box::new(unary(c, depth + 1)?)));
    }
    if c.peek() == Some('-') && !c.peek2().is_some_and(|d| d.is_ascii_digit()) {
        c.bump();
        return Ok(Expr::Unary(UnaryOp::Neg, Box::new(unary(c, depth + 1)?)));
    }
    primary(c, depth)
}

fn primary(c: &mut Cursor<'_>, depth: usize) -> Result<Expr, SyntaxError> {
    match c.peek() {
        Some('"') => Ok(Expr::Const(Value::String(string(c)?))),
        Some('(') => {
            c.bump();
            c.skip_space();
            let inner = expr_depth(c, depth + 1)?;
            c.skip_space();
            if !c.eat(")") {
                return Err(c.error("expected `)`"));
            }
            Ok(inner)
        }
        Some('[') => {
            c.bump();
            Ok(Expr::List(arguments(c, ']', depth)?))
        }
        Some(d) if d.is_ascii_digit() || d == '-' => integer(c),
        Some('$') => {
            c.bump();
            variable_name(c).map(Expr::Var)
        }
        Some(s) if name_start(s) => {
            let start = c.offset();
            let name = c.take_while(name_char);
            match name {
                "true" => return Ok(Expr::Const(Value::Bool(true))),
                "false" => return Ok(Expr::Const(Value::Bool(false))),
                "null" => return Ok(Expr::Const(Value::Null)),
                _ => {}
            }
            if c.peek() != Some('(') {
                return Ok(Expr::Var(name.to_owned()));
            }
            let Some(&(_, function, arity)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) else {
                return Err(c.error_at(start, format!("unknown function `{name}`")));
            };
            c.bump();
            let args = arguments(c, ')', depth)?;
            if args.len() != arity {
                return Err(c.error_at(
                    start,
                    format!("`{name}` takes {arity} argument(s), not {}", args.len()),
                ));
            }
            Ok(Expr::Call(function, args))
        }
        Some(other) => Err(c.error(format!("expected an expression, found `{other}`"))),
        None => Err(c.error("expected an expression, found the end of the line")),
    }
}

/// The comma-separated arguments after an opening bracket, through `close`.
fn arguments(c: &mut Cursor<'_>, close: char, depth: usize) -> Result<Vec<Expr>, SyntaxError> {
    let mut args = Vec::new();
    c.skip_space();
    if c.peek() == Some(close) {
        c.bump();
        return Ok(args);
    }
    loop {
        c.skip_space();
        args.push(expr_depth(c, depth + 1)?);
        c.skip_space();
        match c.bump() {
            Some(',') => continue,
            Some(x) if x == close => return Ok(args),
            _ => return Err(c.error(format!("expected `,` or `{close}`"))),
        }
    }
}

fn integer(c: &mut Cursor<'_>) -> Result<Expr, SyntaxError> {
    let start = c.offset();
    let negative = c.eat("-");
    let digits = c.take_while(|d| d.is_ascii_digit());
    if digits.is_empty() {
        return Err(c.error("expected digits"));
    }
    let value: i64 = digits
        .parse()
        .map_err(|_| c.error_at(start, "integer out of range"))?;
    Ok(Expr::Const(Value::from(if negative {
        -value
    } else {
        value
    })))
}

/// `name`, after an optional `$`.
pub(crate) fn variable_name(c: &mut Cursor<'_>) -> Result<String, SyntaxError> {
    if !c.peek().is_some_and(name_start) {
        return Err(c.error("expected a variable name (a letter or `_` first)"));
    }
    Ok(c.take_while(name_char).to_owned())
}

/// `string`: a double-quoted string with `\"`, `\\`, `\n`, `\r`, `\t` and `\xHH` escapes.
pub(crate) fn string(c: &mut Cursor<'_>) -> Result<String, SyntaxError> {
    if !c.eat("\"") {
        return Err(c.error("expected `\"`"));
    }
    let mut out = Vec::new();
    loop {
        let at = c.offset();
        match c.bump() {
            None => return Err(c.error("unterminated string")),
            Some('"') => break,
            Some('\\') => match c.bump() {
                Some('"') => out.push(b'"'),
                Some('\\') => out.push(b'\\'),
                Some('n') => out.push(b'\n'),
                Some('r') => out.push(b'\r'),
                Some('t') => out.push(b'\t'),
                Some('x') => {
                    let hex = c.take_while(|d| d.is_ascii_hexdigit());
                    let Some(two) = hex.get(..2).filter(|_| hex.len() >= 2) else {
                        return Err(c.error_at(at, "`\\x` takes two hexadecimal digits"));
                    };
                    // Put back what follows the two digits.
                    c.reset(c.offset() - (hex.len() - 2));
                    let byte = u8::from_str_radix(two, 16)
                        .map_err(|_| c.error_at(at, "bad `\\x` escape"))?;
                    out.push(byte);
                }
                _ => return Err(c.error_at(at, "unknown escape (use \\\" \\\\ \\n \\r \\t \\xHH)")),
            },
            Some(ch) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    String::from_utf8(out).map_err(|_| c.error("the string's escapes do not spell UTF-8"))
}

/// The text a value stands for in a command, a header or a frame field.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Equality across JSON kinds where a capture's kind depends on the channel: a number equals
/// the string that spells it.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.parse::<i128>().ok().map(|v| v.to_string()) == Some(n.to_string())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| loose_eq(p, q))
        }
        _ => a == b,
    }
}

fn as_int(value: &Value, what: &str) -> Result<i64, EvalError> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| EvalError::Type(format!("{what}: {n} is not an integer"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| EvalError::Type(format!("{what}: {s:?} is not an integer"))),
        other => Err(EvalError::Type(format!(
            "{what}: {other} is not an integer"
        ))),
    }
}

fn as_bool(value: &Value, what: &str) -> Result<bool, EvalError> {
    value
        .as_bool()
        .ok_or_else(|| EvalError::Type(format!("{what}: {value} is not true or false")))
}

fn bounded(s: String) -> Result<Value, EvalError> {
    if s.len() > MAX_BUILT_STRING {
        Err(EvalError::TooLarge)
    } else {
        Ok(Value::String(s))
    }
}

impl Expr {
    /// Evaluates the expression with the variables bound so far.
    pub fn eval(&self, vars: &Vars) -> Result<Value, EvalError> {
        match self {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Var(name) => vars
                .get(name)
                .cloned()
                .ok_or_else(|| EvalError::Unbound(name.clone())),
            Expr::List(items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|e| e.eval(vars))
                    .collect::<Result<_, _>>()?,
            )),
            Expr::Unary(UnaryOp::Not, e) => Ok(Value::Bool(!as_bool(&e.eval(vars)?, "`!`")?)),
            Expr::Unary(UnaryOp::Neg, e) => as_int(&e.eval(vars)?, "`-`")?
                .checked_neg()
                .map(Value::from)
                .ok_or(EvalError::Arithmetic("overflow")),
            Expr::Binary(op, a, b) => binary(*op, a, b, vars),
            Expr::Call(function, args) => {
                let values: Vec<Value> = args
                    .iter()
                    .map(|e| e.eval(vars))
                    .collect::<Result<_, _>>()?;
                call(*function, &values)
            }
        }
    }

    /// The names of the variables the expression reads.
    pub fn variables(&self, out: &mut Vec<String>) {
        match self {
            Expr::Const(_) => {}
            Expr::Var(name) => out.push(name.clone()),
            Expr::List(items) | Expr::Call(_, items) => {
                items.iter().for_each(|e| e.variables(out));
            }
            Expr::Unary(_, e) => e.variables(out),
            Expr::Binary(_, a, b) => {
                a.variables(out);
                b.variables(out);
            }
        }
    }
}

fn binary(op: BinaryOp, a: &Expr, b: &Expr, vars: &Vars) -> Result<Value, EvalError> {
    // `||` and `&&` do not evaluate what they do not need.
    match op {
        BinaryOp::Or => {
            return Ok(Value::Bool(
                as_bool(&a.eval(vars)?, "`||`")? || as_bool(&b.eval(vars)?, "`||`")?,
            ));
        }
        BinaryOp::And => {
            return Ok(Value::Bool(
                as_bool(&a.eval(vars)?, "`&&`")? && as_bool(&b.eval(vars)?, "`&&`")?,
            ));
        }
        _ => {}
    }
    let x = a.eval(vars)?;
    let y = b.eval(vars)?;
    let ints = || -> Result<(i64, i64), EvalError> {
        Ok((as_int(&x, "operand")?, as_int(&y, "operand")?))
    };
    let overflow = EvalError::Arithmetic("overflow");
    Ok(match op {
        BinaryOp::Eq => Value::Bool(loose_eq(&x, &y)),
        BinaryOp::Ne => Value::Bool(!loose_eq(&x, &y)),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            let ordering = match ints() {
                Ok((p, q)) => p.cmp(&q),
                Err(_) => render(&x).cmp(&render(&y)),
            };
            Value::Bool(match op {
                BinaryOp::Lt => ordering.is_lt(),
                BinaryOp::Le => ordering.is_le(),
                BinaryOp::Gt => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
        BinaryOp::Add => match (&x, &y) {
            (Value::Array(p), Value::Array(q)) => {
                Value::Array(p.iter().chain(q.iter()).cloned().collect())
            }
            (Value::Number(_), Value::Number(_)) => {
                let (p, q) = ints()?;
                Value::from(p.checked_add(q).ok_or(overflow)?)
            }
            _ => bounded(render(&x) + &render(&y))?,
        },
        BinaryOp::Sub => {
            let (p, q) = ints()?;
            Value::from(p.checked_sub(q).ok_or(overflow)?)
        }
        BinaryOp::Mul => {
            let (p, q) = ints()?;
            Value::from(p.checked_mul(q).ok_or(overflow)?)
        }
        BinaryOp::Div => {
            let (p, q) = ints()?;
            Value::from(
                p.checked_div(q)
                    .ok_or(EvalError::Arithmetic("division by zero"))?,
            )
        }
        BinaryOp::Rem => {
            let (p, q) = ints()?;
            Value::from(
                p.checked_rem(q)
                    .ok_or(EvalError::Arithmetic("division by zero"))?,
            )
        }
        BinaryOp::Or | BinaryOp::And => Value::Null,
    })
}

fn text_arg(value: &Value, function: &str) -> Result<String, EvalError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(EvalError::Type(format!(
            "{function}: {other} is not a string"
        ))),
    }
}

fn call(function: Function, args: &[Value]) -> Result<Value, EvalError> {
    let arg = |i: usize| args.get(i).unwrap_or(&Value::Null);
    Ok(match function {
        Function::Md5 => Value::String(hex::encode(Md5::digest(
            text_arg(arg(0), "md5")?.as_bytes(),
        ))),
        Function::Lower => Value::String(text_arg(arg(0), "lower")?.to_ascii_lowercase()),
        Function::Upper => Value::String(text_arg(arg(0), "upper")?.to_ascii_uppercase()),
        Function::Len => Value::from(match arg(0) {
            Value::String(s) => s.len(),
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            Value::Null => 0,
            other => render(other).len(),
        }),
        Function::Contains => Value::Bool(match arg(0) {
            Value::Array(items) => items.iter().any(|item| loose_eq(item, arg(1))),
            Value::String(s) => s.contains(&render(arg(1))),
            Value::Object(o) => o.contains_key(&render(arg(1))),
            _ => false,
        }),
        Function::Repeat => {
            let text = text_arg(arg(0), "repeat")?;
            let count = usize::try_from(as_int(arg(1), "repeat")?)
                .map_err(|_| EvalError::Type("repeat: a negative count".into()))?;
            if text.len().saturating_mul(count) > MAX_BUILT_STRING {
                return Err(EvalError::TooLarge);
            }
            Value::String(text.repeat(count))
        }
        Function::Int => Value::from(as_int(arg(0), "int")?),
        Function::Str => Value::String(render(arg(0))),
        Function::Hex => Value::String(hex::encode(text_arg(arg(0), "hex")?)),
        Function::Sorted => match arg(0) {
            Value::Array(items) => {
                let mut items = items.clone();
                items.sort_by(|p, q| match (as_int(p, ""), as_int(q, "")) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => render(p).cmp(&render(q)),
                });
                Value::Array(items)
            }
            other => return Err(EvalError::Type(format!("sorted: {other} is not a list"))),
        },
        Function::Json => {
            let text = text_arg(arg(0), "json")?;
            serde_json::from_str(&text)
                .map_err(|e| EvalError::Type(format!("json: not JSON ({e})")))?
        }
        Function::Get => match (arg(0), arg(1)) {
            (Value::Object(o), key) => o.get(&render(key)).cloned().unwrap_or(Value::Null),
            (Value::Array(items), index) => usize::try_from(as_int(index, "get")?)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .unwrap_or(Value::Null),
            _ => Value::Null,
        },
        Function::IsHex => Value::Bool(match arg(0) {
            Value::String(s) => {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }
            _ => false,
        }),
        Function::RandomHex => {
            let count = usize::try_from(as_int(arg(0), "random_hex")?)
                .map_err(|_| EvalError::Type("random_hex: a negative count".into()))?;
            if count > MAX_BUILT_STRING {
                return Err(EvalError::TooLarge);
            }
            Value::String(random_hex(count))
        }
        Function::Split => {
            let text = text_arg(arg(0), "split")?;
            let separator = text_arg(arg(1), "split")?;
            if separator.is_empty() {
                return Err(EvalError::Type("split: an empty separator".into()));
            }
            Value::Array(
                text.split(separator.as_str())
                    .map(|p| Value::String(p.to_owned()))
                    .collect(),
            )
        }
        Function::Metric => {
            let text = text_arg(arg(0), "metric")?;
            let name = text_arg(arg(1), "metric")?;
            // `name value [timestamp]`; a labelled sample (`name{...} value`) is a per-series
            // value, not the total.
            text.lines()
                .filter_map(|line| line.strip_prefix(name.as_str()))
                .filter_map(|rest| rest.strip_prefix(' '))
                .filter_map(|rest| rest.split_whitespace().next())
                .find_map(|value| value.parse::<i64>().ok())
                .map_or(Value::Null, Value::from)
        }
        Function::Replace => {
            let text = text_arg(arg(0), "replace")?;
            let from = text_arg(arg(1), "replace")?;
            let to = text_arg(arg(2), "replace")?;
            if from.is_empty() {
                return Err(EvalError::Type("replace: an empty text to replace".into()));
            }
            // Bounded before it is built: each replacement adds at most `to` minus `from`.
            let grows = to.len().saturating_sub(from.len());
            if text.len() + text.matches(from.as_str()).count().saturating_mul(grows)
                > MAX_BUILT_STRING
            {
                return Err(EvalError::TooLarge);
            }
            Value::String(text.replace(from.as_str(), &to))
        }
        Function::Min | Function::Max => {
            let (p, q) = (as_int(arg(0), "min/max")?, as_int(arg(1), "min/max")?);
            Value::from(if function == Function::Min {
                p.min(q)
            } else {
                p.max(q)
            })
        }
    })
}

/// `count` random lowercase hexadecimal digits.
pub fn random_hex(count: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..count)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect()
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Const(v) => write!(f, "{v}"),
            Expr::Var(name) => write!(f, "{name}"),
            Expr::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Expr::Call(function, args) => {
                let name = FUNCTIONS
                    .iter()
                    .find(|(_, g, _)| g == function)
                    .map_or("?", |(n, _, _)| n);
                write!(f, "{name}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
            Expr::Unary(UnaryOp::Not, e) => write!(f, "!{e}"),
            Expr::Unary(UnaryOp::Neg, e) => write!(f, "-{e}"),
            Expr::Binary(op, a, b) => {
                let symbol = match op {
                    BinaryOp::Or => "||",
                    BinaryOp::And => "&&",
                    BinaryOp::Eq => "==",
                    BinaryOp::Ne => "!=",
                    BinaryOp::Lt => "<",
                    BinaryOp::Le => "<=",
                    BinaryOp::Gt => ">",
                    BinaryOp::Ge => ">=",
                    BinaryOp::Add => "+",
                    BinaryOp::Sub => "-",
                    BinaryOp::Mul => "*",
                    BinaryOp::Div => "/",
                    BinaryOp::Rem => "%",
                };
                write!(f, "({a} {symbol} {b})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, vars: &Vars) -> Result<Value, EvalError> {
        let mut c = Cursor::new(text, 1, 1);
        let e = expr(&mut c).unwrap();
        assert!(c.at_end(), "left over: {:?}", c.rest());
        e.eval(vars)
    }

    #[test]
    fn functions_and_operators() {
        let mut vars = Vars::new();
        vars.insert("mailbox".into(), Value::String("INBOX".into()));
        vars.insert("n".into(), Value::from(100));
        assert_eq!(
            eval("md5(mailbox)", &vars).unwrap(),
            Value::String("7e33429f656f1e6e9d79b29c3f82c57e".into())
        );
        assert_eq!(eval("$n + 1", &vars).unwrap(), Value::from(101));
        assert_eq!(eval("2 * n - 1 >= 199", &vars).unwrap(), Value::Bool(true));
        assert_eq!(eval("\"a\" + n", &vars).unwrap(), Value::from("a100"));
        assert_eq!(
            eval("contains([md5(\"x\"), \"y\"], \"y\") && !false", &vars).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            eval("len(repeat(\"ab\", 3))", &vars).unwrap(),
            Value::from(6)
        );
        assert_eq!(eval("\"5\" == 5", &vars).unwrap(), Value::Bool(true));
        assert_eq!(
            eval("get(json(\"{\\\"a\\\":[1,2]}\"), \"a\")", &vars).unwrap(),
            serde_json::json!([1, 2])
        );
        assert!(matches!(
            eval("nope + 1", &vars),
            Err(EvalError::Unbound(_))
        ));
        assert!(matches!(
            eval("repeat(\"x\", 99999999)", &vars),
            Err(EvalError::TooLarge)
        ));
        assert!(matches!(
            eval("1 / 0", &vars),
            Err(EvalError::Arithmetic(_))
        ));
    }

    #[test]
    fn parse_errors_name_the_column() {
        let mut c = Cursor::new("md5(a, b)", 7, 10);
        let error = expr(&mut c).unwrap_err();
        assert_eq!((error.line, error.column), (7, 10));
        assert!(error.message.contains("takes 1 argument"), "{error:?}");
        let mut c = Cursor::new("frob(1)", 1, 1);
        assert!(
            expr(&mut c)
                .unwrap_err()
                .message
                .contains("unknown function")
        );
        let deep = "(".repeat(500);
        let mut c = Cursor::new(&deep, 1, 1);
        assert!(expr(&mut c).is_err());
    }
}
