package fsio

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Refused is an input path that matched a pattern but must not be read.
type Refused struct {
	Path   string
	Class  string // RefusedUnsafeName, RefusedSymlink or RefusedSpecial
	Reason string
}

// Classes of refused inputs (the same words as the rejects table's
// error_class).
const (
	RefusedUnsafeName = "unsafe_path"  // control characters or invalid UTF-8 in the name
	RefusedSymlink    = "symlink"      // a link whose target lies outside the input root
	RefusedSpecial    = "special_file" // device, FIFO, socket
)

// ExpandChecked is Expand that also returns the matches it refuses, so the
// caller can report them: names with control characters or invalid UTF-8,
// symbolic links whose target lies outside the pattern's root (the
// directory given, or a glob's directory part), and anything that is not a
// regular file (devices, FIFOs, sockets; directories matched by a glob are
// skipped silently). A link whose target is a regular file inside the root
// is read through. Remote paths (gs://) have no links or devices; only
// their names are checked.
func ExpandChecked(ctx context.Context, pattern string) (files []string, refused []Refused, err error) {
	keep := func(p string, ok bool, r *Refused) {
		if ok {
			files = append(files, p)
		} else if r != nil {
			refused = append(refused, *r)
		}
	}
	if Scheme(pattern) != "" {
		matched, err := list(ctx, pattern)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range matched {
			if unsafeName(p) {
				keep(p, false, &Refused{Path: p, Class: RefusedUnsafeName, Reason: "control characters or invalid UTF-8 in the name"})
			} else {
				keep(p, true, nil)
			}
		}
		sort.Strings(files)
		return files, refused, nil
	}
	root := globRoot(pattern)
	if st, statErr := os.Stat(pattern); statErr == nil && st.IsDir() {
		root = pattern
		err := filepath.WalkDir(pattern, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != pattern && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() {
				ok, r := checkLocal(root, p)
				keep(p, ok, r)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("walk %s: %w", pattern, err)
		}
	} else {
		matched, err := list(ctx, pattern)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range matched {
			ok, r := checkLocal(root, p)
			keep(p, ok, r)
		}
	}
	sort.Strings(files)
	return files, refused, nil
}

// list returns the matches of a glob from the filesystem serving it.
func list(ctx context.Context, pattern string) ([]string, error) {
	f, err := FS(ctx, pattern)
	if err != nil {
		return nil, err
	}
	matched, err := f.List(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", pattern, err)
	}
	return matched, nil
}

// checkLocal decides about one local match: (true, nil) to read it,
// (false, refusal) to report it, (false, nil) to skip it (a directory).
func checkLocal(root, p string) (bool, *Refused) {
	if unsafeName(p) {
		return false, &Refused{Path: p, Class: RefusedUnsafeName, Reason: "control characters or invalid UTF-8 in the name"}
	}
	lst, err := os.Lstat(p)
	if err != nil {
		return false, &Refused{Path: p, Class: RefusedSpecial, Reason: err.Error()}
	}
	if lst.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return false, &Refused{Path: p, Class: RefusedSymlink, Reason: "dangling or looping symbolic link: " + err.Error()}
		}
		if !inside(root, target) {
			return false, &Refused{Path: p, Class: RefusedSymlink, Reason: fmt.Sprintf("symbolic link to %s, outside the input root %s", target, root)}
		}
		st, err := os.Stat(target)
		if err != nil {
			return false, &Refused{Path: p, Class: RefusedSymlink, Reason: err.Error()}
		}
		if st.IsDir() {
			return false, nil
		}
		if !st.Mode().IsRegular() {
			return false, &Refused{Path: p, Class: RefusedSpecial, Reason: "symbolic link to a " + kindOf(st.Mode())}
		}
		return true, nil
	}
	if lst.IsDir() {
		return false, nil
	}
	if !lst.Mode().IsRegular() {
		return false, &Refused{Path: p, Class: RefusedSpecial, Reason: "not a regular file: " + kindOf(lst.Mode())}
	}
	return true, nil
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeIrregular != 0:
		return "irregular file"
	}
	return m.Type().String()
}

// globRoot is the directory part of a glob before its first meta character
// ("data/*/x.jsonl" → "data"); for a plain file, its directory.
func globRoot(pattern string) string {
	i := strings.IndexAny(pattern, "*?[\\")
	if i < 0 {
		return filepath.Dir(pattern)
	}
	return filepath.Dir(pattern[:i] + "x")
}

// inside reports whether target (already free of links) lies in root.
func inside(root, target string) bool {
	r, err := filepath.EvalSymlinks(root)
	if err != nil {
		return false
	}
	r, err = filepath.Abs(r)
	if err != nil {
		return false
	}
	t, err := filepath.Abs(target)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(r, t)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func unsafeName(p string) bool {
	if !utf8.ValidString(p) {
		return true
	}
	return strings.IndexFunc(p, unicode.IsControl) >= 0
}
