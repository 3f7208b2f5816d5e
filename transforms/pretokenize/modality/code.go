package modality

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"unicode/utf8"
)

// Code languages (Format.Kind of ModCode formats).
const (
	LangGo         = "go"
	LangPython     = "python"
	LangJavaScript = "javascript"
	LangTypeScript = "typescript"
	LangC          = "c"
	LangCPP        = "cpp"
	LangJava       = "java"
	LangRust       = "rust"
	LangShell      = "shell"
)

// sniffLanguage names the language of UTF-8 text without an extension: a
// shebang, a Go file that parses, or a C #include; "" for prose.
func sniffLanguage(b []byte) string {
	if bytes.HasPrefix(b, []byte("#!")) {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i]
		}
		fields := strings.Fields(string(line[2:]))
		if len(fields) == 0 {
			return ""
		}
		interp := fields[0][strings.LastIndexByte(fields[0], '/')+1:]
		if interp == "env" && len(fields) > 1 {
			interp = fields[1]
		}
		switch {
		case strings.HasPrefix(interp, "python"):
			return LangPython
		case interp == "node" || interp == "deno" || interp == "bun":
			return LangJavaScript
		case interp == "sh" || interp == "bash" || interp == "zsh" || interp == "dash" || interp == "ksh":
			return LangShell
		}
		return ""
	}
	if bytes.Contains(b, []byte("package ")) && bytes.Contains(b, []byte("\nfunc ")) {
		if _, err := parser.ParseFile(token.NewFileSet(), "", b, parser.SkipObjectResolution); err == nil {
			return LangGo
		}
	}
	if bytes.HasPrefix(b, []byte("#include ")) || bytes.Contains(b, []byte("\n#include ")) {
		return LangC
	}
	return ""
}

// extractCode makes the "code" view: the source split into top-level units
// (declarations with their doc comments, imports, comment blocks, …) whose
// segments cover Data exactly. Go is split by go/parser (falling back to the
// brace splitter on a syntax error); Python by indentation; the C family,
// JavaScript/TypeScript, Java, Rust and shell by brace depth, with strings
// and comments understood.
func extractCode(src *Source, lang string, data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("source code is not valid UTF-8")
	}
	var segs []Segment
	switch lang {
	case LangGo:
		segs = splitGo(data)
		if segs == nil {
			segs = splitBraces(data, lang)
		}
	case LangPython:
		segs = splitPython(data)
	default:
		segs = splitBraces(data, lang)
	}
	if len(segs) == 0 {
		segs = []Segment{{Label: "unit", Start: 0, End: len(data)}}
	}
	src.Views = []View{{Name: "code", Modality: ModCode, Data: data, Segments: segs,
		Meta: map[string]any{"language": lang}}}
	return nil
}

// unit is a labelled [start, end) range before gaps are filled.
type unit struct {
	label      string
	start, end int
	meta       map[string]any
}

// cover turns sorted, non-overlapping units into segments covering
// [0, n): whitespace between units joins the unit before it (the first
// unit, if there is none); anything else between units becomes a
// gapLabel segment.
func cover(data []byte, units []unit, gapLabel string) []Segment {
	var segs []Segment
	pos := 0
	for _, u := range units {
		if u.start > pos {
			gap := data[pos:u.start]
			switch {
			case len(bytes.Trim(gap, " \t\r\n\f;")) != 0:
				segs = append(segs, Segment{Label: gapLabel, Start: pos, End: u.start})
			case len(segs) > 0:
				segs[len(segs)-1].End = u.start
			default:
				u.start = pos
			}
		}
		segs = append(segs, Segment{Label: u.label, Start: u.start, End: u.end, Meta: u.meta})
		pos = u.end
	}
	if pos < len(data) {
		if len(bytes.TrimSpace(data[pos:])) == 0 && len(segs) > 0 {
			segs[len(segs)-1].End = len(data)
		} else {
			segs = append(segs, Segment{Label: gapLabel, Start: pos, End: len(data)})
		}
	}
	return segs
}

