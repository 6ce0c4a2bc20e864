#!/usr/bin/python3
"""Lists the public declarations of the headers that have no doc comment.

    public_docs.py INCLUDE_DIR

Scans INCLUDE_DIR/cotangent/**/*.hpp. A public declaration is one outside any `namespace
detail`, at namespace scope or in the public part of a public class:

  at namespace scope: functions and function templates, classes, structs, unions and enums,
      `using X = ...` aliases, concepts and variables (`inline constexpr`, `constexpr`, ...);
  in a public class: its nested classes, structs, unions, enums and `using X = ...` aliases
      (member functions and fields are the class's business).

One is documented when the line directly above it (above its `template <...>` lines, if any)
is a comment, or when a line of its head carries a trailing `//` comment. Overloads of one
name that follow each other, with no blank line between, share the comment above the first;
so does a redeclaration whose documented twin (the same head) is elsewhere in the headers.

Not checked: macros, forward declarations (`struct X;`), `using namespace`, `using a::b;`,
friends, explicit and partial specializations, out-of-class definitions of members
(`Tensor<T>::f`), deleted functions, and the operators that explain themselves (comparisons,
`<<` and `>>` for streams, `++`, `--`, `->`), and the iterator protocol's names (begin, end,
value_type, a nested `iterator`, ...).

Prints `path:line: name` for each undocumented declaration, then a count; exits 1 if there
is any, 0 otherwise.
"""
import os
import re
import sys

IDENT = r"[A-Za-z_]\w*"
# Operators whose meaning needs no words; the others (arithmetic on tensors or models) get one.
SELF_EXPLANATORY_OPERATORS = {
    "==", "!=", "<", ">", "<=", ">=", "<=>", "<<", ">>", "++", "--", "->", "=",
}
SELF_EXPLANATORY_FUNCTIONS = {"begin", "end", "swap"}
# The standard iterator and container member types: part of a protocol, not the library's.
PROTOCOL_NAMES = {
    "value_type", "difference_type", "iterator_category", "iterator_concept", "pointer",
    "reference", "size_type", "const_iterator", "iterator", "element_type", "is_transparent",
}
KEYWORDS_BEFORE_PAREN = {
    "decltype", "noexcept", "alignas", "requires", "sizeof", "alignof", "static_assert",
    "explicit", "operator", "__attribute__", "if", "while", "for", "switch", "return",
}


class Line:
    """One source line: its code (comments, strings and preprocessor text removed) and what
    comments it has."""

    def __init__(self, number, text):
        self.number = number
        self.text = text
        self.code = ""
        self.comment_only = False  # the line is a comment and nothing else
        self.has_comment = False  # the line has a comment (trailing or whole)
        self.blank = text.strip() == ""


def split_lines(text):
    """Splits a file into Lines, removing comments, string and character literals (a `{` in a
    string is no brace) and preprocessor lines (with their continuations)."""
    lines = [Line(i + 1, t) for i, t in enumerate(text.split("\n"))]
    in_block = False
    in_macro = False
    for line in lines:
        t = line.text
        if in_macro:
            in_macro = t.rstrip().endswith("\\")
            continue
        if not in_block and t.lstrip().startswith("#"):
            in_macro = t.rstrip().endswith("\\")
            continue
        code = []
        i = 0
        had_code = False
        while i < len(t):
            if in_block:
                end = t.find("*/", i)
                line.has_comment = True
                if end < 0:
                    i = len(t)
                else:
                    i = end + 2
                    in_block = False
                continue
            c = t[i]
            if t.startswith("//", i):
                line.has_comment = True
                break
            if t.startswith("/*", i):
                in_block = True
                line.has_comment = True
                i += 2
                continue
            if c == '"' or (c == "'" and not (i > 0 and t[i - 1].isalnum())):
                # A string or character literal (a ' between digits is a digit separator).
                j = i + 1
                while j < len(t) and t[j] != c:
                    j += 2 if t[j] == "\\" else 1
                code.append(c + c)
                i = j + 1
                had_code = True
                continue
            code.append(c)
            if not c.isspace():
                had_code = True
            i += 1
        line.code = "".join(code)
        line.comment_only = line.has_comment and not had_code
    return lines


