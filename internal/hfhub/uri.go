package hfhub

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// Repository types, as the Hub spells them in API paths (plural there).
const (
	Model   = "model"
	Dataset = "dataset"
	Space   = "space"
)

// Repo names one repository on the Hub.
type Repo struct {
	Type string // Model, Dataset or Space
	ID   string // "ORG/NAME"
}

func (r Repo) String() string {
	if r.Type == Model {
		return r.ID
	}
	return r.Type + "s/" + r.ID
}

// folder is the repository's directory in the cache, named like
// huggingface_hub's: "datasets--ORG--NAME".
func (r Repo) folder() string {
	return r.Type + "s--" + strings.ReplaceAll(r.ID, "/", "--")
}

// URI is a parsed hf:// path: hf://[datasets/|spaces/]ORG/NAME[@REV][/PATH].
// As in huggingface_hub's HfFileSystem, a model repository has no type
// prefix, and a revision containing '/' is written with %2F
// (@refs%2Fconvert%2Fparquet); refs/convert/… and refs/pr/N may also be
// written unescaped.
type URI struct {
	Repo Repo
	Rev  string // branch, tag or commit; "" means the default branch
	Path string // path inside the repository (a file, directory or glob); no leading '/'
}

// Scheme is the URI scheme served by this package.
const Scheme = "hf"

// IsURI reports whether s is an hf:// path.
func IsURI(s string) bool { return strings.HasPrefix(s, Scheme+"://") }

var specialRev = regexp.MustCompile(`^refs/(convert/[^/]+|pr/[0-9]+)`)

// ParseURI parses an hf:// path. Glob characters are allowed in Path only.
func ParseURI(s string) (URI, error) {
	rest, ok := strings.CutPrefix(s, Scheme+"://")
	if !ok {
		return URI{}, fmt.Errorf("%q is not an hf:// path", s)
	}
	var u URI
	u.Repo.Type = Model
	switch {
	case strings.HasPrefix(rest, "datasets/"):
		u.Repo.Type, rest = Dataset, strings.TrimPrefix(rest, "datasets/")
	case strings.HasPrefix(rest, "spaces/"):
		u.Repo.Type, rest = Space, strings.TrimPrefix(rest, "spaces/")
	}
	bad := func(why string) (URI, error) {
		return URI{}, fmt.Errorf("bad hf:// path %q: %s; want hf://[datasets/]ORG/NAME[@REVISION][/PATH]", s, why)
	}
	org, rest, _ := strings.Cut(rest, "/")
	name, rest, _ := strings.Cut(rest, "/")
	if at := strings.IndexByte(name, '@'); at >= 0 {
		rev := name[at+1:]
		name = name[:at]
		if rev == "refs" && specialRev.MatchString("refs/"+rest) {
			m := specialRev.FindString("refs/" + rest)
			rev = m
			rest = strings.TrimPrefix(strings.TrimPrefix("refs/"+rest, m), "/")
		} else {
			dec, err := url.PathUnescape(rev)
			if err != nil {
				return bad("revision: " + err.Error())
			}
			rev = dec
		}
		if rev == "" {
			return bad("empty revision after @")
		}
		if err := checkRev(rev); err != nil {
			return bad(err.Error())
		}
		u.Rev = rev
	}
	if org == "" || name == "" {
		return bad("no repository ORG/NAME")
	}
	for _, part := range []string{org, name} {
		if strings.ContainsAny(part, `*?[\`) || part == "." || part == ".." {
			return bad(fmt.Sprintf("repository name part %q", part))
		}
	}
	u.Repo.ID = org + "/" + name
	if err := checkPath(rest, true); err != nil {
		return bad(err.Error())
	}
	u.Path = rest
	return u, nil
}

// String formats u back into an hf:// path.
func (u URI) String() string {
	s := Scheme + "://" + u.Repo.String()
	if u.Rev != "" {
		s += "@" + url.PathEscape(u.Rev)
	}
	if u.Path != "" {
		s += "/" + u.Path
	}
	return s
}

// checkRev refuses revisions that could not name a ref file safely.
func checkRev(rev string) error {
	if strings.ContainsAny(rev, `*?[\`) || strings.IndexFunc(rev, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("revision %q has glob or control characters", rev)
	}
	for _, seg := range strings.Split(rev, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("revision %q has an empty, . or .. segment", rev)
		}
	}
	return nil
}

// checkPath refuses paths that could leave a snapshot directory: absolute
// ones, empty, . or .. segments, backslashes and control characters.
func checkPath(p string, allowEmpty bool) error {
	if p == "" {
		if allowEmpty {
			return nil
		}
		return fmt.Errorf("empty path")
	}
	if strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("path %q has control characters", p)
	}
	if strings.Contains(p, `\`) && !hasMeta(p) {
		return fmt.Errorf("path %q has a backslash", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("path %q has an empty, . or .. segment", p)
		}
	}
	return nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// globDir splits a glob into the directory to list (the part before the
// first meta character, up to its last '/'; "" for the repository root) and
// whether the listing must be recursive (the rest crosses a '/' or uses **).
// A path without meta characters lists its parent directory.
func globDir(pattern string) (dir string, recursive bool) {
	i := strings.IndexAny(pattern, `*?[\`)
	if i < 0 {
		d := path.Dir(pattern)
		if d == "." {
			d = ""
		}
		return d, false
	}
	j := strings.LastIndexByte(pattern[:i], '/')
	if j >= 0 {
		dir = pattern[:j]
	}
	rest := pattern[j+1:]
	return dir, strings.Contains(rest, "/") || strings.Contains(rest, "**")
}

// globRegexp compiles a glob with the meaning gs:// globs have in Beam:
// '/' is an ordinary character that only * and ? do not cross; * matches
// any run of other characters, ? one; ** matches anything, and **/ zero or
// more whole directories; [abc], [a-z] and [!abc] are classes; \x is x.
func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			if i+1 < len(rs) && rs[i+1] == '*' {
				if i+2 < len(rs) && rs[i+2] == '/' {
					b.WriteString("(?:.*/)?")
					i += 2
				} else {
					b.WriteString(".*")
					i++
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := i + 1
			if j < len(rs) && rs[j] == '!' {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("glob %q: unclosed [", pattern)
			}
			class := rs[i+1 : j]
			b.WriteByte('[')
			if len(class) > 0 && class[0] == '!' {
				b.WriteByte('^')
				class = class[1:]
			}
			for _, r := range class {
				if r == '\\' || r == '[' {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
			b.WriteByte(']')
			i = j
		case '\\':
			if i+1 < len(rs) {
				i++
			}
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