// splitGo cuts a Go file into its package clause and top-level
// declarations (each with its doc comment and the rest of its last line);
// comments between them become "comment" segments. nil if it does not
// parse.
func splitGo(data []byte) []Segment {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", data, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	off := func(p token.Pos) int { return fset.Position(p).Offset }
	var units []unit
	pkgStart := off(f.Package)
	if f.Doc != nil {
		pkgStart = off(f.Doc.Pos())
	}
	units = append(units, unit{"package", pkgStart, off(f.Name.End()), map[string]any{"name": f.Name.Name}})
	for _, d := range f.Decls {
		u := unit{start: off(d.Pos()), end: off(d.End()), meta: map[string]any{}}
		switch d := d.(type) {
		case *ast.FuncDecl:
			u.label = "func"
			if d.Recv != nil {
				u.label = "method"
			}
			u.meta["name"] = d.Name.Name
			if d.Doc != nil {
				u.start = off(d.Doc.Pos())
			}
		case *ast.GenDecl:
			u.label = d.Tok.String() // import, const, type, var
			if d.Doc != nil {
				u.start = off(d.Doc.Pos())
			}
			if len(d.Specs) == 1 {
				if ts, ok := d.Specs[0].(*ast.TypeSpec); ok {
					u.meta["name"] = ts.Name.Name
				}
			}
		default:
			u.label = "decl"
		}
		u.meta["line"] = fset.Position(d.Pos()).Line
		units = append(units, u)
	}
	// Extend each unit through the rest of its last line, up to the next unit.
	for i := range units {
		limit := len(data)
		if i+1 < len(units) {
			limit = units[i+1].start
		}
		if j := bytes.IndexByte(data[units[i].end:limit], '\n'); j >= 0 {
			units[i].end += j + 1
		} else if i+1 == len(units) {
			units[i].end = limit
		}
	}
	return cover(data, units, "comment")
}

// lexer tracks whether a byte of source is code, a comment or inside a
// string, and the bracket depth, for the splitters.
type lexer struct {
	lang  string
	state int // lexCode, lexLine, lexBlock, lexString
	quote string
	raw   bool // no backslash escapes in the current string
	nest  int  // block comment nesting (Rust)
	depth int
}

const (
	lexCode = iota
	lexLine
	lexBlock
	lexString
)

func (lx *lexer) lineComment(b []byte, i int) bool {
	switch lx.lang {
	case LangPython:
		return b[i] == '#'
	case LangShell:
		// '#' starts a comment at the start of a word only ($#, a#b are not).
		return b[i] == '#' && (i == 0 || strings.IndexByte(" \t\n;&|(", b[i-1]) >= 0)
	}
	return b[i] == '/' && i+1 < len(b) && b[i+1] == '/'
}

func (lx *lexer) hasBlock() bool { return lx.lang != LangPython && lx.lang != LangShell }