def strip_template_prefix(head):
    """Removes leading `template <...>` clauses (and `requires` lines after them); returns the
    rest and whether there was an empty `template <>` (an explicit specialization)."""
    explicit = False
    while True:
        m = re.match(r"\s*template\s*<", head)
        if not m:
            break
        depth = 0
        i = m.end() - 1
        while i < len(head):
            if head[i] == "<":
                depth += 1
            elif head[i] == ">":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if head[m.end():i].strip() == "":
            explicit = True
        head = head[i + 1:]
        # A requires-clause after the template parameters runs to the declaration proper; it is
        # a constraint expression (parenthesized or a chain of concept-ids), so skip it whole.
        r = re.match(r"\s*requires\b", head)
        if r:
            head = skip_requires_clause(head[r.end():])
    return head.strip(), explicit


def skip_requires_clause(text):
    """Skips a requires-clause's constraint expression: primaries joined by && or ||."""
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "(":
            i = skip_balanced(text, i, "(", ")")
        else:
            m = re.compile(r"[\w:]+").match(text, i)
            if not m:
                return text[i:]
            i = m.end()
            while i < len(text) and text[i].isspace():
                i += 1
            if i < len(text) and text[i] == "<":
                i = skip_balanced(text, i, "<", ">")
        m = re.compile(r"\s*(&&|\|\|)").match(text, i)
        if not m:
            return text[i:]
        i = m.end()


def skip_balanced(text, i, open_, close):
    depth = 0
    while i < len(text):
        if text[i] == open_:
            depth += 1
        elif text[i] == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def top_level(text):
    """The text with everything inside (), [], {} and <> (template arguments) blanked."""
    out = []
    depth = 0
    angle = 0
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
            out.append(" ")
            continue
        if c in ")]}":
            depth -= 1
            out.append(" ")
            continue
        if depth == 0:
            before = text[:i].rstrip()
            if c == "<" and re.search(r"\w$", before) and not re.search(r"operator\s*<*$",
                                                                          before):
                angle += 1
                out.append(" ")
                continue
            if c == ">" and angle > 0 and not text[i - 1] == "-":
                angle -= 1
                out.append(" ")
                continue
        out.append(c if depth == 0 and angle == 0 else " ")
    return "".join(out)


def has_initializer(flat):
    """Whether text (with its brackets blanked) has an `=` of an initializer or a default, not
    one of an operator's name (operator+=) or a comparison."""
    flat = re.sub(r"\boperator\s*[^\s\w(]+", "operator", flat)
    return re.search(r"(?<![=!<>+\-*/%&|^])=(?!=)", flat) is not None


