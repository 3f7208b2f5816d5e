// Package hubtest is an in-process stand-in for the Hugging Face Hub's HTTP
// API, for tests: revision lookup, paginated tree listings, and resolve
// downloads that redirect LFS files to a second "CDN" server, both honouring
// Range. It records every request and can inject faults: a transfer cut
// after N bytes, corrupt bytes, error statuses, a required token.
package hubtest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one request a server of the stand-in received.
type Request struct {
	Server string // "hub" or "cdn"
	Path   string // unescaped URL path
	Query  string
	Range  string // the Range header
	Auth   bool   // an Authorization header was sent
	Status int    // the status answered (0 if the transfer was cut)
}

type file struct {
	data   []byte
	lfs    bool
	sha256 string
	gitOID string // git blob id of data, or of the LFS pointer
}

type repo struct {
	branches map[string]string          // branch → commit
	commits  map[string]map[string]file // commit → path → file
}

// Hub is the stand-in. Point HF_ENDPOINT at URL.
type Hub struct {
	URL string

	// Token, if set, is required (as "Bearer Token") by the hub server.
	Token string
	// PageSize is the number of tree entries per page (default 2, so
	// listings are paginated).
	PageSize int

	hub, cdn *httptest.Server

	mu      sync.Mutex
	repos   map[string]*repo // "datasets/org/name", "models/org/name"
	reqs    []Request
	cuts    map[string]int64 // repo path → cut the next transfer after n bytes
	corrupt map[string]bool  // repo path → serve a flipped byte
	fail    map[string][]int // repo path → statuses to answer first
	seq     int
}

// New starts the stand-in on 127.0.0.1; it stops when the test ends.
func New(t testing.TB) *Hub {
	h := &Hub{PageSize: 2, repos: map[string]*repo{}, cuts: map[string]int64{}, corrupt: map[string]bool{}, fail: map[string][]int{}}
	h.hub = httptest.NewServer(http.HandlerFunc(h.serveHub))
	h.cdn = httptest.NewServer(http.HandlerFunc(h.serveCDN))
	h.URL = h.hub.URL
	t.Cleanup(func() { h.hub.Close(); h.cdn.Close() })
	return h
}

func key(typ, id string) string { return typ + "s/" + id }

// Put commits files (path → contents) to a branch of a repository of type
// "dataset" or "model" (created if new) and returns the commit id. The new
// commit holds exactly these files. Parquet, safetensors, compressed and
// large files are stored as LFS files, the rest as plain git blobs.
func (h *Hub) Put(typ, id, branch string, files map[string][]byte) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[key(typ, id)]
	if r == nil {
		r = &repo{branches: map[string]string{}, commits: map[string]map[string]file{}}
		h.repos[key(typ, id)] = r
	}
	h.seq++
	c := sha1.New()
	fmt.Fprintf(c, "commit %d %s %s\n", h.seq, key(typ, id), branch)
	snap := map[string]file{}
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		data := files[p]
		f := file{data: data}
		sum := sha256.Sum256(data)
		f.sha256 = hex.EncodeToString(sum[:])
		ext := strings.ToLower(filepath.Ext(p))
		f.lfs = ext == ".parquet" || ext == ".safetensors" || ext == ".zst" || ext == ".gz" || len(data) > 1<<20
		if f.lfs {
			f.gitOID = gitOID([]byte(fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", f.sha256, len(data))))
		} else {
			f.gitOID = gitOID(data)
		}
		snap[p] = f
		fmt.Fprintf(c, "%s %s\n", p, f.gitOID)
	}
	commit := hex.EncodeToString(c.Sum(nil))
	r.commits[commit] = snap
	r.branches[branch] = commit
	return commit
}

// PutDir commits every regular file below dir (paths relative to it).
func (h *Hub) PutDir(t testing.TB, typ, id, branch, dir string) string {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h.Put(typ, id, branch, files)
}

func gitOID(b []byte) string {
	s := sha1.New()
	fmt.Fprintf(s, "blob %d\x00", len(b))
	s.Write(b)
	return hex.EncodeToString(s.Sum(nil))
}

// CutAfter makes the next transfer of the file at repo path p (from either
// server) stop after n body bytes, the connection dropped.
func (h *Hub) CutAfter(p string, n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cuts[p] = n
}

// Corrupt makes every transfer of the file at p carry one wrong byte (same size).
func (h *Hub) Corrupt(p string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.corrupt[p] = true
}