// step consumes the token at b[i] and returns the index after it; code
// reports whether it was code (not comment or string content).
func (lx *lexer) step(b []byte, i int) (next int, code bool) {
	switch lx.state {
	case lexLine:
		if b[i] == '\n' {
			lx.state = lexCode
			return i + 1, true
		}
		return i + 1, false
	case lexBlock:
		if lx.lang == LangRust && bytes.HasPrefix(b[i:], []byte("/*")) {
			lx.nest++
			return i + 2, false
		}
		if bytes.HasPrefix(b[i:], []byte("*/")) {
			lx.nest--
			if lx.nest == 0 {
				lx.state = lexCode
			}
			return i + 2, false
		}
		return i + 1, false
	case lexString:
		if b[i] == '\\' && !lx.raw {
			return min(i+2, len(b)), false
		}
		if bytes.HasPrefix(b[i:], []byte(lx.quote)) {
			lx.state = lexCode
			return i + len(lx.quote), false
		}
		// Single-quoted strings end at a newline in the languages that
		// forbid them there, so an unbalanced quote costs one line.
		if b[i] == '\n' && len(lx.quote) == 1 && lx.quote != "`" && lx.lang != LangShell && lx.lang != LangRust {
			lx.state = lexCode
			return i + 1, true
		}
		return i + 1, false
	}
	c := b[i]
	switch {
	case lx.lineComment(b, i):
		lx.state = lexLine
		return i + 1, false
	case lx.hasBlock() && c == '/' && i+1 < len(b) && b[i+1] == '*':
		lx.state, lx.nest = lexBlock, 1
		return i + 2, false
	case c == '"' || c == '`' || c == '\'':
		return lx.openString(b, i), false
	case lx.lang == LangRust && c == 'r' && (i == 0 || !isWord(b[i-1])):
		// Raw strings r"…", r#"…"#, br"…".
		j := i + 1
		for j < len(b) && b[j] == '#' {
			j++
		}
		if j < len(b) && b[j] == '"' {
			lx.state, lx.raw, lx.quote = lexString, true, "\""+strings.Repeat("#", j-i-1)
			return j + 1, false
		}
	}
	switch c {
	case '{':
		lx.depth++
	case '}':
		lx.depth--
	case '(', '[':
		if lx.lang == LangPython {
			lx.depth++
		}
	case ')', ']':
		if lx.lang == LangPython {
			lx.depth--
		}
	}
	if lx.depth < 0 {
		lx.depth = 0
	}
	return i + 1, true
}

func (lx *lexer) openString(b []byte, i int) int {
	c := b[i]
	lx.raw = false
	switch {
	case c == '\'' && (lx.lang == LangRust || lx.lang == LangC || lx.lang == LangCPP || lx.lang == LangJava):
		// A char literal: 'x', '\n', '\u{1F600}'; in Rust '…' without a
		// closing quote nearby is a lifetime.
		if i+1 < len(b) && b[i+1] == '\\' {
			if k := bytes.IndexByte(b[i+2:min(len(b), i+14)], '\''); k >= 0 {
				return i + 3 + k
			}
			return i + 2
		}
		if _, n := utf8.DecodeRune(b[i+1:]); i+1+n < len(b) && b[i+1+n] == '\'' {
			return i + 2 + n
		}
		return i + 1
	case lx.lang == LangPython && (bytes.HasPrefix(b[i:], []byte(`"""`)) || bytes.HasPrefix(b[i:], []byte(`'''`))):
		lx.state, lx.quote = lexString, string(b[i:i+3])
		return i + 3
	case c == '`' && lx.lang != LangJavaScript && lx.lang != LangTypeScript && lx.lang != LangGo && lx.lang != LangShell:
		return i + 1 // not a quote in this language
	}
	lx.state, lx.quote = lexString, string(c)
	lx.raw = c == '`' && lx.lang == LangGo || c == '\'' && lx.lang == LangShell
	return i + 1
}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// line is what the splitters know about one line of source.
type line struct {
	start, end   int  // bytes [start, end), end after the '\n'
	startDepth   int  // bracket depth before the line
	depth        int  // bracket depth after the line
	startInside  bool // the line starts inside a string or block comment
	blank        bool // only whitespace (and not inside a string)
	hasCode      bool // some code outside comments and strings
	firstCode    int  // offset of the first code byte (-1 if none)
	lastCode     byte // last non-space code byte (0 if none)
	indent       int  // leading spaces and tabs
	continuation bool // ends with a backslash (Python, shell)
	brace        bool // has a '{' or '}' in code
}