def without_defaults(head):
    """A declaration head without its default arguments, so that a declaration and the
    definition that repeats it without them compare equal."""
    out = []
    depth = 0
    i = 0
    while i < len(head):
        c = head[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif (c == "=" and depth == 1 and head[i + 1:i + 2] != "=" and
              not re.search(r"(operator\s*\S*|[=!<>+\-*/%&|^])$", head[:i])):
            # Skip the default up to the `,` or `)` that ends this parameter.
            nested = 0
            while i < len(head):
                if head[i] in "([{<":
                    nested += 1
                elif head[i] in ")]}>" and nested > 0:
                    nested -= 1
                elif head[i] in ",)" and nested == 0:
                    break
                i += 1
            while out and out[-1].isspace():
                out.pop()
            continue
        out.append(c)
        i += 1
    return "".join(out)


def function_name(head):
    """The name of the function a declaration head declares, or None if it is no function."""
    m = re.search(r"\boperator\s*(\(\)|\[\]|new\b|delete\b|[^\s\w(]+|" + IDENT + r")\s*\(", head)
    if m and not has_initializer(top_level(head[:m.start()])):
        name = re.search(r"((?:" + IDENT + r"\s*(?:<[^;{}]*?>)?\s*::\s*)*)operator",
                         head[:m.end()])
        return ("operator" + m.group(1).replace(" ", ""), bool(name and name.group(1)))
    flat = top_level(head)
    for m in re.finditer(r"(" + IDENT + r"(?:\s*::\s*" + IDENT + r")*)\s*\(", head):
        if flat[m.start()] == " ":
            continue  # inside template arguments or parentheses: a type, not the name
        if has_initializer(flat[:m.start()]):
            return None  # a variable initialized by a call
        qualified = m.group(1).replace(" ", "")
        last = qualified.split("::")[-1]
        if last in KEYWORDS_BEFORE_PAREN:
            continue
        # A qualified name (Tensor<T>::f, Shape::count) is a member defined out of its class.
        if "::" in qualified or head[:m.start()].rstrip().endswith("::"):
            return (last, True)
        # The name is preceded by a type (`auto`, `decltype(auto)`); a bare `NAME(` is a macro
        # or a call.
        if not re.search(r"([\w>&*]|\bdecltype\s*\(.*\))\s*$", head[:m.start()], re.S):
            return None
        return (last, False)
    return None


def classify(head, in_class, has_body):
    """(kind, name) for a declaration whose head (up to its `;` or `{`) is `head`, or None when
    it is not one to check; `has_body` when a `{` follows the head."""
    rest, explicit = strip_template_prefix(head)
    rest = re.sub(r"^\s*(\[\[[^\]]*\]\]\s*)+", "", rest)
    if not rest:
        return None
    if re.match(r"(friend|static_assert|extern\s+template|template\s+(class|struct)\b|"
                r"typedef\s+struct)\b", rest) or re.match(r"(public|private|protected)\s*:", rest):
        return None
    m = re.match(r"using\s+(" + IDENT + r")\s*(\[\[[^\]]*\]\]\s*)?=", rest)
    if m:
        if in_class and m.group(1) in PROTOCOL_NAMES:
            return None
        return ("alias", m.group(1))
    if rest.startswith("using"):
        return None  # using namespace, using a::b
    m = re.match(r"typedef\b.*?(" + IDENT + r")\s*;?\s*$", rest, re.S)
    if m:
        return ("alias", m.group(1))
    m = re.match(r"(?:enum\s+(?:class|struct)?|class|struct|union)\s*(?:\[\[[^\]]*\]\]\s*|"
                 r"alignas\s*\([^)]*\)\s*)*(" + IDENT + r")?\s*(<)?", rest)
    if m and re.match(r"(enum|class|struct|union)\b", rest):
        if not m.group(1) or not has_body or m.group(2) or explicit:
            return None  # anonymous, forward declaration, or a specialization
        # `struct X f();` is a function returning an elaborated type, not a class; `struct X`
        # followed by a base list, `final` or the brace is the class.
        after = rest[m.end(1):]
        if not re.match(r"\s*(final\b|:|\{|$)", after):
            return None
        if in_class and m.group(1) in PROTOCOL_NAMES:
            return None
        return ("class", m.group(1))
    if in_class:
        return None  # member functions and fields
    m = re.match(r"concept\s+(" + IDENT + r")", rest)
    if m:
        return ("concept", m.group(1))
    if explicit:
        return None
    fn = function_name(rest)
    if fn:
        name, member = fn
        if member:
            return None
        if re.search(r"=\s*delete\s*;?\s*$", rest):
            return None
        if name.startswith("operator"):
            if name[len("operator"):] in SELF_EXPLANATORY_OPERATORS:
                return None
        elif name in SELF_EXPLANATORY_FUNCTIONS:
            return None
        return ("function", name)
    # A variable: `[inline] [constexpr] Type name = ...;`, `Type name{...};`, `extern Type name;`
    flat = top_level(rest)
    m = re.match(r"\s*([^=;{]*?)(" + IDENT + r")\s*(=|\{|;|$)", flat)
    if m and m.group(1).strip():
        if re.match(r"\s*[A-Z][A-Z0-9_]*\s*$", m.group(1)):
            return None  # a macro's leftovers
        return ("variable", m.group(2))
    return None


class Decl:
    def __init__(self, path, line, name, kind, documented, key):
        self.path = path
        self.line = line
        self.name = name
        self.kind = kind
        self.documented = documented
        self.key = key


def scan(path, display):
    with open(path, encoding="utf-8") as f:
        lines = split_lines(f.read())

    # A scope: its kind ('namespace', 'class', 'other'), whether declarations directly in it are
    # checked, the access in force (for classes), its namespace path (for redeclarations).
    stack = [{"kind": "namespace", "public": True, "access": "public", "path": ""}]
    decls = []

    # The statement being read: its text, its first line, and the parentheses and initializer
    # braces open inside it. `previous` is the statement before, for overloads that follow it.
    stmt = {"text": "", "start": None, "paren": 0, "inner": 0}
    previous = {"end": None, "name": None, "documented": False}

    def checked():
        top = stack[-1]
        return top["public"] and top["kind"] in ("namespace", "class") and top["access"] == "public"

    def documented_above(start, name_line):
        above = start - 2  # index of the line above the statement's first line
        if above >= 0 and lines[above].comment_only:
            return True
        for n in range(start, name_line + 1):
            if lines[n - 1].has_comment and not lines[n - 1].comment_only:
                return True
        return False

    def record(head, end_line, has_body):
        """Classifies the statement that started at stmt['start'] with text `head`."""
        start = stmt["start"]
        top = stack[-1]
        info = classify(head, top["kind"] == "class", has_body) if checked() else None
        name = info[1] if info else None
        if info:
            name_line = start
            for n in range(start, end_line + 1):
                word = "operator" if name.startswith("operator") else name
                if re.search(r"\b" + re.escape(word) + r"\b", lines[n - 1].code):
                    name_line = n
                    break
            doc = documented_above(start, name_line)
            if (not doc and previous["end"] == start - 1 and previous["name"] == name
                    and previous["documented"]):
                doc = True  # an overload right after a documented one
            key = (top["path"], re.sub(r"\s+", " ", without_defaults(head)).strip())
            decls.append(Decl(display, start, name, info[0], doc, key))
            return name, doc
        return None, False

    def finish(end_line, head):
        name, doc = record(head, end_line, False) if stmt["start"] else (None, False)
        previous.update(end=end_line, name=name, documented=doc)
        stmt.update(text="", start=None, paren=0, inner=0)

    for line in lines:
        code = line.code
        i = 0
        while i < len(code):
            c = code[i]
            if stmt["start"] is None:
                if c.isspace():
                    i += 1
                    continue
                stmt["start"] = line.number
            stmt["text"] += c
            if c in "([":
                stmt["paren"] += 1
            elif c in ")]":
                stmt["paren"] -= 1
            elif c == "{" and (stmt["paren"] > 0 or stmt["inner"] > 0):
                stmt["inner"] += 1
            elif c == "}" and stmt["inner"] > 0:
                stmt["inner"] -= 1
            elif c == "{":
                head = stmt["text"][:-1]
                opened = open_scope(head, stack)
                if opened is None:
                    stmt["inner"] += 1  # an initializer: part of the statement
                else:
                    # A namespace, class or function body: the statement's head is complete.
                    kind = opened["kind"]
                    if kind == "namespace":
                        stack.append(opened)
                        stmt.update(text="", start=None, paren=0, inner=0)
                        previous.update(end=None, name=None, documented=False)
                    else:
                        name, doc = record(head, line.number, True)
                        stack.append(opened)
                        opened["resume"] = (stmt["start"], name, doc)
                        stmt.update(text="", start=None, paren=0, inner=0)
                        previous.update(end=None, name=None, documented=False)
            elif c == "}" and stmt["paren"] == 0:
                closing = stack.pop() if len(stack) > 1 else stack[0]
                stmt.update(text="", start=None, paren=0, inner=0)
                if "resume" in closing:
                    start, name, doc = closing["resume"]
                    if closing["kind"] == "other" and closing.get("function"):
                        # A function body ends its statement.
                        previous.update(end=line.number, name=name, documented=doc)
                    else:
                        # `};` ends a class or enum; remember the declaration for overloads.
                        stmt.update(text="}", start=start, paren=0, inner=0)
                        stmt["after_body"] = (name, doc)
                else:
                    previous.update(end=line.number, name=None, documented=False)
            elif c == ";" and stmt["paren"] == 0 and stmt["inner"] == 0:
                if "after_body" in stmt:
                    name, doc = stmt.pop("after_body")
                    stmt.update(text="", start=None, paren=0, inner=0)
                    previous.update(end=line.number, name=name, documented=doc)
                else:
                    finish(line.number, stmt["text"][:-1])
            elif c == ":" and stack[-1]["kind"] == "class" and stmt["paren"] == 0:
                m = re.fullmatch(r"\s*(public|private|protected)\s*:", stmt["text"])
                if m:
                    stack[-1]["access"] = m.group(1)
                    stmt.update(text="", start=None, paren=0, inner=0)
                    previous.update(end=line.number, name=None, documented=False)
            i += 1
        if stmt["start"] is not None:
            stmt["text"] += "\n"
            # A macro invocation with no `;` (CT_FIELDS(a, b), CT_OPERATOR(+, add)) stands alone.
            if (stmt["paren"] == 0 and stmt["inner"] == 0 and "after_body" not in stmt
                    and re.fullmatch(r"\s*[A-Z][A-Z0-9_]*\s*\(.*\)\s*", stmt["text"], re.S)):
                stmt.update(text="", start=None, paren=0, inner=0)
                previous.update(end=line.number, name=None, documented=False)
        elif line.blank:
            previous.update(end=None, name=None, documented=False)
    return decls


def open_scope(head, stack):
    """The scope a `{` after `head` opens, or None when the brace is an initializer."""
    parent = stack[-1]
    public = parent["public"] and parent["kind"] in ("namespace", "class") and \
        parent["access"] == "public"
    m = re.match(r"\s*(inline\s+)?namespace\b\s*([\w:]*)", head)
    if m and not has_initializer(head):
        names = [n for n in m.group(2).split("::") if n]
        path = "::".join(([parent["path"]] if parent["path"] else []) + names)
        detail = "detail" in names or not names  # `namespace {` is no one else's either
        return {"kind": "namespace", "public": parent["public"] and not detail,
                "access": "public", "path": path}
    if re.match(r'\s*extern\s+"', head):
        return {"kind": "namespace", "public": parent["public"], "access": "public",
                "path": parent["path"]}
    rest, _ = strip_template_prefix(head)
    rest = re.sub(r"^\s*(\[\[[^\]]*\]\]\s*)+", "", rest)
    m = re.match(r"(enum\b|class\b|struct\b|union\b)", rest)
    if m and "(" not in top_level(rest).split(":")[0] and not has_initializer(top_level(rest)):
        if m.group(1) == "enum":
            return {"kind": "other", "public": False, "access": "public", "path": ""}
        return {"kind": "class", "public": public, "path": parent["path"],
                "access": "private" if m.group(1) == "class" else "public"}
    flat = top_level(rest)
    if "(" in rest and not has_initializer(flat):
        # A function body, unless the brace is a member's initializer in a constructor's
        # initializer list (`: a_{a}`): such a brace follows a name, a body follows `)` or `}`
        # or a specifier.
        init_list = re.search(r"\)\s*(noexcept\s*(\([^)]*\))?\s*)?:(?!:)", rest)
        if init_list and re.search(r"[\w>]\s*$", rest) and \
                not re.search(r"\b(const|noexcept|override|final|mutable)\s*$", rest):
            return None
        return {"kind": "other", "public": False, "access": "public", "path": "",
                "function": True}
    if re.search(r"\brequires\s*(\([^)]*\))?\s*$", rest):
        return None  # a requires-expression's body
    return None


def main(argv):
    if len(argv) != 2:
        print("usage: public_docs.py INCLUDE_DIR", file=sys.stderr)
        return 2
    root = argv[1]
    headers = []
    for directory, _, files in os.walk(os.path.join(root, "cotangent")):
        headers += [os.path.join(directory, f) for f in files if f.endswith(".hpp")]
    if not headers:
        print(f"public_docs.py: no headers under {root}/cotangent", file=sys.stderr)
        return 2
    decls = []
    for path in sorted(headers):
        decls += scan(path, os.path.relpath(path, os.path.dirname(os.path.abspath(root))))
    documented_keys = {d.key for d in decls if d.documented}
    missing = [d for d in decls if not d.documented and d.key not in documented_keys]
    for d in missing:
        print(f"{d.path}:{d.line}: {d.name}")
    print(f"{len(missing)} public declaration(s) without a doc comment "
          f"({len(decls)} checked in {len(headers)} headers)")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