// Fail makes the next transfers of the file at p answer these statuses, in order.
func (h *Hub) Fail(p string, statuses ...int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail[p] = append(h.fail[p], statuses...)
}

// Requests returns the requests received so far.
func (h *Hub) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.reqs...)
}

// Count returns how many requests so far satisfy f.
func (h *Hub) Count(f func(Request) bool) int {
	n := 0
	for _, r := range h.Requests() {
		if f(r) {
			n++
		}
	}
	return n
}

// Downloads counts the transfers of a file's bytes (resolve answered
// directly, or the CDN) whose path ends with suffix.
func (h *Hub) Downloads(suffix string) int {
	return h.Count(func(r Request) bool {
		return (r.Server == "cdn" || strings.Contains(r.Path, "/resolve/") && r.Status != http.StatusFound) && strings.HasSuffix(r.Path, suffix)
	})
}

func (h *Hub) record(r Request) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reqs = append(h.reqs, r)
	return len(h.reqs) - 1
}

func (h *Hub) setStatus(i, status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reqs[i].Status = status
}

// segments splits an escaped URL path into unescaped segments, so that a
// revision written with %2F stays one segment.
func segments(r *http.Request) []string {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, p := range parts {
		if s, err := url.PathUnescape(p); err == nil {
			parts[i] = s
		}
	}
	return parts
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (h *Hub) serveHub(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	i := h.record(Request{Server: "hub", Path: r.URL.Path, Query: r.URL.RawQuery, Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization") != ""})
	defer func() { h.setStatus(i, sw.status) }()
	if h.Token != "" && r.Header.Get("Authorization") != "Bearer "+h.Token {
		hubError(sw, http.StatusUnauthorized, "RepoNotFound", "Repository not found or invalid credentials")
		return
	}
	seg := segments(r)
	if len(seg) >= 6 && seg[0] == "api" {
		typ := strings.TrimSuffix(seg[1], "s")
		id := seg[2] + "/" + seg[3]
		switch seg[4] {
		case "revision":
			h.revision(sw, typ, id, seg[5])
			return
		case "tree":
			h.tree(sw, r, typ, id, seg[5], strings.Join(seg[6:], "/"))
			return
		}
	}
	typ := "model"
	if len(seg) > 0 && (seg[0] == "datasets" || seg[0] == "spaces") {
		typ, seg = strings.TrimSuffix(seg[0], "s"), seg[1:]
	}
	if len(seg) >= 5 && seg[2] == "resolve" {
		h.resolve(sw, r, typ, seg[0]+"/"+seg[1], seg[3], strings.Join(seg[4:], "/"))
		return
	}
	hubError(sw, http.StatusNotFound, "", "no such endpoint")
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// snapshot finds a repository's files at a branch or commit.
func (h *Hub) snapshot(typ, id, rev string) (string, map[string]file, int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[key(typ, id)]
	if r == nil {
		return "", nil, http.StatusNotFound, "RepoNotFound"
	}
	commit := rev
	if c, ok := r.branches[rev]; ok {
		commit = c
	}
	snap, ok := r.commits[commit]
	if !ok {
		return "", nil, http.StatusNotFound, "RevisionNotFound"
	}
	return commit, snap, 0, ""
}

func (h *Hub) revision(w http.ResponseWriter, typ, id, rev string) {
	commit, _, status, code := h.snapshot(typ, id, rev)
	if status != 0 {
		hubError(w, status, code, fmt.Sprintf("%s %s@%s not found", typ, id, rev))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "sha": commit, "lastModified": time.Unix(0, 0).UTC()})
}

type entry struct {
	Type string `json:"type"`
	OID  string `json:"oid"`
	Size int64  `json:"size"`
	Path string `json:"path"`
	LFS  *struct {
		OID         string `json:"oid"`
		Size        int64  `json:"size"`
		PointerSize int    `json:"pointerSize"`
	} `json:"lfs,omitempty"`
}

func (h *Hub) tree(w http.ResponseWriter, r *http.Request, typ, id, rev, dir string) {
	_, snap, status, code := h.snapshot(typ, id, rev)
	if status != 0 {
		hubError(w, status, code, fmt.Sprintf("%s %s@%s not found", typ, id, rev))
		return
	}
	recursive := r.URL.Query().Get("recursive") == "true" || r.URL.Query().Get("recursive") == "True"
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	var out []entry
	dirs := map[string]bool{}
	for p, f := range snap {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		parts := strings.Split(rest, "/")
		for i := 1; i < len(parts); i++ {
			if !recursive && i > 1 {
				break
			}
			dirs[prefix+strings.Join(parts[:i], "/")] = true
		}
		if !recursive && len(parts) > 1 {
			continue
		}
		e := entry{Type: "file", OID: f.gitOID, Size: int64(len(f.data)), Path: p}
		if f.lfs {
			e.LFS = &struct {
				OID         string `json:"oid"`
				Size        int64  `json:"size"`
				PointerSize int    `json:"pointerSize"`
			}{f.sha256, int64(len(f.data)), 134}
		}
		out = append(out, e)
	}
	if dir != "" && len(out) == 0 && len(dirs) == 0 {
		hubError(w, http.StatusNotFound, "EntryNotFound", fmt.Sprintf("%s does not exist", dir))
		return
	}
	for d := range dirs {
		out = append(out, entry{Type: "directory", OID: gitOID([]byte(d)), Path: d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	end := len(out)
	if h.PageSize > 0 && start+h.PageSize < len(out) {
		end = start + h.PageSize
		q := r.URL.Query()
		q.Set("cursor", strconv.Itoa(end))
		next := h.URL + r.URL.EscapedPath() + "?" + q.Encode()
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", next))
	}
	if start > len(out) {
		start = len(out)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out[start:end])
}

func (h *Hub) resolve(w http.ResponseWriter, r *http.Request, typ, id, rev, p string) {
	commit, snap, status, code := h.snapshot(typ, id, rev)
	if status != 0 {
		hubError(w, status, code, fmt.Sprintf("%s %s@%s not found", typ, id, rev))
		return
	}
	f, ok := snap[p]
	if !ok {
		hubError(w, http.StatusNotFound, "EntryNotFound", fmt.Sprintf("%s not found", p))
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if f.lfs {
		w.Header().Set("ETag", `"`+f.gitOID+`"`)
		w.Header().Set("X-Linked-Etag", `"`+f.sha256+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.data)))
		w.Header().Set("Location", h.cdn.URL+"/repos/"+key(typ, id)+"/"+p+"?blob="+f.sha256+"&expires=1")
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+f.gitOID+`"`)
	h.serveBytes(w, r, p, f.data)
}

func (h *Hub) serveCDN(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	i := h.record(Request{Server: "cdn", Path: r.URL.Path, Query: r.URL.RawQuery, Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization") != ""})
	defer func() { h.setStatus(i, sw.status) }()
	blob := r.URL.Query().Get("blob")
	seg := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/repos/"), "/", 4) // types, org, name, path
	if len(seg) < 4 {
		http.NotFound(sw, r)
		return
	}
	h.mu.Lock()
	var data []byte
	found := false
	if rp := h.repos[seg[0]+"/"+seg[1]+"/"+seg[2]]; rp != nil {
		for _, snap := range rp.commits {
			if f, ok := snap[seg[3]]; ok && f.sha256 == blob {
				data, found = f.data, true
			}
		}
	}
	h.mu.Unlock()
	if !found {
		http.NotFound(sw, r)
		return
	}
	h.serveBytes(sw, r, seg[3], data)
}

// serveBytes answers a (possibly ranged) GET of a file's bytes, applying
// the faults set for its path.
func (h *Hub) serveBytes(w http.ResponseWriter, r *http.Request, p string, data []byte) {
	h.mu.Lock()
	if st := h.fail[p]; len(st) > 0 {
		h.fail[p] = st[1:]
		h.mu.Unlock()
		w.Header().Set("Retry-After", "0")
		http.Error(w, "injected failure", st[0])
		return
	}
	corrupt := h.corrupt[p]
	cut, hasCut := h.cuts[p]
	delete(h.cuts, p)
	h.mu.Unlock()
	if corrupt && len(data) > 0 {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 0xff
	}
	if hasCut {
		w = &cutWriter{ResponseWriter: w, left: cut}
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// cutWriter passes left body bytes, flushes them, then drops the connection.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) <= c.left {
		c.left -= int64(len(p))
		return c.ResponseWriter.Write(p)
	}
	c.ResponseWriter.Write(p[:c.left])
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	panic(http.ErrAbortHandler)
}