// lines runs the lexer over b, line by line. For shell, the words if/fi,
// case/esac, for/while/until/done also open and close depth.
func lines(b []byte, lang string) []line {
	lx := &lexer{lang: lang}
	var out []line
	for pos := 0; pos < len(b); {
		ln := line{start: pos, startDepth: lx.depth, startInside: lx.state == lexString || lx.state == lexBlock, firstCode: -1}
		i := pos
		for i < len(b) {
			c := b[i]
			wasCode := lx.state == lexCode
			next, code := lx.step(b, i)
			if code && wasCode && c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				ln.hasCode = true
				if ln.firstCode < 0 {
					ln.firstCode = i
				}
				ln.lastCode = c
				ln.brace = ln.brace || c == '{' || c == '}'
				if lang == LangShell && isWord(c) && (i == 0 || !isWord(b[i-1])) {
					j := i
					for j < len(b) && isWord(b[j]) {
						j++
					}
					switch string(b[i:j]) {
					case "if", "case", "for", "while", "until":
						lx.depth++
					case "fi", "esac", "done":
						lx.depth = max(0, lx.depth-1)
					}
					ln.lastCode = b[j-1]
					next = j
				}
			}
			if bytes.IndexByte(b[i:next], '\n') >= 0 {
				i = next
				break
			}
			i = next
		}
		ln.end = i
		ln.depth = lx.depth
		body := bytes.TrimRight(b[pos:i], "\r\n")
		ln.blank = !ln.startInside && len(bytes.TrimSpace(body)) == 0
		for ln.indent < len(body) && (body[ln.indent] == ' ' || body[ln.indent] == '\t') {
			ln.indent++
		}
		ln.continuation = bytes.HasSuffix(body, []byte("\\")) && lx.state == lexCode
		out = append(out, ln)
		pos = i
	}
	return out
}

// splitBraces cuts C-family, JavaScript, Java, Rust and shell source at
// line ends at brace depth 0 (Java: depth ≤ 1, to split class members)
// where a unit is complete: after a line whose last code byte is '}' or ';'
// (unless the next line continues it: else, catch, ….), after a
// preprocessor line that no other follows, or at a blank line. Blank lines
// join the unit before them.
func splitBraces(data []byte, lang string) []Segment {
	ls := lines(data, lang)
	maxDepth := 0
	if lang == LangJava {
		maxDepth = 1
	}
	var segs []Segment
	start := 0
	for k := 0; k < len(ls); k++ {
		ln := ls[k]
		if ln.depth > maxDepth || ls[k].blank {
			continue
		}
		next := nextNonBlank(ls, k+1)
		cut := k+1 < len(ls) && ls[k+1].blank
		if ln.lastCode == '}' || ln.lastCode == ';' {
			cut = true
			if next >= 0 && (continues(data, ls[next]) || ls[next].hasCode && data[ls[next].firstCode] == '}') {
				cut = false
			}
		}
		if (lang == LangC || lang == LangCPP) && ln.hasCode && data[ln.firstCode] == '#' && !ln.continuation &&
			(next < 0 || !ls[next].hasCode || data[ls[next].firstCode] != '#') {
			cut = true
		}
		if !cut {
			continue
		}
		// Take the blank lines that follow, then cut.
		end := k + 1
		for end < len(ls) && ls[end].blank {
			end++
		}
		if end >= len(ls) {
			break
		}
		segs = append(segs, codeSegment(data, ls, start, ls[end].start))
		start = ls[end].start
		k = end - 1
	}
	if start < len(data) || len(segs) == 0 {
		segs = append(segs, codeSegment(data, ls, start, len(data)))
	}
	return segs
}

func nextNonBlank(ls []line, k int) int {
	for ; k < len(ls); k++ {
		if !ls[k].blank {
			return k
		}
	}
	return -1
}

// continues reports whether a line goes on with the unit before it.
func continues(data []byte, ln line) bool {
	if !ln.hasCode {
		return false
	}
	rest := data[ln.firstCode:ln.end]
	for _, w := range []string{"else", "catch", "finally", "while", "except", "elif"} {
		if bytes.HasPrefix(rest, []byte(w)) && (len(rest) == len(w) || !isWord(rest[len(w)])) {
			return true
		}
	}
	return len(rest) > 0 && strings.IndexByte(".,)]?:", rest[0]) >= 0
}

