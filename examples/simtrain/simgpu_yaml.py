"""A reader for the YAML subset training configs use (the standard library has no YAML).

Supported: block mappings nested by indentation (spaces only), block sequences
("- item", items may be scalars or mappings), flow sequences "[a, b]" and flow
mappings "{a: 1}" of scalars, single- and double-quoted strings, full-line and
trailing comments, "---" at the top. Scalars follow YAML 1.1 as PyYAML reads
them (what jsonargparse uses): null/~, true/false/yes/no/on/off, integers,
floats (also "1e-4"), everything else a string. Keys are always strings. Anchors, aliases, tags and
block scalars ("|", ">") are refused with an error naming the file and line.
"""

import re

_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(r"^[-+]?(\d[\d_]*\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$")
_TRUE = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}
_FALSE = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}
_NULL = {"", "~", "null", "Null", "NULL"}


class YAMLError(ValueError):
    """A config the reader cannot take; str() is 'file:line: what'."""


def parse_scalar(text):
    """One plain or quoted scalar, e.g. a config value or a command-line value."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return _unquote(text)
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _FLOAT.match(text) and any(c.isdigit() for c in text):
        return float(text.replace("_", ""))
    if text in (".inf", ".Inf", "+.inf"):
        return float("inf")
    if text in ("-.inf", "-.Inf"):
        return float("-inf")
    if text in (".nan", ".NaN"):
        return float("nan")
    return text


def _unquote(text):
    body = text[1:-1]
    if text[0] == "'":
        return body.replace("''", "'")
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "0": "\0"}
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body) and body[i + 1] in escapes:
            out.append(escapes[body[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


class _Line:
    def __init__(self, number, indent, text):
        self.number = number
        self.indent = indent
        self.text = text


def _strip_comment(text):
    """Drop a comment: '#' at the start or after whitespace, outside quotes."""
    quote = None
    i = 0
    while i < len(text):
        c = text[i]
        if quote == "'" and c == "'" and text[i + 1 : i + 2] == "'":
            i += 1  # '' is an escaped quote inside a single-quoted string
        elif quote == '"' and c == "\\":
            i += 1
        elif quote:
            if c == quote:
                quote = None
        elif c in "'\"" and (i == 0 or text[i - 1] in " \t:[{,-"):
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
        i += 1
    return text.rstrip()


class _Reader:
    def __init__(self, text, filename):
        self.filename = filename
        self.lines = []
        for number, raw in enumerate(text.splitlines(), 1):
            body = raw.lstrip(" ")
            stripped = _strip_comment(body.strip())
            if not stripped:
                continue
            if body.startswith("\t"):
                self.fail(number, "tab in indentation (YAML indents with spaces)")
            if stripped in ("---", "...") and not raw.startswith(" "):
                if stripped == "---" and self.lines:
                    self.fail(number, "more than one document")
                continue
            self.lines.append(_Line(number, len(raw) - len(body), stripped))
        self.pos = 0

    def fail(self, number, what):
        raise YAMLError("%s:%d: %s" % (self.filename, number, what))

    def peek(self):
        return self.lines[self.pos] if self.pos < len(self.lines) else None

    def document(self):
        first = self.peek()
        if first is None:
            return {}
        if first.indent != 0:
            self.fail(first.number, "the first line must not be indented")
        value = self.block(0)
        extra = self.peek()
        if extra is not None:
            self.fail(extra.number, "bad indentation")
        return value

    def block(self, indent):
        line = self.peek()
        if _is_item(line.text):
            return self.sequence(indent)
        return self.mapping(indent)

    def mapping(self, indent):
        result = {}
        while True:
            line = self.peek()
            if line is None or line.indent < indent:
                return result
            if line.indent > indent:
                self.fail(line.number, "bad indentation")
            if _is_item(line.text):
                self.fail(line.number, "a list item where a key was expected")
            key, rest = self.split_key(line)
            if key in result:
                self.fail(line.number, "duplicate key %r" % key)
            self.pos += 1
            if rest:
                result[key] = self.inline(rest, line.number)
                continue
            following = self.peek()
            if following is not None and following.indent > indent:
                result[key] = self.block(following.indent)
            elif following is not None and following.indent == indent and _is_item(following.text):
                result[key] = self.sequence(indent)
            else:
                result[key] = None

    def sequence(self, indent):
        result = []
        while True:
            line = self.peek()
            if line is None or line.indent < indent:
                return result
            if line.indent > indent:
                self.fail(line.number, "bad indentation")
            if not _is_item(line.text):
                return result
            body = line.text[1:].lstrip(" ")
            if not body:
                self.pos += 1
                following = self.peek()
                if following is not None and following.indent > indent:
                    result.append(self.block(following.indent))
                else:
                    result.append(None)
                continue
            item_indent = line.indent + (len(line.text) - len(body))
            if _mapping_start(body):
                # "- key: value" opens a mapping whose keys line up with "key".
                self.lines[self.pos] = _Line(line.number, item_indent, body)
                result.append(self.mapping(item_indent))
            else:
                self.pos += 1
                result.append(self.inline(body, line.number))

    def split_key(self, line):
        match = _mapping_start(line.text)
        if not match:
            self.fail(line.number, "expected 'key: value', got %r" % line.text)
        key_text, rest = match
        # Keys stay strings ("on", "1" and "null" too): configs are keyed by names.
        return (_unquote(key_text) if key_text[:1] in "'\"" else key_text), rest

    def inline(self, text, number):
        if text[0] in "&*!":
            self.fail(number, "anchors, aliases and tags are not supported")
        if text[0] in "|>":
            self.fail(number, "block scalars ('|', '>') are not supported")
        if text[0] == "[":
            if not text.endswith("]"):
                self.fail(number, "unterminated flow sequence")
            return [self.inline(part, number) for part in _split_flow(text[1:-1], number, self)]
        if text[0] == "{":
            if not text.endswith("}"):
                self.fail(number, "unterminated flow mapping")
            result = {}
            for part in _split_flow(text[1:-1], number, self):
                match = _mapping_start(part)
                if not match:
                    self.fail(number, "expected 'key: value' in flow mapping, got %r" % part)
                key = _unquote(match[0]) if match[0][:1] in "'\"" else match[0]
                result[key] = self.inline(match[1], number) if match[1] else None
            return result
        if text[0] in "'\"" and not (len(text) >= 2 and text[-1] == text[0]):
            self.fail(number, "unterminated quoted string")
        return parse_scalar(text)


def _is_item(text):
    return text == "-" or text.startswith("- ")


def _mapping_start(text):
    """Split 'key: rest' (key plain or quoted); None when text is not a mapping entry."""
    if text[0] in "'\"":
        end = text.find(text[0], 1)
        while end != -1 and text[0] == "'" and text[end + 1 : end + 2] == "'":
            end = text.find("'", end + 2)
        if end == -1 or text[end + 1 : end + 2] != ":":
            return None
        rest = text[end + 2 :]
        if rest and not rest.startswith(" "):
            return None
        return text[: end + 1], rest.strip()
    if text[0] in "[{":
        return None
    for i, c in enumerate(text):
        if c == ":" and (i + 1 == len(text) or text[i + 1] == " "):
            return text[:i].strip(), text[i + 1 :].strip()
    return None


def _split_flow(body, number, reader):
    parts, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(body):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    if quote or depth:
        reader.fail(number, "unbalanced flow collection")
    last = body[start:].strip()
    if last:
        parts.append(last)
    if any(not p for p in parts):
        reader.fail(number, "empty entry in flow collection")
    return parts


def loads(text, filename="<string>"):
    """Parse YAML-subset text; an empty document is {}."""
    return _Reader(text, filename).document()


def load_file(path):
    """Parse a YAML-subset file; errors name the file and line."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        raise YAMLError("%s: cannot read: %s" % (path, err.strerror or err))
    return loads(text, path)
