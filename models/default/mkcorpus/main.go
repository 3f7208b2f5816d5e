// Command mkcorpus builds the corpus of models/default from a Go
// distribution's own source tree and documentation (BSD licence): English
// prose and Go code, split into a training set and two held-out sets that
// are never trained on. See models/default/README.md for the selection.
//
// Usage: go run ./models/default/mkcorpus [-goroot /usr/local/go] -out DIR
//
// It writes four zstd-compressed JSONL files ({"path": …, "text": …} per
// line, paths relative to GOROOT, sorted), so the output depends only on the
// Go tree:
//
//	train.jsonl.zst          Go code and prose the model trains on
//	heldout-prose.jsonl.zst  English prose, never trained on
//	heldout-code.jsonl.zst   Go packages, never trained on
//	calib-prose.jsonl.zst    the prose documents of train.jsonl.zst
//	                         (the sample `bltpipe calibrate` uses)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// heldOutCode are package trees whose Go files form the held-out code set.
var heldOutCode = []string{"src/archive/tar", "src/go/printer", "src/net/mail", "src/text/template"}

// heldOutProse are the documents of the held-out prose set.
var heldOutProse = []string{"doc/go_mem.html", "doc/godebug.md", "src/runtime/HACKING.md", "src/cmd/compile/abi-internal.md"}

// maxGoFile skips larger Go files: generated tables and rewrite rules.
const maxGoFile = 256 << 10

type doc struct {
	Path string `json:"path"`
	Text string `json:"text"`
}

func main() {
	goroot := flag.String("goroot", "/usr/local/go", "Go distribution to read")
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "mkcorpus: -out is required")
		os.Exit(2)
	}
	sets, err := collect(*goroot)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkcorpus:", err)
		os.Exit(1)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "mkcorpus:", err)
		os.Exit(1)
	}
	for _, name := range []string{"train", "heldout-prose", "heldout-code", "calib-prose"} {
		n, err := write(filepath.Join(*out, name+".jsonl.zst"), sets[name])
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkcorpus:", err)
			os.Exit(1)
		}
		fmt.Printf("%-14s %6d documents %10d bytes\n", name, len(sets[name]), n)
	}
}

// collect walks goroot and sorts every file into its set.
func collect(goroot string) (map[string][]doc, error) {
	sets := map[string][]doc{}
	err := filepath.WalkDir(goroot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			switch {
			case rel == ".":
				return nil
			case d.Name() == "testdata" || d.Name() == "vendor":
				return filepath.SkipDir
			case rel != "src" && rel != "doc" && !strings.HasPrefix(rel, "src/") && !strings.HasPrefix(rel, "doc/"):
				return filepath.SkipDir // bin, pkg, lib, misc, test, api
			}
			return nil
		}
		text, kind, ok, err := load(path, rel)
		if err != nil || !ok {
			return err
		}
		dc := doc{Path: rel, Text: text}
		switch {
		case slices.Contains(heldOutProse, rel):
			sets["heldout-prose"] = append(sets["heldout-prose"], dc)
		case kind == "go" && underAny(rel, heldOutCode):
			sets["heldout-code"] = append(sets["heldout-code"], dc)
		default:
			sets["train"] = append(sets["train"], dc)
			if kind == "prose" {
				sets["calib-prose"] = append(sets["calib-prose"], dc)
			}
		}
		return nil
	})
	for k := range sets {
		slices.SortFunc(sets[k], func(a, b doc) int { return strings.Compare(a.Path, b.Path) })
	}
	return sets, err
}

// load reads a file that belongs in the corpus: Go source ("go"), or
// Markdown and HTML documentation ("prose", HTML reduced to its text).
func load(path, rel string) (text, kind string, ok bool, err error) {
	ext := filepath.Ext(path)
	switch {
	case ext == ".go":
		kind = "go"
	case ext == ".md" || (ext == ".html" && strings.HasPrefix(rel, "doc/")):
		kind = "prose"
	default:
		return "", "", false, nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", "", false, err
	}
	if kind == "go" && info.Size() > maxGoFile {
		return "", "", false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", false, err
	}
	text = string(b)
	if ext == ".html" {
		text = htmlText(text)
	}
	return text, kind, true, nil
}

var (
	scriptRe = regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)>`)
	commentR = regexp.MustCompile(`(?s)<!--.*?-->`)
	tagRe    = regexp.MustCompile(`(?s)<[^>]*>`)
	blankRe  = regexp.MustCompile(`\n[ \t]*(\n[ \t]*)+`)
)

// htmlText drops scripts, comments and tags, unescapes entities and
// collapses runs of blank lines: the page's text as a reader sees it.
func htmlText(s string) string {
	s = scriptRe.ReplaceAllString(s, "")
	s = commentR.ReplaceAllString(s, "")
	s = tagRe.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	s = blankRe.ReplaceAllString(s, "\n\n")
	return strings.TrimSpace(s) + "\n"
}

func underAny(rel string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

// write stores docs as zstd-compressed JSONL and returns the text bytes.
func write(path string, docs []doc) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	zw, err := zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Close()
		return 0, err
	}
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	n := 0
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			zw.Close()
			f.Close()
			return 0, err
		}
		n += len(d.Text)
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return 0, err
	}
	return n, f.Close()
}