// codeSegment labels [start, end): "comment" if it holds no code, else
// "preprocessor", "block" (it has braces) or "statement", with its first
// line number.
func codeSegment(data []byte, ls []line, start, end int) Segment {
	label, first, brace := "comment", -1, false
	for _, ln := range ls {
		if ln.start < start || ln.start >= end || !ln.hasCode {
			continue
		}
		if first < 0 {
			first = ln.firstCode
		}
		brace = brace || ln.brace || ln.depth != ln.startDepth
	}
	if first >= 0 {
		label = "statement"
		switch {
		case data[first] == '#':
			label = "preprocessor"
		case brace:
			label = "block"
		}
	}
	return Segment{Label: label, Start: start, End: end,
		Meta: map[string]any{"line": bytes.Count(data[:start], []byte("\n")) + 1}}
}

// splitPython cuts Python source before each top-level (indent 0, outside
// brackets and strings) statement that starts a def, class or decorator,
// follows an indented block, or follows a blank line; comment lines right
// above the cut move with the statement after it, blank lines stay with the
// unit before.
func splitPython(data []byte) []Segment {
	ls := lines(data, LangPython)
	var segs []Segment
	start := 0
	unitHasCode, blockOpen, prevBlank, prevDecorator := false, false, false, false
	for k, ln := range ls {
		top := !ln.startInside && ln.startDepth == 0 && ln.indent == 0 && ln.hasCode &&
			(k == 0 || !ls[k-1].continuation)
		if top {
			rest := data[ln.firstCode:ln.end]
			isDef := hasWord(rest, "def") || hasWord(rest, "async") || hasWord(rest, "class") || rest[0] == '@'
			cont := continues(data, ln)
			if unitHasCode && !cont && (prevBlank || blockOpen || isDef && !prevDecorator) {
				cut := ln.start
				// Pull up the comment lines directly above.
				for j := k - 1; j >= 0 && !ls[j].hasCode && !ls[j].blank && !ls[j].startInside && ls[j].start > start; j-- {
					cut = ls[j].start
				}
				if cut > start {
					segs = append(segs, pySegment(data, ls, start, cut))
					start = cut
				}
				blockOpen = false
			}
			unitHasCode = true
			prevDecorator = rest[0] == '@'
		} else if ln.hasCode && ln.indent > 0 && unitHasCode {
			blockOpen = true
		}
		if !ln.blank {
			prevBlank = false
			if !ln.hasCode && !ln.startInside && ln.indent == 0 && prevBlankRun(ls, k) && unitHasCode {
				// A comment block after a blank line starts a unit.
				segs = append(segs, pySegment(data, ls, start, ln.start))
				start = ln.start
				unitHasCode, blockOpen = false, false
			}
		} else {
			prevBlank = true
		}
	}
	if start < len(data) || len(segs) == 0 {
		segs = append(segs, pySegment(data, ls, start, len(data)))
	}
	return segs
}

func prevBlankRun(ls []line, k int) bool { return k > 0 && ls[k-1].blank }

func hasWord(b []byte, w string) bool {
	return bytes.HasPrefix(b, []byte(w)) && (len(b) == len(w) || !isWord(b[len(w)]))
}

func pySegment(data []byte, ls []line, start, end int) Segment {
	label := "comment"
	for _, ln := range ls {
		if ln.start < start || ln.start >= end || !ln.hasCode {
			continue
		}
		rest := data[ln.firstCode:ln.end]
		if rest[0] == '@' {
			label = "def" // a decorator; the class or def below decides
			continue
		}
		switch {
		case hasWord(rest, "def") || hasWord(rest, "async"):
			label = "def"
		case hasWord(rest, "class"):
			label = "class"
		case hasWord(rest, "import") || hasWord(rest, "from"):
			label = "import"
		default:
			label = "statement"
		}
		break
	}
	return Segment{Label: label, Start: start, End: end,
		Meta: map[string]any{"line": bytes.Count(data[:start], []byte("\n")) + 1}}
}
